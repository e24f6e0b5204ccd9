package vendordb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Customer is one customer as stored: its credentials sealed.
type Customer struct {
	ID        string
	Name      string
	CreatedAt time.Time
	RevokedAt *time.Time
	// Region and Release are what its Launch Stack link opens.
	Region, Release string
	// ExternalIDSealed is the external ID its roles trust, sealed;
	// ExternalIDHash its SHA-256 (hex), unique.
	ExternalIDSealed, ExternalIDHash string
	// PendingExternalIDSealed is set during a rotation: the new value,
	// until a callback confirms the stack uses it.
	PendingExternalIDSealed, PendingExternalIDHash string
	RotationStartedAt                              *time.Time
	// SecretSealed is the whsec_ secret, sealed; KeyID its key id
	// (callback.KeyIDOf), by which callbacks name it.
	SecretSealed, KeyID string
	// ManagementAccountID is the account the first verified callback bound
	// the customer to; empty until then.
	ManagementAccountID string
	BoundAt             *time.Time
}

// ErrConflict means a unique value (external ID, key id, customer id) is
// taken.
var ErrConflict = errors.New("already taken")

const customerColumns = `id, name, created_at, revoked_at, region, release, external_id_sealed, external_id_hash,
	pending_external_id_sealed, pending_external_id_hash, rotation_started_at, secret_sealed, key_id,
	management_account_id, bound_at`

type scanner interface{ Scan(...any) error }

func scanCustomer(s scanner) (*Customer, error) {
	var c Customer
	var created int64
	var revoked, rotation, bound sql.NullInt64
	var pendingSealed, pendingHash, management sql.NullString
	if err := s.Scan(&c.ID, &c.Name, &created, &revoked, &c.Region, &c.Release, &c.ExternalIDSealed, &c.ExternalIDHash,
		&pendingSealed, &pendingHash, &rotation, &c.SecretSealed, &c.KeyID, &management, &bound); err != nil {
		return nil, err
	}
	c.CreatedAt, c.RevokedAt, c.RotationStartedAt, c.BoundAt = fromMicros(created), nullTime(revoked), nullTime(rotation), nullTime(bound)
	c.PendingExternalIDSealed, c.PendingExternalIDHash, c.ManagementAccountID = pendingSealed.String, pendingHash.String, management.String
	return &c, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// AddCustomer stores a new customer and appends its customer.added event.
func (d *DB) AddCustomer(ctx context.Context, c *Customer, eventID string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO customers (`+customerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.Name, micros(c.CreatedAt), nullMicros(c.RevokedAt), c.Region, c.Release, c.ExternalIDSealed, c.ExternalIDHash,
			nullString(c.PendingExternalIDSealed), nullString(c.PendingExternalIDHash), nullMicros(c.RotationStartedAt),
			c.SecretSealed, c.KeyID, nullString(c.ManagementAccountID), nullMicros(c.BoundAt))
		if err != nil {
			if d.isUniqueViolation(err) {
				return fmt.Errorf("customer %s: %w", c.ID, ErrConflict)
			}
			return fmt.Errorf("store customer %s: %w", c.ID, err)
		}
		return d.appendEvent(ctx, tx, Event{CustomerID: c.ID, EventID: eventID, Event: EventCustomerAdded, Outcome: "recorded", OccurredAt: c.CreatedAt, ReceivedAt: c.CreatedAt, Entry: []byte(`{}`)})
	})
}

// Customer returns the customer with id.
func (d *DB) Customer(ctx context.Context, id string) (*Customer, error) {
	c, err := scanCustomer(d.db.QueryRowContext(ctx, d.q(`SELECT `+customerColumns+` FROM customers WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("customer %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read customer %s: %w", id, err)
	}
	return c, nil
}

// CustomerByKeyID returns the customer whose secret has key id keyID.
func (d *DB) CustomerByKeyID(ctx context.Context, keyID string) (*Customer, error) {
	c, err := scanCustomer(d.db.QueryRowContext(ctx, d.q(`SELECT `+customerColumns+` FROM customers WHERE key_id = ?`), keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key id %s: %w", keyID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the customer of key id %s: %w", keyID, err)
	}
	return c, nil
}

// AllCustomers returns every customer, by id: what a key rewrap walks.
func (d *DB) AllCustomers(ctx context.Context) ([]*Customer, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	defer rows.Close()
	var out []*Customer
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCustomer changes a customer with fn inside a transaction (the row
// locked), writes its sealed values and rotation back, and appends the
// event fn returns (if any). fn returning an error changes nothing.
func (d *DB) UpdateCustomer(ctx context.Context, id string, fn func(*Customer) (*Event, error)) (*Customer, error) {
	var out *Customer
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		c, err := scanCustomer(tx.QueryRowContext(ctx, d.q(`SELECT `+customerColumns+` FROM customers WHERE id = ?`+d.forUpdate()), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("customer %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read customer %s: %w", id, err)
		}
		ev, err := fn(c)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE customers SET name = ?, revoked_at = ?, external_id_sealed = ?, external_id_hash = ?,
			pending_external_id_sealed = ?, pending_external_id_hash = ?, rotation_started_at = ?, secret_sealed = ? WHERE id = ?`),
			c.Name, nullMicros(c.RevokedAt), c.ExternalIDSealed, c.ExternalIDHash, nullString(c.PendingExternalIDSealed),
			nullString(c.PendingExternalIDHash), nullMicros(c.RotationStartedAt), c.SecretSealed, id); err != nil {
			if d.isUniqueViolation(err) {
				return fmt.Errorf("customer %s: %w", id, ErrConflict)
			}
			return fmt.Errorf("update customer %s: %w", id, err)
		}
		if ev != nil {
			ev.CustomerID = id
			if err := d.appendEvent(ctx, tx, *ev); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, err
}

// isUniqueViolation reports a unique constraint's refusal.
func (d *DB) isUniqueViolation(err error) bool {
	if d.dialect == Postgres {
		var pg *pgconn.PgError
		return errors.As(err, &pg) && pg.Code == "23505"
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed") || strings.Contains(msg, "(2067)") || strings.Contains(msg, "(1555)")
}
