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

// Organization is an organization's row: who holds it, its counts, and the
// vendor's confirmation.
type Organization struct {
	Key                 string
	CustomerID          string
	ManagementAccountID string
	Status              string
	Counts              callback.Counts
	UpdatedAt           time.Time
	// Confirmed and ConfirmFailed count the roles the vendor itself
	// assumed and read with (or could not), as of ConfirmedAt.
	Confirmed, ConfirmFailed int
	ConfirmedAt              *time.Time
	// Proof says whether the organization is the one the customer's roles
	// report (ProofProven), or not (ProofDisproven, Detail says what they
	// report); empty until the vendor confirms.
	Proof       OrgProof
	ProofDetail string
	ProofAt     *time.Time
}

// OrgProof is what the vendor's confirmation found of an organization
// claim.
type OrgProof string

// The proofs.
const (
	ProofNone      OrgProof = ""
	ProofProven    OrgProof = "proven"
	ProofDisproven OrgProof = "disproven"
)

const orgColumns = `org_key, customer_id, management_account_id, status, accounts, verified, gaps, finding, unverifiable, unreachable,
	updated_at, confirmed, confirm_failed, confirmed_at, org_proof, org_proof_detail, org_proof_at`

func scanOrg(s scanner, extra ...any) (*Organization, error) {
	var o Organization
	var updated int64
	var confirmedAt, proofAt sql.NullInt64
	dest := []any{&o.Key, &o.CustomerID, &o.ManagementAccountID, &o.Status, &o.Counts.Accounts, &o.Counts.Verified, &o.Counts.Gaps,
		&o.Counts.Finding, &o.Counts.Unverifiable, &o.Counts.Unreachable, &updated, &o.Confirmed, &o.ConfirmFailed, &confirmedAt,
		&o.Proof, &o.ProofDetail, &proofAt}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	o.UpdatedAt, o.ConfirmedAt, o.ProofAt = fromMicros(updated), nullTime(confirmedAt), nullTime(proofAt)
	return &o, nil
}

// Onboarding returns an organization's row and its onboarding.
func (d *DB) Onboarding(ctx context.Context, key string) (*Organization, *ledger.Onboarding, error) {
	var state string
	org, err := scanOrg(d.db.QueryRowContext(ctx, d.q(`SELECT `+orgColumns+`, state FROM organizations WHERE org_key = ?`), key), &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("organization %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read organization %s: %w", key, err)
	}
	var o ledger.Onboarding
	if err := json.Unmarshal([]byte(state), &o); err != nil {
		return nil, nil, fmt.Errorf("organization %s: its stored state does not parse: %w", key, err)
	}
	return org, &o, nil
}

// Timeline returns an organization's onboarding with its timeline: the
// last limit callbacks accepted, oldest first.
func (d *DB) Timeline(ctx context.Context, key string, limit int) (*ledger.Onboarding, error) {
	org, o, err := d.Onboarding(ctx, key)
	if err != nil {
		return nil, err
	}
	// The holder's events only: a lapsed claim's stay in the log.
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT entry FROM events WHERE org_key = ? AND customer_id = ? AND event NOT LIKE 'customer.%' AND event NOT LIKE 'external_id.%' AND event NOT LIKE 'vendor.%'
		ORDER BY seq DESC LIMIT ?`), key, org.CustomerID, limit)
	if err != nil {
		return nil, fmt.Errorf("read the timeline of %s: %w", key, err)
	}
	defer rows.Close()
	var entries []ledger.TimelineEntry
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var e ledger.TimelineEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("timeline of %s: an entry does not parse: %w", key, err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	o.Timeline = entries
	return o, nil
}

// OrganizationsOf returns the organizations a customer holds.
func (d *DB) OrganizationsOf(ctx context.Context, customerID string) ([]*Organization, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+orgColumns+` FROM organizations WHERE customer_id = ? ORDER BY org_key`), customerID)
	if err != nil {
		return nil, fmt.Errorf("read the organizations of %s: %w", customerID, err)
	}
	defer rows.Close()
	var out []*Organization
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Listed is one customer in a list: its row (credentials left out) and
// the organizations it holds.
type Listed struct {
	ID, Name            string
	CreatedAt           time.Time
	RevokedAt           *time.Time
	RotationStartedAt   *time.Time
	ManagementAccountID string
	Organizations       []*Organization
}

// ListOptions page through customers by name.
type ListOptions struct {
	// AfterName and AfterID are the last customer of the previous page.
	AfterName, AfterID string
	// Limit bounds the page; zero means 100.
	Limit int
}

// ListCustomers returns a page of customers ordered by name, then id, with
// their organizations: one query, whatever the page size.
func (d *DB) ListCustomers(ctx context.Context, opts ListOptions) ([]*Listed, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := d.db.QueryContext(ctx, d.q(`WITH page AS (
			SELECT id, name, created_at, revoked_at, rotation_started_at, management_account_id FROM customers
			WHERE name > ? OR (name = ? AND id > ?) ORDER BY name, id LIMIT ?)
		SELECT p.id, p.name, p.created_at, p.revoked_at, p.rotation_started_at, p.management_account_id,
			o.org_key, o.customer_id, o.management_account_id, o.status, o.accounts, o.verified, o.gaps, o.finding, o.unverifiable, o.unreachable,
			o.updated_at, o.confirmed, o.confirm_failed, o.confirmed_at, o.org_proof, o.org_proof_detail
		FROM page p LEFT JOIN organizations o ON o.customer_id = p.id ORDER BY p.name, p.id, o.org_key`),
		opts.AfterName, opts.AfterName, opts.AfterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []*Listed
	for rows.Next() {
		var l Listed
		var created int64
		var revoked, rotation sql.NullInt64
		var management sql.NullString
		var org struct {
			key, customer, management, status               sql.NullString
			accounts, verified, gaps, finding, unverif, unr sql.NullInt64
			updated, confirmed, failed, confirmedAt         sql.NullInt64
			proof, proofDetail                              sql.NullString
		}
		if err := rows.Scan(&l.ID, &l.Name, &created, &revoked, &rotation, &management,
			&org.key, &org.customer, &org.management, &org.status, &org.accounts, &org.verified, &org.gaps, &org.finding, &org.unverif, &org.unr,
			&org.updated, &org.confirmed, &org.failed, &org.confirmedAt, &org.proof, &org.proofDetail); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != l.ID {
			l.CreatedAt, l.RevokedAt, l.RotationStartedAt, l.ManagementAccountID = fromMicros(created), nullTime(revoked), nullTime(rotation), management.String
			out = append(out, &l)
		}
		if org.key.Valid {
			last := out[len(out)-1]
			last.Organizations = append(last.Organizations, &Organization{
				Key: org.key.String, CustomerID: org.customer.String, ManagementAccountID: org.management.String, Status: org.status.String,
				Counts: callback.Counts{Accounts: int(org.accounts.Int64), Verified: int(org.verified.Int64), Gaps: int(org.gaps.Int64),
					Finding: int(org.finding.Int64), Unverifiable: int(org.unverif.Int64), Unreachable: int(org.unr.Int64)},
				UpdatedAt: fromMicros(org.updated.Int64), Confirmed: int(org.confirmed.Int64), ConfirmFailed: int(org.failed.Int64), ConfirmedAt: nullTime(org.confirmedAt),
				Proof: OrgProof(org.proof.String), ProofDetail: org.proofDetail.String,
			})
		}
	}
	return out, rows.Err()
}

// Totals are counts over every customer: the list page's header.
type Totals struct {
	Customers, Revoked, Rotating, Issued int
	// ByStatus counts organizations by onboarding status.
	ByStatus map[string]int
	// Accounts sums the organizations' accounts by verification status.
	Accounts callback.Counts
}

// Totals counts customers and organizations, two aggregate queries.
func (d *DB) Totals(ctx context.Context) (*Totals, error) {
	t := &Totals{ByStatus: map[string]int{}}
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*),
			COALESCE(SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN rotation_started_at IS NOT NULL THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN management_account_id IS NULL AND revoked_at IS NULL THEN 1 ELSE 0 END), 0)
		FROM customers`).Scan(&t.Customers, &t.Revoked, &t.Rotating, &t.Issued); err != nil {
		return nil, fmt.Errorf("count customers: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT status, COUNT(*), SUM(accounts), SUM(verified), SUM(gaps), SUM(finding), SUM(unverifiable), SUM(unreachable)
		FROM organizations GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count organizations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		var c callback.Counts
		if err := rows.Scan(&status, &n, &c.Accounts, &c.Verified, &c.Gaps, &c.Finding, &c.Unverifiable, &c.Unreachable); err != nil {
			return nil, err
		}
		t.ByStatus[status] = n
		t.Accounts.Merge(c)
	}
	return t, rows.Err()
}
