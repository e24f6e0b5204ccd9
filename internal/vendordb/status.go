package vendordb

import (
	"context"
	"fmt"

	"github.com/rolecall/rolecall/internal/ledger"
)

// Customer statuses at a glance.
const (
	StatusRevoked   = "revoked"
	StatusFailed    = "failed"
	StatusFinding   = "finding"
	StatusAttention = "attention"
	StatusDeleted   = "deleted"
	StatusIssued    = "issued"
	StatusVerified  = "verified"
)

// Statuses lists the statuses in the order the page shows them.
func Statuses() []string {
	return []string{StatusVerified, StatusAttention, StatusFinding, StatusFailed, StatusIssued, StatusDeleted, StatusRevoked}
}

// orgRanks orders an organization's statuses worst first: a customer's
// status is its worst organization's. statusSQL computes the same in SQL;
// TestCustomerStatusInSQLIsCustomerStatus holds them together.
var orgRanks = []string{StatusFailed, StatusFinding, StatusAttention, StatusDeleted, StatusVerified}

// orgStatus is one organization's status: failed (the creation failed),
// deleted (the stack is gone), finding (a role can write), attention (a
// role is not verified, the vendor could not confirm one, or the
// organization is not the one the roles report), verified.
func orgStatus(o *Organization) string {
	switch {
	case o.Status == ledger.StatusFailed:
		return StatusFailed
	case o.Status == ledger.StatusPaused:
		return StatusDeleted
	case o.Counts.Finding > 0:
		return StatusFinding
	case o.Counts.Verified < o.Counts.Accounts || o.ConfirmFailed > 0 || o.Proof == ProofDisproven:
		return StatusAttention
	}
	return StatusVerified
}

// CustomerStatus is a customer's status: revoked; issued (no verified
// callback yet); else its worst organization's.
func CustomerStatus(revoked bool, orgs []*Organization) string {
	if revoked {
		return StatusRevoked
	}
	if len(orgs) == 0 {
		return StatusIssued
	}
	worst := len(orgRanks) - 1
	for _, o := range orgs {
		for i, s := range orgRanks {
			if s == orgStatus(o) && i < worst {
				worst = i
			}
		}
	}
	return orgRanks[worst]
}

// statusSQL is CustomerStatus over every customer, one status per row.
const statusSQL = `WITH per_org AS (
		SELECT customer_id, CASE
			WHEN status = 'failed' THEN 0
			WHEN status = 'paused' THEN 3
			WHEN finding > 0 THEN 1
			WHEN verified < accounts OR confirm_failed > 0 OR org_proof = 'disproven' THEN 2
			ELSE 4 END AS r
		FROM organizations),
	per_customer AS (
		SELECT c.id, c.revoked_at, MIN(p.r) AS r FROM customers c LEFT JOIN per_org p ON p.customer_id = c.id GROUP BY c.id, c.revoked_at)
	SELECT CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN r IS NULL THEN 'issued' WHEN r = 0 THEN 'failed' WHEN r = 1 THEN 'finding'
		WHEN r = 2 THEN 'attention' WHEN r = 3 THEN 'deleted' ELSE 'verified' END AS status, COUNT(*)
	FROM per_customer GROUP BY 1`

// CustomerStatusCounts counts every customer by status, in one query.
func (d *DB) CustomerStatusCounts(ctx context.Context) (map[string]int, error) {
	rows, err := d.db.QueryContext(ctx, statusSQL)
	if err != nil {
		return nil, fmt.Errorf("count customers by status: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
