package vendordb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Event names of the operator's own actions and the vendor's checks, kept
// in the same log as the callbacks' events (callback.Event).
const (
	EventCustomerAdded         = "customer.added"
	EventCustomerRevoked       = "customer.revoked"
	EventRotationStarted       = "external_id.rotation_started"
	EventRotationClosed        = "external_id.rotation_closed"
	EventVendorConfirmed       = "vendor.confirmed"
	EventCustomerBound         = "customer.bound"
	outcomeRecorded            = "recorded"
	eventsLock           int64 = 0x726f6c6576656e74 // "rolevent"
)

// Event is one entry of the append-only log.
type Event struct {
	// Seq orders the log; the changes API's cursor.
	Seq        int64
	CustomerID string
	// OrgKey is the organization the event is about; empty for a
	// customer's events before its first callback.
	OrgKey     string
	EventID    string
	Event      string
	Outcome    string
	OccurredAt time.Time
	ReceivedAt time.Time
	// Entry is the event's summary as JSON: a ledger.TimelineEntry for a
	// callback, the details of an operator's action otherwise.
	Entry json.RawMessage
}

// appendEvent inserts ev. On PostgreSQL it first takes a transaction-scoped
// advisory lock, held to the commit: seq numbers then become visible in
// order, and a changes reader past seq N never misses an event numbered
// below N that commits later.
func (d *DB) appendEvent(ctx context.Context, tx *sql.Tx, ev Event) error {
	if d.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", eventsLock); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
	}
	if len(ev.Entry) == 0 {
		ev.Entry = json.RawMessage(`{}`)
	}
	_, err := tx.ExecContext(ctx, d.q(`INSERT INTO events (customer_id, org_key, event_id, event, outcome, occurred_at, received_at, entry)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		ev.CustomerID, ev.OrgKey, ev.EventID, ev.Event, ev.Outcome, micros(ev.OccurredAt), micros(ev.ReceivedAt), string(ev.Entry))
	if err != nil {
		if d.isUniqueViolation(err) {
			return fmt.Errorf("event %s of customer %s: %w", ev.EventID, ev.CustomerID, ErrConflict)
		}
		return fmt.Errorf("append event %s: %w", ev.EventID, err)
	}
	return nil
}

const eventColumns = "seq, customer_id, org_key, event_id, event, outcome, occurred_at, received_at, entry"

func scanEvents(rows *sql.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var occurred, received int64
		var entry string
		if err := rows.Scan(&e.Seq, &e.CustomerID, &e.OrgKey, &e.EventID, &e.Event, &e.Outcome, &occurred, &received, &entry); err != nil {
			return nil, err
		}
		e.OccurredAt, e.ReceivedAt, e.Entry = fromMicros(occurred), fromMicros(received), json.RawMessage(entry)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Changes returns up to limit events after seq, oldest first: what an
// ingestion system polls with the last seq it saw as its cursor. A
// customerID narrows it to one customer.
func (d *DB) Changes(ctx context.Context, after int64, limit int, customerID string) ([]Event, error) {
	query := `SELECT ` + eventColumns + ` FROM events WHERE seq > ?`
	args := []any{after}
	if customerID != "" {
		query += ` AND customer_id = ?`
		args = append(args, customerID)
	}
	query += ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	rows, err := d.db.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	return scanEvents(rows)
}

// CustomerEvents returns a customer's last limit events, newest first: its
// timeline, operator actions included.
func (d *DB) CustomerEvents(ctx context.Context, customerID string, limit int) ([]Event, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+eventColumns+` FROM events WHERE customer_id = ? ORDER BY seq DESC LIMIT ?`), customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("read the timeline of %s: %w", customerID, err)
	}
	return scanEvents(rows)
}

// Seen reports whether the customer's event id is stored.
func (d *DB) Seen(ctx context.Context, customerID, eventID string) (bool, error) {
	return d.seen(ctx, d.db, customerID, eventID)
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// seen is Seen through q (Record asks inside its transaction).
func (d *DB) seen(ctx context.Context, q rowQuerier, customerID, eventID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM events WHERE customer_id = ? AND event_id = ?`), customerID, eventID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up event %s: %w", eventID, err)
	}
	return n > 0, nil
}

// ReplayAdd records a customer's webhook id until expires; it reports false,
// recording nothing, when the id is recorded and unexpired. Atomic across
// every instance on the database: of two concurrent adds, one wins.
func (d *DB) ReplayAdd(ctx context.Context, customerID, webhookID string, expires, now time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, d.q(`INSERT INTO replay (customer_id, webhook_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (customer_id, webhook_id) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= ?`),
		customerID, webhookID, micros(expires), micros(now))
	if err != nil {
		return false, fmt.Errorf("replay cache: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replay cache: %w", err)
	}
	return n == 1, nil
}

// ReplayRemove forgets a customer's webhook id.
func (d *DB) ReplayRemove(ctx context.Context, customerID, webhookID string) error {
	if _, err := d.db.ExecContext(ctx, d.q(`DELETE FROM replay WHERE customer_id = ? AND webhook_id = ?`), customerID, webhookID); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	return nil
}

// ReplayPrune deletes the ids expired by now and returns how many.
func (d *DB) ReplayPrune(ctx context.Context, now time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.q(`DELETE FROM replay WHERE expires_at <= ?`), micros(now))
	if err != nil {
		return 0, fmt.Errorf("prune the replay cache: %w", err)
	}
	return res.RowsAffected()
}
