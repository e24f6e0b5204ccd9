package controlplane

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/vendordb"
)

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	// roleName shortens a role ARN to its path and name; the page shows
	// the whole ARN on hover.
	"roleName": func(arn string) string {
		if i := strings.Index(arn, ":role"); i >= 0 {
			return strings.TrimPrefix(arn[i+1:], "role")
		}
		return arn
	},
}).ParseFS(templateFiles, "templates/*.html"))

// EnvToken holds the operators' and ingestion systems' access token.
const EnvToken = "ROLECALL_VENDOR_TOKEN" //nolint:gosec // G101: a variable name, not a secret

// MinTokenLength bounds the access token from below.
const MinTokenLength = 24

// PageSize is the customers page's size.
const PageSize = 100

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// CallbackPath is where callbacks are POSTed: the path of the vendor
	// profile's callback URL.
	CallbackPath string
	// Token guards the page and the API (Authorization: Bearer TOKEN, or
	// HTTP basic auth with the token as password). At least 24 characters.
	Token string
}

// Handler returns the server's routes: the callback endpoint (open: each
// callback proves itself), /healthz, and, behind the token, the operators'
// page (/, /customers/{id}) and the JSON API (/api/v1/...).
func (s *Service) Handler(opts HandlerOptions) (http.Handler, error) {
	if len(opts.Token) < MinTokenLength {
		return nil, fmt.Errorf("the access token is %d characters; set $%s to at least %d random characters (for example: openssl rand -hex 24)", len(opts.Token), EnvToken, MinTokenLength)
	}
	if !strings.HasPrefix(opts.CallbackPath, "/") || strings.HasPrefix(opts.CallbackPath, "/api/") || opts.CallbackPath == "/" {
		return nil, fmt.Errorf("callback path %q: give the path of the profile's callback URL, such as /v1/aws/onboarding/callback", opts.CallbackPath)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+opts.CallbackPath, s.Callbacks())
	mux.HandleFunc(opts.CallbackPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, response{Status: "rejected", Error: "callbacks are POSTed"})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.db.SQL().PingContext(r.Context()); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	guard := func(h http.HandlerFunc) http.Handler { return tokenGuard(opts.Token, h) }
	mux.Handle("GET /{$}", guard(s.pageCustomers))
	mux.Handle("GET /customers/{id}", guard(s.pageCustomer))
	mux.Handle("GET /api/v1/customers", guard(s.apiCustomers))
	mux.Handle("GET /api/v1/customers/{id}", guard(s.apiCustomer))
	mux.Handle("GET /api/v1/changes", guard(s.apiChanges))
	return securityHeaders(mux), nil
}

// tokenGuard lets a request through with the token as a bearer token or
// as the basic-auth password, compared in constant time.
func tokenGuard(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := ""
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = strings.TrimSpace(b)
		} else if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="rolecall-vendor", charset="UTF-8"`)
			http.Error(w, "authentication required: the operator token as a bearer token or basic-auth password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type statusCount struct {
	Status string
	N      int
}

type customerRow struct {
	ID, Name, Status, Management string
	Rotating                     bool
	Orgs                         []*vendordb.Organization
	Counts                       callback.Counts
	Confirmed, ConfirmFailed     int
	ConfirmedAt                  bool
	UpdatedAt, Created           string
}

func rowOf(l *vendordb.Listed) customerRow {
	r := customerRow{ID: l.ID, Name: l.Name, Management: l.ManagementAccountID, Rotating: l.RotationStartedAt != nil, Orgs: l.Organizations,
		Status: StatusOf(l.RevokedAt != nil, l.Organizations), Created: l.CreatedAt.Format(time.DateOnly)}
	var last time.Time
	for _, o := range l.Organizations {
		r.Counts.Merge(o.Counts)
		r.Confirmed += o.Confirmed
		r.ConfirmFailed += o.ConfirmFailed
		r.ConfirmedAt = r.ConfirmedAt || o.ConfirmedAt != nil
		if o.UpdatedAt.After(last) {
			last = o.UpdatedAt
		}
	}
	if !last.IsZero() {
		r.UpdatedAt = last.Format("2006-01-02 15:04")
	}
	return r
}

func (s *Service) pageCustomers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	list, err := s.db.ListCustomers(ctx, vendordb.ListOptions{AfterName: q.Get("after_name"), AfterID: q.Get("after_id"), Limit: PageSize})
	if err != nil {
		s.serverError(w, err)
		return
	}
	totals, err := s.db.Totals(ctx)
	if err != nil {
		s.serverError(w, err)
		return
	}
	counts, err := s.db.CustomerStatusCounts(ctx)
	if err != nil {
		s.serverError(w, err)
		return
	}
	data := struct {
		Title, Vendor, Next string
		Totals              *vendordb.Totals
		StatusCounts        []statusCount
		Rows                []customerRow
	}{Title: "Customers", Vendor: s.profile.Name, Totals: totals}
	for _, st := range Statuses() {
		data.StatusCounts = append(data.StatusCounts, statusCount{st, counts[st]})
	}
	for _, l := range list {
		data.Rows = append(data.Rows, rowOf(l))
	}
	if len(list) == PageSize {
		last := list[len(list)-1]
		data.Next = "/?" + url.Values{"after_name": {last.Name}, "after_id": {last.ID}}.Encode()
	}
	s.render(w, "customers.html", data)
}

type accountRow struct {
	A         callback.Account
	Confirmed string
}

type orgPage struct {
	Key      string
	Row      *vendordb.Organization
	O        *ledger.Onboarding
	Counts   []statusCount
	Accounts []accountRow
	Timeline []ledger.TimelineEntry
}

func (s *Service) pageCustomer(w http.ResponseWriter, r *http.Request) {
	v, err := s.Customer(r.Context(), r.PathValue("id"), 100)
	if errors.Is(err, vendordb.ErrNotFound) {
		http.Error(w, "no such customer", http.StatusNotFound)
		return
	}
	if err != nil {
		s.serverError(w, err)
		return
	}
	data := struct {
		Title, Vendor string
		C             *CustomerView
		Orgs          []orgPage
	}{Title: v.Customer.Name, Vendor: s.profile.Name, C: v}
	for _, ov := range v.Organizations {
		p := orgPage{Key: ov.Row.Key, Row: ov.Row, O: ov.Onboarding}
		c := callback.CountsOf(ov.Onboarding.Accounts)
		for _, st := range []struct {
			name string
			n    int
		}{{"verified", c.Verified}, {"gaps", c.Gaps}, {"finding", c.Finding}, {"unverifiable", c.Unverifiable}, {"unreachable", c.Unreachable}} {
			p.Counts = append(p.Counts, statusCount{st.name, st.n})
		}
		for _, a := range ov.Onboarding.Accounts {
			p.Accounts = append(p.Accounts, accountRow{A: a, Confirmed: ov.Confirmations[a.AccountID].Status})
		}
		// Newest first on the page.
		for i := len(ov.Onboarding.Timeline) - 1; i >= 0; i-- {
			p.Timeline = append(p.Timeline, ov.Onboarding.Timeline[i])
		}
		data.Orgs = append(data.Orgs, p)
	}
	s.render(w, "customer.html", data)
}

func (s *Service) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.serverError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (s *Service) serverError(w http.ResponseWriter, err error) {
	s.log.Error("operator request failed", "err", err)
	http.Error(w, "internal error; see the server's log", http.StatusInternalServerError)
}

// APICustomer is a customer in the JSON API: what an ingestion system needs.
type APICustomer struct {
	ID                  string     `json:"id"`
	Name                string     `json:"name"`
	Status              string     `json:"status"`
	ManagementAccountID string     `json:"management_account_id,omitempty"`
	Revoked             bool       `json:"revoked"`
	RotationPending     bool       `json:"rotation_pending"`
	Organizations       []APIOrg   `json:"organizations"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           *time.Time `json:"updated_at,omitempty"`
}

// APIOrg is one organization: its roles, CUR and regions.
type APIOrg struct {
	Key              string          `json:"org_key"`
	OrganizationID   string          `json:"organization_id,omitempty"`
	Status           string          `json:"status"`
	Counts           callback.Counts `json:"counts"`
	CUR              *callback.CUR   `json:"cur,omitempty"`
	InventoryRegions []string        `json:"inventory_regions,omitempty"`
	Roles            []APIRole       `json:"roles,omitempty"`
	VendorConfirmed  int             `json:"vendor_confirmed"`
	ConfirmedAt      *time.Time      `json:"vendor_confirmed_at,omitempty"`
	// OrganizationProof is "proven" when the management account's role
	// reports this organization, "disproven" when a role reports another
	// (the claim then lapses), empty until the vendor's confirmation.
	OrganizationProof string `json:"organization_proof,omitempty"`
}

// APIRole is one role to ingest with.
type APIRole struct {
	AccountID       string `json:"account_id"`
	RoleARN         string `json:"role_arn"`
	Status          string `json:"status"`
	VendorConfirmed string `json:"vendor_confirmed,omitempty"`
}

func (s *Service) apiCustomers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", PageSize, 1, 1000)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	list, err := s.db.ListCustomers(r.Context(), vendordb.ListOptions{AfterName: q.Get("after_name"), AfterID: q.Get("after_id"), Limit: limit})
	if err != nil {
		s.log.Error("api", "err", err)
		apiError(w, http.StatusInternalServerError, errors.New("could not read customers; retry"))
		return
	}
	out := struct {
		Customers []APICustomer `json:"customers"`
		Next      string        `json:"next,omitempty"`
	}{Customers: []APICustomer{}}
	for _, l := range list {
		c := APICustomer{ID: l.ID, Name: l.Name, Status: StatusOf(l.RevokedAt != nil, l.Organizations), ManagementAccountID: l.ManagementAccountID,
			Revoked: l.RevokedAt != nil, RotationPending: l.RotationStartedAt != nil, CreatedAt: l.CreatedAt, Organizations: []APIOrg{}}
		for _, o := range l.Organizations {
			u := o.UpdatedAt
			c.UpdatedAt = &u
			c.Organizations = append(c.Organizations, APIOrg{Key: o.Key, Status: o.Status, Counts: o.Counts, VendorConfirmed: o.Confirmed, ConfirmedAt: o.ConfirmedAt,
				OrganizationProof: string(o.Proof)})
		}
		out.Customers = append(out.Customers, c)
	}
	if len(list) == limit {
		last := list[len(list)-1]
		out.Next = "/api/v1/customers?" + url.Values{"after_name": {last.Name}, "after_id": {last.ID}, "limit": {strconv.Itoa(limit)}}.Encode()
	}
	apiJSON(w, out)
}

func (s *Service) apiCustomer(w http.ResponseWriter, r *http.Request) {
	v, err := s.Customer(r.Context(), r.PathValue("id"), 0)
	if errors.Is(err, vendordb.ErrNotFound) {
		apiError(w, http.StatusNotFound, errors.New("no such customer"))
		return
	}
	if err != nil {
		s.log.Error("api", "err", err)
		apiError(w, http.StatusInternalServerError, errors.New("could not read the customer; retry"))
		return
	}
	c := v.Customer
	out := APICustomer{ID: c.ID, Name: c.Name, Status: v.Status, ManagementAccountID: c.ManagementAccountID, Revoked: c.RevokedAt != nil,
		RotationPending: c.RotationStartedAt != nil, CreatedAt: c.CreatedAt, Organizations: []APIOrg{}}
	for _, ov := range v.Organizations {
		o := ov.Onboarding
		u := ov.Row.UpdatedAt
		out.UpdatedAt = &u
		org := APIOrg{Key: ov.Row.Key, OrganizationID: o.OrganizationID, Status: o.Status, Counts: ov.Row.Counts, InventoryRegions: o.InventoryRegions,
			VendorConfirmed: ov.Row.Confirmed, ConfirmedAt: ov.Row.ConfirmedAt, OrganizationProof: string(ov.Row.Proof)}
		if o.CUR.Bucket != "" {
			cur := o.CUR
			org.CUR = &cur
		}
		for _, a := range o.Accounts {
			org.Roles = append(org.Roles, APIRole{AccountID: a.AccountID, RoleARN: a.RoleARN, Status: string(a.Status), VendorConfirmed: ov.Confirmations[a.AccountID].Status})
		}
		out.Organizations = append(out.Organizations, org)
	}
	apiJSON(w, out)
}

// APIChange is one entry of the changes feed.
type APIChange struct {
	Seq        int64           `json:"seq"`
	CustomerID string          `json:"customer_id"`
	OrgKey     string          `json:"org_key,omitempty"`
	EventID    string          `json:"event_id"`
	Event      string          `json:"event"`
	Outcome    string          `json:"outcome"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Detail     json.RawMessage `json:"detail"`
}

func (s *Service) apiChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := intParam(q, "after", 0, 0, 1<<62)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	limit, err := intParam(q, "limit", 500, 1, 5000)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	customer := q.Get("customer")
	if customer != "" {
		if err := checkCustomerID(customer); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
	}
	events, err := s.db.Changes(r.Context(), int64(after), limit, customer)
	if err != nil {
		s.log.Error("api", "err", err)
		apiError(w, http.StatusInternalServerError, errors.New("could not read changes; retry"))
		return
	}
	out := struct {
		Changes []APIChange `json:"changes"`
		// Cursor is the after= of the next request.
		Cursor int64 `json:"cursor"`
	}{Changes: []APIChange{}, Cursor: int64(after)}
	for _, e := range events {
		out.Changes = append(out.Changes, APIChange{Seq: e.Seq, CustomerID: e.CustomerID, OrgKey: e.OrgKey, EventID: e.EventID, Event: e.Event,
			Outcome: e.Outcome, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt, Detail: e.Entry})
		out.Cursor = e.Seq
	}
	apiJSON(w, out)
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	raw := q.Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, raw, lo, hi)
	}
	return n, nil
}

func apiJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func apiError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
