package vendordb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Confirmation is the vendor's own check of one role: assumed with the
// customer's external ID, read probes run (internal/verify).
type Confirmation struct {
	AccountID, RoleARN string
	// Status is the verification status (verify.Status).
	Status string
	// ExternalID says which value was used: "current", or "pending" while
	// a rotation waits for its confirmation.
	ExternalID string
	CheckedAt  time.Time
	// Report is the verify.Report as JSON (it never holds the external ID).
	Report json.RawMessage
}

// SaveConfirmations stores a confirmation run's results and, if proof is
// not ProofNone, what they showed of the organization claim: with all, they
// replace every confirmation of the organization (a run over all its
// roles); otherwise they replace those accounts' only. The organization's
// counts are then recounted from the table (okStatus counts as confirmed)
// and a vendor.confirmed event is appended.
func (d *DB) SaveConfirmations(ctx context.Context, orgKey, customerID string, at time.Time, results []Confirmation, all bool, okStatus string, proof OrgProof, proofDetail, eventID string) error {
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if all {
			if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM confirmations WHERE org_key = ?`), orgKey); err != nil {
				return fmt.Errorf("confirmations of %s: %w", orgKey, err)
			}
		}
		good, bad := 0, 0
		for _, c := range results {
			if !all {
				if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM confirmations WHERE org_key = ? AND account_id = ?`), orgKey, c.AccountID); err != nil {
					return fmt.Errorf("confirmations of %s: %w", orgKey, err)
				}
			}
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO confirmations (org_key, account_id, customer_id, role_arn, status, external_id, checked_at, report)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), orgKey, c.AccountID, customerID, c.RoleARN, c.Status, c.ExternalID, micros(c.CheckedAt), string(c.Report)); err != nil {
				return fmt.Errorf("confirmation of %s in %s: %w", c.AccountID, orgKey, err)
			}
			if c.Status == okStatus {
				good++
			} else {
				bad++
			}
		}
		res, err := tx.ExecContext(ctx, d.q(`UPDATE organizations SET
				confirmed = (SELECT COUNT(*) FROM confirmations c WHERE c.org_key = organizations.org_key AND c.status = ?),
				confirm_failed = (SELECT COUNT(*) FROM confirmations c WHERE c.org_key = organizations.org_key AND c.status <> ?),
				confirmed_at = ?
			WHERE org_key = ? AND customer_id = ?`), okStatus, okStatus, micros(at), orgKey, customerID)
		if err != nil {
			return fmt.Errorf("confirmations of %s: %w", orgKey, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("confirmations of %s: the organization is not customer %s's: %w", orgKey, customerID, ErrNotFound)
		}
		if proof != ProofNone {
			if _, err := tx.ExecContext(ctx, d.q(`UPDATE organizations SET org_proof = ?, org_proof_detail = ?, org_proof_at = ? WHERE org_key = ?`),
				string(proof), proofDetail, micros(at), orgKey); err != nil {
				return fmt.Errorf("organization proof of %s: %w", orgKey, err)
			}
		}
		return d.appendEvent(ctx, tx, Event{CustomerID: customerID, OrgKey: orgKey, EventID: eventID, Event: EventVendorConfirmed, Outcome: outcomeRecorded,
			OccurredAt: at, ReceivedAt: at, Entry: mustJSON(map[string]any{"roles": len(results), "confirmed": good, "not_confirmed": bad, "all": all,
				"organization": string(proof), "organization_detail": proofDetail})})
	})
}

// Confirmations returns an organization's confirmations by account.
func (d *DB) Confirmations(ctx context.Context, orgKey string) (map[string]Confirmation, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT account_id, role_arn, status, external_id, checked_at, report FROM confirmations WHERE org_key = ?`), orgKey)
	if err != nil {
		return nil, fmt.Errorf("read the confirmations of %s: %w", orgKey, err)
	}
	defer rows.Close()
	out := map[string]Confirmation{}
	for rows.Next() {
		var c Confirmation
		var at int64
		var report string
		if err := rows.Scan(&c.AccountID, &c.RoleARN, &c.Status, &c.ExternalID, &at, &report); err != nil {
			return nil, err
		}
		c.CheckedAt, c.Report = fromMicros(at), json.RawMessage(report)
		out[c.AccountID] = c
	}
	return out, rows.Err()
}
