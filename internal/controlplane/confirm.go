package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/vendordb"
	"github.com/rolecall/rolecall/internal/verify"
)

// Confirmer checks roles with the vendor's own credentials: assume each
// with the external ID, run the read probes.
type Confirmer interface {
	Confirm(ctx context.Context, roles []verify.Role) []verify.Report
}

// EngineConfirmer is a Confirmer on internal/verify's engine, built with
// the credentials of the vendor's ingestion principal.
type EngineConfirmer struct{ Engine *verify.Engine }

// Confirm implements Confirmer.
func (e EngineConfirmer) Confirm(ctx context.Context, roles []verify.Role) []verify.Report {
	var mu sync.Mutex
	var out []verify.Report
	e.Engine.VerifyAll(ctx, slices.Values(roles), func(r verify.Report) {
		mu.Lock()
		out = append(out, r)
		mu.Unlock()
	})
	return out
}

// confirmedOK is a role the vendor confirmed: assumed, every read probe
// passed, no write possible.
func confirmedOK(status string) bool { return status == string(verify.StatusVerified) }

// confirmWorthy are the events after which the vendor confirms: a role set
// was created, changed or put right.
func confirmWorthy(e callback.Event) bool {
	switch e {
	case callback.EventOnboardingCreated, callback.EventOnboardingUpdated, callback.EventAccountAdded,
		callback.EventVerificationRestored, callback.EventVerificationDrifted:
		return true
	}
	return false
}

// afterRecord starts what a stored callback calls for: the vendor's
// confirmation of the organization's roles, and the close of a rotation.
func (s *Service) afterRecord(c *vendordb.Customer, m *callback.Message, rec *vendordb.Recorded) {
	if rec.Outcome != ledger.OutcomeStored {
		return
	}
	p := &m.Payload
	rotated := p.ExternalIDRotated && c.PendingExternalIDSealed != ""
	if s.cfg.Confirmer == nil {
		if rotated {
			// Without credentials of its own, the vendor takes the stack's
			// word: its function assumed every role with the new value.
			if err := s.closeRotation(s.baseCtx, c.ID, "the stack's callback "+m.ID); err != nil {
				s.log.Error("rotation not closed", "customer", c.ID, "err", err)
			}
		}
		return
	}
	switch {
	case rotated, p.Event == callback.EventOnboardingCreated, p.Event == callback.EventOnboardingUpdated:
		s.scheduleConfirm(c.ID, ledger.KeyOf(p), nil)
	case confirmWorthy(p.Event):
		// Only the accounts the event names: an account joining a
		// thousand-account organization costs one assumption, not a
		// thousand.
		var ids []string
		for _, a := range p.Accounts {
			ids = append(ids, a.AccountID)
		}
		s.scheduleConfirm(c.ID, ledger.KeyOf(p), ids)
	}
}

// confirmJob is what is queued for an organization: all its roles, or
// these accounts'.
type confirmJob struct {
	customerID string
	all        bool
	accounts   map[string]bool
}

// scheduleConfirm confirms an organization's roles in the background (all
// of them when accounts is nil): one run per organization at a time;
// requests that arrive meanwhile are merged into the next run.
func (s *Service) scheduleConfirm(customerID, orgKey string, accounts []string) {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	job := s.queued[orgKey]
	if job == nil {
		job = &confirmJob{customerID: customerID, accounts: map[string]bool{}}
		s.queued[orgKey] = job
	}
	job.all = job.all || accounts == nil
	for _, a := range accounts {
		job.accounts[a] = true
	}
	if s.inflight[orgKey] {
		return
	}
	s.inflight[orgKey] = true
	s.confirming.Add(1)
	go func() {
		defer s.confirming.Done()
		for {
			s.inflightMu.Lock()
			job := s.queued[orgKey]
			delete(s.queued, orgKey)
			if job == nil {
				delete(s.inflight, orgKey)
				s.inflightMu.Unlock()
				return
			}
			s.inflightMu.Unlock()
			var only map[string]bool
			if !job.all {
				only = job.accounts
			}
			if err := s.confirm(s.baseCtx, job.customerID, orgKey, only); err != nil {
				s.log.Error("vendor confirmation failed", "customer", job.customerID, "org", orgKey, "err", err)
			}
		}
	}()
}

// ConfirmOrganization assumes every role the organization reported with
// the customer's external ID (the pending one while a rotation waits for
// the stack to use it), runs the read probes, and stores the results. A
// rotation closes when every role answered to the new value.
func (s *Service) ConfirmOrganization(ctx context.Context, customerID, orgKey string) error {
	return s.confirm(ctx, customerID, orgKey, nil)
}

// confirm confirms the organization's roles, or only those of the
// accounts in only.
func (s *Service) confirm(ctx context.Context, customerID, orgKey string, only map[string]bool) error {
	if s.cfg.Confirmer == nil {
		return errNoConfirmer
	}
	c, err := s.db.Customer(ctx, customerID)
	if err != nil {
		return err
	}
	if c.RevokedAt != nil {
		return nil
	}
	org, o, err := s.db.Onboarding(ctx, orgKey)
	if err != nil {
		return err
	}
	if org.CustomerID != customerID {
		return vendordb.ErrOrganizationHeld
	}
	pending := c.PendingExternalIDSealed != "" && o.ExternalIDRotatedAt != nil && c.RotationStartedAt != nil && !o.ExternalIDRotatedAt.Before(c.RotationStartedAt.Truncate(time.Second))
	externalID, err := s.openExternalID(c, pending)
	if err != nil {
		return err
	}
	roles := rolesOf(o, externalID)
	if only != nil {
		roles = slices.DeleteFunc(roles, func(r verify.Role) bool { return !only[r.AccountID] })
	}
	if len(roles) == 0 {
		return nil
	}
	started := s.now()
	reports := s.cfg.Confirmer.Confirm(ctx, roles)
	which := "current"
	if pending {
		which = "pending"
	}
	results := make([]vendordb.Confirmation, 0, len(reports))
	reached := 0
	for _, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		results = append(results, vendordb.Confirmation{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: string(r.Status), ExternalID: which, CheckedAt: started, Report: b})
		if r.Status != verify.StatusUnreachable {
			reached++
		}
	}
	eventID, err := s.eventID()
	if err != nil {
		return err
	}
	proof, proofDetail := orgProofOf(o, reports)
	if err := s.db.SaveConfirmations(ctx, orgKey, customerID, s.now(), results, only == nil, string(verify.StatusVerified), proof, proofDetail, eventID); err != nil {
		return err
	}
	ok := 0
	others := map[string]int{}
	for _, r := range results {
		if confirmedOK(r.Status) {
			ok++
		} else {
			others[r.Status]++
		}
	}
	var not []string
	for _, st := range slices.Sorted(maps.Keys(others)) {
		not = append(not, fmt.Sprintf("%d %s", others[st], st))
	}
	detail := ""
	if len(not) > 0 {
		detail = "; not confirmed: " + strings.Join(not, ", ")
	}
	s.printf("%s customer %s: vendor confirmed %d of %d roles of %s with the %s external ID (%s)%s\n",
		s.now().UTC().Format(time.RFC3339), customerID, ok, len(results), orgKey, which, s.now().Sub(started).Round(time.Millisecond), detail)
	switch proof {
	case org.Proof:
		// Nothing new to say.
	case vendordb.ProofProven:
		s.printf("%s customer %s: organization %s proven: the management account's role reports it, under %s\n", s.now().UTC().Format(time.RFC3339), customerID, orgKey, o.ManagementAccountID)
	case vendordb.ProofDisproven:
		s.printf("%s customer %s: organization %s DISPROVEN: %s; the next customer that proves it may take it\n", s.now().UTC().Format(time.RFC3339), customerID, orgKey, proofDetail)
		s.log.Warn("organization claim disproven", "customer", customerID, "org", orgKey, "detail", proofDetail)
	}
	if pending && only == nil && reached == len(reports) {
		return s.closeRotation(ctx, customerID, "the vendor assumed every role with it")
	}
	return nil
}

// orgProofOf says what the roles' own accounts report of the organization
// the customer claims (organizations:DescribeOrganization, one of the
// probes): proven when the management account's role reports that
// organization under that management account and no role reports
// another; disproven when any role reports another (fail closed: the
// claim is the management account's word, these are AWS's); none when
// nothing was reported, or the onboarding claims no organization.
func orgProofOf(o *ledger.Onboarding, reports []verify.Report) (vendordb.OrgProof, string) {
	if o.OrganizationID == "" {
		return vendordb.ProofNone, ""
	}
	management := false
	for _, r := range reports {
		got := r.Organization
		if got == nil {
			continue
		}
		if got.ID != o.OrganizationID || got.ManagementAccountID != o.ManagementAccountID {
			return vendordb.ProofDisproven, fmt.Sprintf("the role in %s reports organization %s under management account %s, not %s under %s",
				r.AccountID, got.ID, got.ManagementAccountID, o.OrganizationID, o.ManagementAccountID)
		}
		if r.AccountID == o.ManagementAccountID {
			management = true
		}
	}
	if management {
		return vendordb.ProofProven, ""
	}
	return vendordb.ProofNone, ""
}

// rolesOf lists an onboarding's roles to confirm.
func rolesOf(o *ledger.Onboarding, externalID string) []verify.Role {
	var roles []verify.Role
	for _, a := range o.Accounts {
		if a.RoleARN == "" {
			continue
		}
		r := verify.Role{AccountID: a.AccountID, RoleARN: a.RoleARN, ExternalID: externalID, Management: a.AccountID == o.ManagementAccountID,
			Regions: o.InventoryRegions}
		holder := o.CUR.AccountID
		if holder == "" {
			holder = o.ManagementAccountID
		}
		if o.CUR.Bucket != "" && (r.Management || a.AccountID == holder) {
			r.CURBucket, r.CURPrefix, r.CURAccountID, r.CURRegion, r.CURKMSKey = o.CUR.Bucket, o.CUR.Prefix, o.CUR.AccountID, o.CUR.Region, o.CUR.KMSKeyARN
		}
		roles = append(roles, r)
	}
	return roles
}

var errNoConfirmer = errors.New("the vendor has no AWS credentials to confirm with: run with --confirm")
