package vendordb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
)

var (
	// ErrRevoked: the customer was revoked; its callbacks are refused.
	ErrRevoked = errors.New("customer revoked")
	// ErrForeignAccount: the customer is bound to another management
	// account than the callback's.
	ErrForeignAccount = errors.New("callback from another management account than the customer is bound to")
	// ErrOrganizationHeld: another customer holds the organization.
	ErrOrganizationHeld = errors.New("organization held by another customer")
)

// Recorded is what Record did with a callback.
type Recorded struct {
	Outcome    ledger.Outcome
	Onboarding *ledger.Onboarding
	// Bound reports that this callback bound the customer to its
	// management account (its first verified callback).
	Bound bool
}

// Record stores a verified callback of a customer's, in one transaction:
//
//   - the customer must not be revoked;
//   - its first callback binds it to the management account the callback
//     states (ledger.ManagementAccountOf: the account the identity proof
//     proved, or, for a delegated administrator's stack, the management
//     account it names); every later callback must state the same one;
//   - the organization must be unclaimed, the customer's own, or held by a
//     revoked customer or by a claim the vendor found false (which lapse):
//     the first customer to send one claims it;
//   - an event id already stored changes nothing (OutcomeDuplicate);
//   - otherwise the callback is merged into the organization's onboarding
//     (ledger.Apply) and appended to the log.
func (d *DB) Record(ctx context.Context, customerID string, m *callback.Message, receivedAt time.Time) (*Recorded, error) {
	p := &m.Payload
	key := ledger.KeyOf(p)
	management := ledger.ManagementAccountOf(p)
	var rec *Recorded
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		rec = &Recorded{}
		var bound sql.NullString
		var revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, d.q(`SELECT management_account_id, revoked_at FROM customers WHERE id = ?`+d.forUpdate()), customerID).Scan(&bound, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read customer %s: %w", customerID, err)
		}
		switch {
		case revoked.Valid:
			return fmt.Errorf("customer %s: %w", customerID, ErrRevoked)
		case bound.Valid && bound.String != management:
			return fmt.Errorf("%w: customer %s is bound to %s, the callback states %s", ErrForeignAccount, customerID, bound.String, management)
		}

		dup, err := d.seen(ctx, tx, customerID, m.ID)
		if err != nil {
			return err
		}
		var holder, orgManagement, state, proof string
		err = tx.QueryRowContext(ctx, d.q(`SELECT customer_id, management_account_id, state, org_proof FROM organizations WHERE org_key = ?`+d.forUpdate()), key).Scan(&holder, &orgManagement, &state, &proof)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read organization %s: %w", key, err)
		}
		if found && holder != customerID {
			// A revoked customer's claims lapse, and so does a claim the
			// vendor's confirmation found false (the holder's roles report
			// another organization): the organization goes to the next
			// customer that proves itself, starting afresh (the old
			// holder's events stay in the log, under its id).
			var holderRevoked sql.NullInt64
			if err := tx.QueryRowContext(ctx, d.q(`SELECT revoked_at FROM customers WHERE id = ?`), holder).Scan(&holderRevoked); err != nil {
				return fmt.Errorf("read customer %s: %w", holder, err)
			}
			if holderRevoked.Valid || OrgProof(proof) == ProofDisproven {
				for _, q := range []string{`DELETE FROM confirmations WHERE org_key = ?`, `DELETE FROM organizations WHERE org_key = ?`} {
					if _, err := tx.ExecContext(ctx, d.q(q), key); err != nil {
						return fmt.Errorf("release organization %s: %w", key, err)
					}
				}
				found = false
			}
		}
		switch {
		case found && holder != customerID:
			return fmt.Errorf("%w: %s is held by customer %s, claimed by %s", ErrOrganizationHeld, key, holder, customerID)
		case found && orgManagement != management:
			return fmt.Errorf("%w: %s is stored under %s, not %s", ledger.ErrManagementAccountChanged, key, orgManagement, management)
		}
		o := ledger.New(p)
		if found {
			o = new(ledger.Onboarding)
			if err := json.Unmarshal([]byte(state), o); err != nil {
				return fmt.Errorf("organization %s: its stored state does not parse: %w", key, err)
			}
		}
		if dup {
			rec.Outcome, rec.Onboarding = ledger.OutcomeDuplicate, o
			return nil
		}

		if !bound.Valid {
			if _, err := tx.ExecContext(ctx, d.q(`UPDATE customers SET management_account_id = ?, bound_at = ? WHERE id = ?`), management, micros(receivedAt), customerID); err != nil {
				return fmt.Errorf("bind customer %s: %w", customerID, err)
			}
			rec.Bound = true
		}
		outcome, entry := ledger.Apply(o, m, receivedAt)
		o.Timeline, o.EventIDs = nil, nil // the log keeps them
		stateJSON, err := json.Marshal(o)
		if err != nil {
			return err
		}
		c := callback.CountsOf(o.Accounts)
		// The upsert changes a row only if it is this customer's: a
		// concurrent first claim by another customer makes it change none.
		res, err := tx.ExecContext(ctx, d.q(`INSERT INTO organizations (org_key, customer_id, management_account_id, status, accounts, verified, gaps, finding, unverifiable, unreachable, state, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_key) DO UPDATE SET status = excluded.status, accounts = excluded.accounts, verified = excluded.verified,
				gaps = excluded.gaps, finding = excluded.finding, unverifiable = excluded.unverifiable, unreachable = excluded.unreachable,
				state = excluded.state, updated_at = excluded.updated_at
			WHERE organizations.customer_id = excluded.customer_id`),
			key, customerID, management, o.Status, c.Accounts, c.Verified, c.Gaps, c.Finding, c.Unverifiable, c.Unreachable, string(stateJSON), micros(receivedAt))
		if err != nil {
			return fmt.Errorf("store organization %s: %w", key, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: %s was claimed by another customer at the same time", ErrOrganizationHeld, key)
		}
		entryJSON, err := json.Marshal(entry)
		if err != nil {
			return err
		}
		if rec.Bound {
			if err := d.appendEvent(ctx, tx, Event{CustomerID: customerID, OrgKey: key, EventID: "bound-" + m.ID, Event: EventCustomerBound, Outcome: outcomeRecorded,
				OccurredAt: receivedAt, ReceivedAt: receivedAt, Entry: mustJSON(map[string]string{"management_account_id": management, "caller_arn": m.Caller.ARN})}); err != nil {
				return err
			}
		}
		if err := d.appendEvent(ctx, tx, Event{CustomerID: customerID, OrgKey: key, EventID: m.ID, Event: string(p.Event), Outcome: string(outcome),
			OccurredAt: p.OccurredAt, ReceivedAt: receivedAt, Entry: entryJSON}); err != nil {
			return err
		}
		rec.Outcome, rec.Onboarding = outcome, o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers are passed
	}
	return b
}
