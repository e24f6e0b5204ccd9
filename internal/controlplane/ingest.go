package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// response is the JSON body of every answer to a callback.
type response struct {
	Status string `json:"status"`
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Callbacks returns the handler of the callback endpoint. It answers 2xx
// only once a callback is verified and stored:
//
//	200  stored, a re-delivery of a stored event, or an event older than
//	     the stored state (recorded, not applied)
//	400  a signed body that is not a valid payload
//	401  no key id, an unknown one, or a bad signature, timestamp or proof
//	403  a revoked customer; a callback from another management account
//	     than the customer is bound to; an organization another customer
//	     holds
//	405  not a POST
//	409  an id verified before but not stored (still in flight)
//	413  a body larger than the limit
//	500  not stored; the id is released for the retry
//	503  STS could not be asked; the sender retries
func (s *Service) Callbacks() http.Handler {
	return http.HandlerFunc(s.serveCallback)
}

func (s *Service) serveCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, response{Status: "rejected", Error: "callbacks are POSTed"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reject(r, "", http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", s.cfg.MaxBodyBytes))
			answer(w, http.StatusRequestEntityTooLarge, response{Status: "rejected", Error: fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBodyBytes)})
			return
		}
		answer(w, http.StatusBadRequest, response{Status: "rejected", Error: "could not read the body"})
		return
	}
	received := s.now()
	ctx := r.Context()

	c, err := s.customerOf(r)
	if err != nil {
		code := http.StatusUnauthorized
		switch {
		case errors.Is(err, vendordb.ErrRevoked):
			code = http.StatusForbidden
		case !errors.Is(err, vendordb.ErrNotFound) && !errors.Is(err, callback.ErrMalformedHeader):
			code = http.StatusInternalServerError
		}
		s.reject(r, "", code, err)
		answer(w, code, response{Status: "rejected", Error: generic(code)})
		return
	}
	secret, err := s.openSecret(c)
	if err != nil {
		s.log.Error("callback secret not readable", "customer", c.ID, "err", err)
		answer(w, http.StatusInternalServerError, response{Status: "error", Error: "not stored; retry"})
		return
	}
	v, err := s.verifier(c.ID, []string{secret})
	if err != nil {
		s.log.Error("callback verifier", "customer", c.ID, "err", err)
		answer(w, http.StatusInternalServerError, response{Status: "error", Error: "not stored; retry"})
		return
	}
	m, err := v.Verify(ctx, r.Header, body)
	var replay *callback.ReplayError
	if errors.As(err, &replay) {
		s.redelivery(w, r, c, replay.Message, received)
		return
	}
	if err != nil {
		code := statusOf(err)
		s.reject(r, c.ID, code, err)
		answer(w, code, response{Status: "rejected", Error: generic(code)})
		return
	}

	rec, err := s.db.Record(ctx, c.ID, m, received)
	switch {
	case errors.Is(err, vendordb.ErrForeignAccount), errors.Is(err, vendordb.ErrOrganizationHeld),
		errors.Is(err, ledger.ErrManagementAccountChanged), errors.Is(err, vendordb.ErrRevoked):
		s.reject(r, c.ID, http.StatusForbidden, err)
		answer(w, http.StatusForbidden, response{Status: "rejected", ID: m.ID, Error: generic(http.StatusForbidden)})
		return
	case err != nil:
		s.log.Error("callback not stored", "customer", c.ID, "webhookId", m.ID, "err", err)
		if ferr := v.Forget(ctx, m.ID); ferr != nil {
			s.log.Error("callback id not released", "customer", c.ID, "webhookId", m.ID, "err", ferr)
		}
		answer(w, http.StatusInternalServerError, response{Status: "error", ID: m.ID, Error: "not stored; retry"})
		return
	}
	s.summary(received, c, rec, m)
	s.afterRecord(c, m, rec)
	answer(w, http.StatusOK, response{Status: string(rec.Outcome), ID: m.ID})
}

// customerOf finds the customer a callback names by its key id.
func (s *Service) customerOf(r *http.Request) (*vendordb.Customer, error) {
	ids, err := callback.KeyIDs(r.Header)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no %s header: the sender predates per-customer keys, or this is not a rolecall callback: %w", callback.HeaderKeyID, vendordb.ErrNotFound)
	}
	var firstErr error
	for _, id := range ids {
		c, err := s.db.CustomerByKeyID(r.Context(), id)
		if err == nil {
			if c.RevokedAt != nil {
				return nil, fmt.Errorf("customer %s: %w on %s", c.ID, vendordb.ErrRevoked, c.RevokedAt.Format(time.RFC3339))
			}
			return c, nil
		}
		if firstErr == nil || !errors.Is(err, vendordb.ErrNotFound) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// redelivery answers an authentic callback whose id was accepted before:
// 2xx without processing if it was stored, 409 if it is still in flight.
func (s *Service) redelivery(w http.ResponseWriter, r *http.Request, c *vendordb.Customer, m *callback.Message, received time.Time) {
	seen, err := s.db.Seen(r.Context(), c.ID, m.ID)
	if err != nil {
		s.log.Error("stored events not readable", "customer", c.ID, "webhookId", m.ID, "err", err)
		answer(w, http.StatusInternalServerError, response{Status: "error", ID: m.ID, Error: "could not check stored events; retry"})
		return
	}
	if !seen {
		s.reject(r, c.ID, http.StatusConflict, callback.ErrReplay)
		answer(w, http.StatusConflict, response{Status: "rejected", ID: m.ID, Error: "this id is being processed"})
		return
	}
	s.summary(received, c, &vendordb.Recorded{Outcome: ledger.OutcomeDuplicate}, m)
	answer(w, http.StatusOK, response{Status: string(ledger.OutcomeDuplicate), ID: m.ID})
}

// generic is what a rejected caller is told: the status in words, never
// the detail, which helps only someone probing the endpoint. The detail
// goes to the log.
func generic(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "invalid callback"
	case http.StatusUnauthorized:
		return "not authenticated"
	case http.StatusForbidden:
		return "not allowed"
	case http.StatusServiceUnavailable:
		return "try again later"
	}
	return http.StatusText(code)
}

// statusOf maps a verification error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, callback.ErrInvalidPayload):
		return http.StatusBadRequest
	case errors.Is(err, callback.ErrSTSUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, callback.ErrMembership):
		return http.StatusForbidden
	}
	for _, rejection := range []error{
		callback.ErrMissingHeader, callback.ErrMalformedHeader, callback.ErrTimestamp, callback.ErrBodyDigest,
		callback.ErrSignature, callback.ErrMissingProof, callback.ErrMalformedProof, callback.ErrProofEndpoint,
		callback.ErrProofBinding, callback.ErrProofAudience, callback.ErrProofExpired, callback.ErrProofRejected,
		callback.ErrAccountMismatch,
	} {
		if errors.Is(err, rejection) {
			return http.StatusUnauthorized
		}
	}
	return http.StatusInternalServerError // the verifier's own failure
}

func (s *Service) reject(r *http.Request, customerID string, code int, err error) {
	// webhook-id is the sender's claim until verified; it is logged as such.
	s.log.Warn("callback rejected", "customer", customerID, "claimedWebhookId", r.Header.Get(callback.HeaderID), "status", code, "err", err)
}

func answer(w http.ResponseWriter, code int, body response) {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// summary prints one line for a callback handled.
func (s *Service) summary(received time.Time, c *vendordb.Customer, rec *vendordb.Recorded, m *callback.Message) {
	p := &m.Payload
	counts := callback.CountsOf(p.Accounts)
	line := fmt.Sprintf("%s %-9s %-22s customer=%s org=%s management=%s accounts=%d verified=%d gaps=%d finding=%d unverifiable=%d unreachable=%d id=%s",
		received.UTC().Format(time.RFC3339), rec.Outcome, p.Event, c.ID, ledger.KeyOf(p), p.ManagementAccountID, counts.Accounts,
		counts.Verified, counts.Gaps, counts.Finding, counts.Unverifiable, counts.Unreachable, m.ID)
	if rec.Bound {
		line += " (bound the customer to " + ledger.ManagementAccountOf(p) + ")"
	}
	if o := rec.Onboarding; o != nil && rec.Outcome != ledger.OutcomeDuplicate {
		line += fmt.Sprintf(" status=%s total=%d", o.Status, len(o.Accounts))
	}
	if p.Counts != nil {
		line += fmt.Sprintf(" run: accounts=%d verified=%d", p.Counts.Accounts, p.Counts.Verified)
	}
	if p.PendingEvents != nil && *p.PendingEvents > 0 {
		line += fmt.Sprintf(" pending=%d", *p.PendingEvents)
	}
	if p.DroppedEvents != nil && *p.DroppedEvents > 0 {
		line += fmt.Sprintf(" dropped=%d", *p.DroppedEvents)
	}
	s.printf("%s\n", line)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers are passed
	}
	return b
}
