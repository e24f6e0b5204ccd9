package vendordb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned step of the schema.
type Migration struct {
	Version int
	Name    string
	// SQL is the file as written; Statements it, for a dialect.
	SQL string
}

// Migrations returns the schema's steps in order. A file is named
// NNNN_name.sql; {{serial}} stands for the dialect's auto-numbered key.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: label, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: versions must run 1, 2, 3... without gaps", m.Version, m.Name)
		}
	}
	return out, nil
}

// Latest returns the newest schema version this build knows.
func Latest() int {
	ms, err := Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// checksum identifies a migration's text: an applied migration whose file
// changed since is refused, not silently skipped.
func (m Migration) checksum() string {
	h := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(h[:8])
}

// Statements returns m's statements for dialect d.
func (m Migration) Statements(d Dialect) []string {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if d == Postgres {
		serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	var lines []string
	for _, line := range strings.Split(m.SQL, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		lines = append(lines, line)
	}
	var out []string
	for _, s := range strings.Split(strings.Join(lines, "\n"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.ReplaceAll(s, "{{serial}}", serial))
		}
	}
	return out
}

// migrationLock is the advisory lock that keeps two PostgreSQL instances
// starting at once from migrating together.
const migrationLock = 0x726f6c6563616c6c // "rolecall"

// Version returns the schema version the database is at.
func (d *DB) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := d.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies every migration newer than the database, each in its own
// transaction, up to upTo (zero: all).
func (d *DB) migrate(ctx context.Context, upTo int) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	if upTo == 0 {
		upTo = len(ms)
	}
	if upTo < 0 || upTo > len(ms) {
		return fmt.Errorf("schema version %d: this build knows 1 to %d", upTo, len(ms))
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("lock for migrations: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
		}()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	checksum   TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]string{}
	rows, err := conn.QueryContext(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			_ = rows.Close()
			return err
		}
		applied[v] = sum
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("the database is at schema version %d, newer than this rolecall-vendor knows (%d): run the newer rolecall-vendor that migrated it", v, len(ms))
		}
	}
	for _, m := range ms[:upTo] {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.checksum() {
				return fmt.Errorf("migration %04d_%s was applied with other contents (checksum %s, this build's %s): a released migration must never change; add a new one", m.Version, m.Name, sum, m.checksum())
			}
			continue
		}
		if err := d.apply(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, stmt := range m.Statements(d.dialect) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %04d_%s: %w\n%s", m.Version, m.Name, err, stmt)
		}
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"),
		m.Version, m.Name, m.checksum(), micros(time.Now())); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("migration %04d_%s: record it: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	return nil
}

// ErrNotFound means no row matched.
var ErrNotFound = errors.New("not found")
