package receiver

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rolecall/rolecall/callback"
)

// DefaultMaxBodyBytes bounds a callback body: 5,000 accounts with
// diagnoses take about 2 MiB.
const DefaultMaxBodyBytes = 16 << 20

// Config configures New.
type Config struct {
	// Verifier checks every callback.
	Verifier *callback.Verifier
	// Store keeps what was accepted.
	Store *Store
	// MaxBodyBytes bounds a body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Out receives one summary line per event handled; nil discards them.
	Out io.Writer
	// Logger receives rejections and failures; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of received times; nil means time.Now.
	Now func() time.Time
}

// Handler is the receiver's http.Handler.
type Handler struct {
	verifier *callback.Verifier
	store    *Store
	maxBody  int64
	log      *slog.Logger
	now      func() time.Time

	outMu sync.Mutex
	out   io.Writer
}

// New returns the receiver's handler. Mount it on the path of the callback
// URL; it answers POST only.
func New(cfg Config) (*Handler, error) {
	if cfg.Verifier == nil || cfg.Store == nil {
		return nil, errors.New("receiver: a verifier and a store are required")
	}
	h := &Handler{
		verifier: cfg.Verifier,
		store:    cfg.Store,
		maxBody:  cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		log:      cmp.Or(cfg.Logger, slog.Default()),
		now:      cfg.Now,
		out:      cfg.Out,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.out == nil {
		h.out = io.Discard
	}
	return h, nil
}

// response is the JSON body of every answer.
type response struct {
	Status string `json:"status"`
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ServeHTTP verifies, stores and answers one callback.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.answer(w, http.StatusMethodNotAllowed, response{Status: "rejected", Error: "callbacks are POSTed"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(r, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", h.maxBody))
			h.answer(w, http.StatusRequestEntityTooLarge, response{Status: "rejected", Error: fmt.Sprintf("body larger than %d bytes", h.maxBody)})
			return
		}
		h.answer(w, http.StatusBadRequest, response{Status: "rejected", Error: "could not read the body"})
		return
	}
	received := h.now()
	ctx := r.Context()

	m, err := h.verifier.Verify(ctx, r.Header, body)
	var replay *callback.ReplayError
	if errors.As(err, &replay) {
		h.redelivery(w, r, replay.Message, received)
		return
	}
	if err != nil {
		code := statusOf(err)
		h.reject(r, code, err)
		h.answer(w, code, response{Status: "rejected", Error: generic(code)})
		return
	}

	outcome, o, err := h.store.Apply(ctx, m, received)
	switch {
	case errors.Is(err, ErrManagementAccountChanged):
		h.reject(r, http.StatusForbidden, err)
		h.answer(w, http.StatusForbidden, response{Status: "rejected", ID: m.ID, Error: generic(http.StatusForbidden)})
		return
	case err != nil:
		h.log.Error("callback not stored", "webhookId", m.ID, "err", err)
		if ferr := h.verifier.Forget(ctx, m.ID); ferr != nil {
			h.log.Error("callback id not released", "webhookId", m.ID, "err", ferr)
		}
		h.answer(w, http.StatusInternalServerError, response{Status: "error", ID: m.ID, Error: "not stored; retry"})
		return
	}
	h.summary(received, outcome, m, o)
	h.answer(w, http.StatusOK, response{Status: string(outcome), ID: m.ID})
}

// redelivery answers an authentic callback whose id was accepted before:
// 2xx without processing if it was stored, 409 if it is still in flight.
func (h *Handler) redelivery(w http.ResponseWriter, r *http.Request, m *callback.Message, received time.Time) {
	seen, err := h.store.Seen(r.Context(), &m.Payload, m.ID)
	if err != nil {
		h.log.Error("stored events not readable", "webhookId", m.ID, "err", err)
		h.answer(w, http.StatusInternalServerError, response{Status: "error", ID: m.ID, Error: "could not check stored events; retry"})
		return
	}
	if !seen {
		h.reject(r, http.StatusConflict, callback.ErrReplay)
		h.answer(w, http.StatusConflict, response{Status: "rejected", ID: m.ID, Error: "this id is being processed"})
		return
	}
	h.summary(received, OutcomeDuplicate, m, nil)
	h.answer(w, http.StatusOK, response{Status: string(OutcomeDuplicate), ID: m.ID})
}

// generic is what a rejected caller is told: the status in words, never
// the verifier's detail, which helps only someone probing the endpoint.
// The detail goes to the log.
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

func (h *Handler) reject(r *http.Request, code int, err error) {
	// webhook-id is the sender's claim until verified; it is logged as such.
	h.log.Warn("callback rejected", "claimedWebhookId", r.Header.Get(callback.HeaderID), "status", code, "err", err)
}

func (h *Handler) answer(w http.ResponseWriter, code int, body response) {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// summary prints one line for an event handled.
func (h *Handler) summary(received time.Time, outcome Outcome, m *callback.Message, o *Onboarding) {
	p := &m.Payload
	counts := map[callback.Status]int{}
	for _, a := range p.Accounts {
		counts[a.Status]++
	}
	line := fmt.Sprintf("%s %-9s %-19s %s management=%s accounts=%d verified=%d gaps=%d finding=%d unverifiable=%d unreachable=%d asserted=%d id=%s",
		received.UTC().Format(time.RFC3339), outcome, p.Event, KeyOf(p), p.ManagementAccountID, len(p.Accounts),
		counts[callback.StatusVerified], counts[callback.StatusGaps], counts[callback.StatusFinding], counts[callback.StatusUnverifiable], counts[callback.StatusUnreachable],
		len(m.AssertedAccounts), m.ID)
	if o != nil {
		line += fmt.Sprintf(" status=%s total=%d", o.Status, len(o.Accounts))
	}
	if c := p.Counts; c != nil {
		// A scheduled run's tally of the whole organization (payload 1.3).
		line += fmt.Sprintf(" run: accounts=%d verified=%d gaps=%d finding=%d unverifiable=%d unreachable=%d", c.Accounts, c.Verified, c.Gaps, c.Finding, c.Unverifiable, c.Unreachable)
	}
	if p.PendingEvents != nil && *p.PendingEvents > 0 {
		line += fmt.Sprintf(" pending=%d", *p.PendingEvents)
	}
	if p.DroppedEvents != nil && *p.DroppedEvents > 0 {
		line += fmt.Sprintf(" dropped=%d", *p.DroppedEvents)
	}
	h.outMu.Lock()
	defer h.outMu.Unlock()
	fmt.Fprintln(h.out, line)
}
