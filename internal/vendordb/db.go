package vendordb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	// The drivers: pgx's database/sql adapter, and SQLite in pure Go.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect is the database engine.
type Dialect string

// The engines supported.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open, migrated database.
type DB struct {
	db      *sql.DB
	dialect Dialect
	// where names the database in errors and logs, without a password.
	where string
}

// Options tune Open.
type Options struct {
	// UpTo stops the migrations at this version; zero means the latest.
	// Tests use it to build a database of an older version.
	UpTo int
}

// Open opens the database dsn names, and brings its schema to the latest
// version (or opts.UpTo):
//
//	postgres://user:password@host:5432/db?sslmode=verify-full   PostgreSQL
//	sqlite:/var/lib/rolecall-vendor/vendor.db                    SQLite
//	/var/lib/rolecall-vendor/vendor.db                           SQLite
//
// A SQLite file is created with mode 0600 when it does not exist.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	d, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := d.db.PingContext(ctx); err != nil {
		_ = d.db.Close()
		return nil, fmt.Errorf("database %s: %w", d.where, err)
	}
	if err := d.migrate(ctx, opts.UpTo); err != nil {
		_ = d.db.Close()
		return nil, fmt.Errorf("database %s: %w", d.where, err)
	}
	return d, nil
}

func open(dsn string) (*DB, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return nil, errors.New("no database given: pass --database (a SQLite file path, or postgres://...)")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("database URL: %w (want postgres://user:password@host:port/db)", err)
		}
		where := u.Redacted()
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", where, err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return &DB{db: db, dialect: Postgres, where: where}, nil
	case strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("database %q: only postgres:// URLs and SQLite file paths are supported", redact(dsn))
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database %q: give a SQLite file path without query options", dsn)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// Create it private: it holds sealed secrets and customers' names.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	_ = f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// One writer at a time is SQLite's way; a few connections let readers
	// (the page, the API) run beside it.
	db.SetMaxOpenConns(8)
	return &DB{db: db, dialect: SQLite, where: path}, nil
}

// redact hides a password in a URL-like string.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparseable)"
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Dialect returns the engine.
func (d *DB) Dialect() Dialect { return d.dialect }

// Where names the database (a path, or a URL without its password).
func (d *DB) Where() string { return d.where }

// SQL returns the underlying handle, for tests and backups.
func (d *DB) SQL() *sql.DB { return d.db }

// q rewrites a query written with ? placeholders for the dialect
// (PostgreSQL numbers them). No query here has a ? inside a literal.
func (d *DB) q(query string) string {
	if d.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// forUpdate locks the rows a SELECT reads, on PostgreSQL; SQLite's
// IMMEDIATE transactions already hold the only write lock.
func (d *DB) forUpdate() string {
	if d.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// inTx runs fn in a transaction and commits it, or rolls it back when fn
// (or the commit) fails.
func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// micros is t in the database's time unit.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// fromMicros reads a time column.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullTime reads a nullable time column.
func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// Backup writes a consistent copy of a SQLite database to path, which must
// not exist (VACUUM INTO: readers and writers go on meanwhile). A
// PostgreSQL database is backed up with pg_dump, not here.
func (d *DB) Backup(ctx context.Context, path string) error {
	if d.dialect != SQLite {
		return errors.New("back up PostgreSQL with pg_dump (or your provider's snapshots); backup copies SQLite files only")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup %s exists: give a new file name", path)
	}
	if _, err := d.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}
