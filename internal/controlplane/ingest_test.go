package controlplane

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/pgtest"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
	"github.com/rolecall/rolecall/internal/verify"
)

func sqliteDSN(t *testing.T) string { return filepath.Join(t.TempDir(), "vendor.db") }

func add(t *testing.T, in *instance, name string) *HandOver {
	t.Helper()
	h, err := in.svc.AddCustomer(t.Context(), AddRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCallbacksArePerCustomer(t *testing.T) {
	srv := emulatortest.Shared(t)
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), nil)
	ctx := t.Context()
	a, b := add(t, in, "Acme"), add(t, in, "Bee")
	now := time.Now().UTC().Truncate(time.Second)

	acme := newStack(t, srv, "300000000001", a.Secret)
	code, r := in.send(t, acme, acme.payload(callback.EventOnboardingCreated, "o-acme000001", now, role("300000000001", callback.StatusVerified), role("300000000011", callback.StatusVerified)))
	if code != http.StatusOK || r.Status != "stored" {
		t.Fatalf("Acme's first callback: %d %+v", code, r)
	}
	c, _ := in.db.Customer(ctx, a.CustomerID)
	if c.ManagementAccountID != "300000000001" {
		t.Fatalf("Acme is bound to %q, want 300000000001", c.ManagementAccountID)
	}

	// Bee, from its own account with its own secret, claims Acme's
	// organization: refused, and Acme's onboarding is untouched.
	bee := newStack(t, srv, "300000000002", b.Secret)
	code, _ = in.send(t, bee, bee.payload(callback.EventOnboardingUpdated, "o-acme000001", now, role("300000000002", callback.StatusFinding)))
	if code != http.StatusForbidden {
		t.Fatalf("Bee squatting Acme's organization: %d, want 403", code)
	}
	if org, _, _ := in.db.Onboarding(ctx, "o-acme000001"); org.CustomerID != a.CustomerID || org.Counts.Finding != 0 {
		t.Fatalf("after the squat: %+v", org)
	}

	// Acme's secret, leaked, used from another account: refused.
	thief := newStack(t, srv, "300000000003", a.Secret)
	code, _ = in.send(t, thief, thief.payload(callback.EventOnboardingCreated, "o-thief00001", now, role("300000000003", callback.StatusVerified)))
	if code != http.StatusForbidden {
		t.Fatalf("Acme's secret from another account: %d, want 403", code)
	}

	// Signed with Acme's secret but naming Bee's key: only Bee's secret is
	// tried, and it does not match.
	body, h := signedOf(t, acme, acme.payload(callback.EventAccountAdded, "o-acme000001", now.Add(time.Second), role("300000000012", callback.StatusVerified)))
	h.Set(callback.HeaderKeyID, b.KeyID)
	if code, _ := in.post(t, body, h); code != http.StatusUnauthorized {
		t.Fatalf("Acme's callback naming Bee's key: %d, want 401", code)
	}
	for name, edit := range map[string]func(http.Header){
		"no key id":      func(h http.Header) { h.Del(callback.HeaderKeyID) },
		"unknown key id": func(h http.Header) { h.Set(callback.HeaderKeyID, "rk_"+strings.Repeat("ab", 16)) },
		"garbage key id": func(h http.Header) { h.Set(callback.HeaderKeyID, "whsec_x") },
	} {
		h2 := h.Clone()
		edit(h2)
		if code, r := in.post(t, body, h2); code != http.StatusUnauthorized || r.Error != "not authenticated" {
			t.Errorf("%s: %d %+v, want 401 not authenticated", name, code, r)
		}
	}

	// A re-delivery: 200, not processed again.
	created := acme.payload(callback.EventOnboardingCreated, "o-acme000001", now, role("300000000001", callback.StatusVerified), role("300000000011", callback.StatusVerified))
	if code, r := in.send(t, acme, created); code != http.StatusOK || r.Status != string(ledger.OutcomeDuplicate) {
		t.Fatalf("re-delivery: %d %+v", code, r)
	}

	// Bee revoked: even its own organization is refused.
	if err := in.svc.RevokeCustomer(ctx, b.CustomerID, "contract ended"); err != nil {
		t.Fatal(err)
	}
	if code, _ := in.send(t, bee, bee.payload(callback.EventOnboardingCreated, "o-bee0000001", now, role("300000000002", callback.StatusVerified))); code != http.StatusForbidden {
		t.Fatalf("a revoked customer's callback: %d, want 403", code)
	}
	if n := strings.Count(in.out.String(), "stored"); n != 1 {
		t.Fatalf("summary lines:\n%s\nwant one stored", in.out.String())
	}
}

// send signs p as s's function would and delivers it to in.
func (in *instance) send(t *testing.T, s *stack, p callback.Payload) (int, response) {
	t.Helper()
	body, h := signedOf(t, s, p)
	return in.post(t, body, h)
}

func signedOf(t *testing.T, s *stack, p callback.Payload) ([]byte, http.Header) {
	t.Helper()
	return s.signed(t, emulatortest.Shared(t), p)
}

// Two instances on one PostgreSQL database behave as one: a callback the
// first stored is a re-delivery to the second, and one delivered to both
// at once is stored once.
func TestReplayAcrossTwoInstancesOnPostgres(t *testing.T) {
	srv := emulatortest.Shared(t)
	dsn := pgtest.Database(t)
	keys := testKeys(t)
	one, two := newInstance(t, srv, dsn, keys, nil), newInstance(t, srv, dsn, keys, nil)
	h := add(t, one, "Twin Corp")
	st := newStack(t, srv, "300000000021", h.Secret)
	now := time.Now().UTC().Truncate(time.Second)

	body, hdr := signedOf(t, st, st.payload(callback.EventOnboardingCreated, "o-twin000001", now, role("300000000021", callback.StatusVerified)))
	if code, r := one.post(t, body, hdr); code != http.StatusOK || r.Status != "stored" {
		t.Fatalf("first instance: %d %+v", code, r)
	}
	if code, r := two.post(t, body, hdr); code != http.StatusOK || r.Status != string(ledger.OutcomeDuplicate) {
		t.Fatalf("the same request at the second instance: %d %+v, want 200 duplicate", code, r)
	}

	for round := range 5 {
		body, hdr := signedOf(t, st, st.payload(callback.EventAccountAdded, "o-twin000001", now.Add(time.Duration(round+1)*time.Second), role("30000000003"+string(rune('0'+round)), callback.StatusVerified)))
		var wg sync.WaitGroup
		answers := make([]string, 2)
		for i, in := range []*instance{one, two} {
			wg.Go(func() {
				code, r := in.post(t, body, hdr)
				answers[i] = http.StatusText(code) + "/" + r.Status
			})
		}
		wg.Wait()
		stored := 0
		for _, a := range answers {
			switch a {
			case "OK/stored":
				stored++
			case "OK/duplicate", "Conflict/rejected":
			default:
				t.Fatalf("round %d: answer %q", round, a)
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %v; want exactly one stored", round, answers)
		}
	}
	events, err := one.db.CustomerEvents(t.Context(), h.CustomerID, 100)
	if err != nil {
		t.Fatal(err)
	}
	callbacks := 0
	for _, e := range events {
		if strings.HasPrefix(e.Event, "onboarding.") || strings.HasPrefix(e.Event, "account.") {
			callbacks++
		}
	}
	if callbacks != 6 {
		t.Fatalf("%d callbacks in the log, want 6 (each once)", callbacks)
	}
}

// The database holds no secret and no external ID in any readable form:
// not in a SQLite file, not in pg_dump's output.
func TestSecretsAreUnreadableInADatabaseDump(t *testing.T) {
	for _, engine := range []vendordb.Dialect{vendordb.SQLite, vendordb.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			ctx := t.Context()
			var dsn string
			if engine == vendordb.Postgres {
				dsn = pgtest.Database(t)
			} else {
				dsn = sqliteDSN(t)
			}
			in := newInstance(t, nil, dsn, testKeys(t), nil)
			var plain []string
			for _, name := range []string{"Acme", "Bee", "Cee"} {
				h := add(t, in, name)
				plain = append(plain, h.Secret, strings.TrimPrefix(h.Secret, callback.SecretPrefix), h.ExternalID, strings.TrimPrefix(h.ExternalID, testProfile(t).ID+"-"))
			}
			list, _ := in.db.ListCustomers(ctx, vendordb.ListOptions{})
			rot, err := in.svc.RotateExternalID(ctx, list[0].ID, false)
			if err != nil {
				t.Fatal(err)
			}
			plain = append(plain, rot.ExternalID, strings.TrimPrefix(rot.ExternalID, testProfile(t).ID+"-"))

			var dump []byte
			if engine == vendordb.Postgres {
				bin, err := pgtest.BinDir()
				if err != nil {
					t.Fatal(err)
				}
				dump, err = exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "--data-only", "--dbname", dsn).Output()
				if err != nil {
					t.Fatalf("pg_dump: %v", err)
				}
			} else {
				if err := in.db.Close(); err != nil { // checkpoint the WAL into the file
					t.Fatal(err)
				}
				matches, _ := filepath.Glob(dsn + "*")
				for _, f := range matches {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					dump = append(dump, b...)
				}
			}
			if !strings.Contains(string(dump), list[0].ID) || !strings.Contains(string(dump), "rcv1:k1:") {
				t.Fatalf("the dump (%d bytes) lacks the customers: the test reads the wrong thing", len(dump))
			}
			for _, p := range plain {
				if strings.Contains(string(dump), p) {
					t.Errorf("the dump holds %.12s…", p)
				}
			}
		})
	}
}

func TestRotationClosesOnTheStacksRotatedCallback(t *testing.T) {
	srv := emulatortest.Shared(t)
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), nil)
	ctx := t.Context()
	h := add(t, in, "Rota")
	st := newStack(t, srv, "300000000041", h.Secret)
	now := time.Now().UTC().Truncate(time.Second)
	if code, _ := in.send(t, st, st.payload(callback.EventOnboardingCreated, "o-rota000001", now, role("300000000041", callback.StatusVerified))); code != http.StatusOK {
		t.Fatal(code)
	}
	rot, err := in.svc.RotateExternalID(ctx, h.CustomerID, false)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Previous != h.ExternalID || rot.ExternalID == h.ExternalID || !strings.Contains(rot.Command, "ParameterKey=PreviousExternalId,ParameterValue="+h.ExternalID) ||
		!strings.Contains(rot.Command, "--stack-name vendor-onboarding") || !strings.Contains(rot.Command, "ParameterKey=CallbackSecret,UsePreviousValue=true") {
		t.Fatalf("rotation instructions:\n%+v", rot)
	}
	if _, err := in.svc.RotateExternalID(ctx, h.CustomerID, false); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("a second rotation: %v, want ErrRotationPending", err)
	}
	// An update that did not rotate leaves it open.
	if code, _ := in.send(t, st, st.payload(callback.EventOnboardingUpdated, "o-rota000001", now.Add(time.Second), role("300000000041", callback.StatusVerified))); code != http.StatusOK {
		t.Fatal(code)
	}
	if v, _ := in.svc.Customer(ctx, h.CustomerID, 10); v.PendingExternalID != rot.ExternalID || v.ExternalID != h.ExternalID {
		t.Fatalf("after an update without rotation: current %s, pending %s", v.ExternalID, v.PendingExternalID)
	}
	p := st.payload(callback.EventOnboardingUpdated, "o-rota000001", now.Add(2*time.Second), role("300000000041", callback.StatusVerified))
	p.ExternalIDRotated = true
	if code, _ := in.send(t, st, p); code != http.StatusOK {
		t.Fatal(code)
	}
	v, _ := in.svc.Customer(ctx, h.CustomerID, 10)
	if v.ExternalID != rot.ExternalID || v.PendingExternalID != "" || v.Customer.RotationStartedAt != nil {
		t.Fatalf("after the rotated callback: current %s, pending %s", v.ExternalID, v.PendingExternalID)
	}
	if v.Events[0].Event != vendordb.EventRotationClosed {
		t.Fatalf("last event %s, want %s", v.Events[0].Event, vendordb.EventRotationClosed)
	}
}

// stubConfirmer stands in for the vendor's AWS credentials (the rehearsal
// confirms through the emulator): it answers status for every role and
// keeps the external IDs it was asked with.
type stubConfirmer struct {
	mu     sync.Mutex
	status verify.Status
	ids    []string
	// orgs is the organization each account reports, if any.
	orgs map[string]*verify.Organization
}

func (s *stubConfirmer) Confirm(_ context.Context, roles []verify.Role) []verify.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []verify.Report
	for _, r := range roles {
		s.ids = append(s.ids, r.ExternalID)
		out = append(out, verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: s.status, Organization: s.orgs[r.AccountID]})
	}
	return out
}

func TestVendorConfirmationIsStoredAndClosesARotation(t *testing.T) {
	srv := emulatortest.Shared(t)
	stub := &stubConfirmer{status: verify.StatusUnreachable}
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), stub)
	ctx := t.Context()
	h := add(t, in, "Conf")
	st := newStack(t, srv, "300000000051", h.Secret)
	now := time.Now().UTC().Truncate(time.Second)
	post := func(p callback.Payload) {
		t.Helper()
		if code, r := in.send(t, st, p); code != http.StatusOK {
			t.Fatalf("%d %+v", code, r)
		}
		in.svc.WaitConfirmations()
	}
	post(st.payload(callback.EventOnboardingCreated, "o-conf000001", now, role("300000000051", callback.StatusVerified), role("300000000052", callback.StatusVerified)))
	org, _, _ := in.db.Onboarding(ctx, "o-conf000001")
	if org.ConfirmedAt == nil || org.Confirmed != 0 || org.ConfirmFailed != 2 {
		t.Fatalf("after an unreachable confirmation: %+v", org)
	}
	if v, _ := in.svc.Customer(ctx, h.CustomerID, 10); v.Status != StatusAttention {
		t.Fatalf("a customer the vendor cannot confirm is %s, want attention", v.Status)
	}
	rot, err := in.svc.RotateExternalID(ctx, h.CustomerID, false)
	if err != nil {
		t.Fatal(err)
	}
	// The stack says it rotated, but the vendor cannot assume with the new
	// value: the rotation stays open.
	p := st.payload(callback.EventOnboardingUpdated, "o-conf000001", now.Add(time.Second), role("300000000051", callback.StatusVerified), role("300000000052", callback.StatusVerified))
	p.ExternalIDRotated = true
	post(p)
	if v, _ := in.svc.Customer(ctx, h.CustomerID, 10); v.PendingExternalID == "" {
		t.Fatal("a rotation closed though the vendor could not assume with the new value")
	}
	stub.mu.Lock()
	stub.status = verify.StatusVerified
	stub.mu.Unlock()
	p = st.payload(callback.EventOnboardingUpdated, "o-conf000001", now.Add(2*time.Second), role("300000000051", callback.StatusVerified), role("300000000052", callback.StatusVerified))
	p.ExternalIDRotated = true
	post(p)
	v, _ := in.svc.Customer(ctx, h.CustomerID, 10)
	if v.PendingExternalID != "" || v.ExternalID != rot.ExternalID || v.Status != StatusVerified {
		t.Fatalf("after a confirmed rotation: current %s pending %q status %s", v.ExternalID, v.PendingExternalID, v.Status)
	}
	if c := v.Organizations[0].Confirmations["300000000052"]; c.Status != "verified" || c.ExternalID != "pending" {
		t.Fatalf("the confirmation of 300000000052: %+v", c)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if stub.ids[0] != h.ExternalID || stub.ids[len(stub.ids)-1] != rot.ExternalID {
		t.Fatalf("confirmed with %v; want the current ID first, the new one last", stub.ids)
	}
}

// signRaw signs any body as s's function would, without checking it.
func signRaw(t *testing.T, s *stack, id string, body []byte) http.Header {
	t.Helper()
	srv := emulatortest.Shared(t)
	signer, err := callback.NewSigner(callback.SignerConfig{Secrets: []string{s.secret}, Credentials: s.creds.Credentials,
		Audience: testProfile(t).Callback.Audience, STSEndpoint: srv.Endpoint(), STSRegion: srv.Region()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := signer.Sign(t.Context(), id, body)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Every refusal the endpoint makes, with its status, a generic answer (the
// detail goes to the log only), and nothing stored; and the failures that
// must let the sender's retry through.
func TestEndpointRefusalsAndRetries(t *testing.T) {
	srv := emulatortest.Shared(t)
	dsn := sqliteDSN(t)
	keys := testKeys(t)
	in := newInstance(t, srv, dsn, keys, nil)
	ctx := t.Context()
	h := add(t, in, "Refusals")
	st := newStack(t, srv, "300000000071", h.Secret)
	now := time.Now().UTC().Truncate(time.Second)
	created := st.payload(callback.EventOnboardingCreated, "o-refuse0001", now, role("300000000071", callback.StatusVerified))
	body, hdr := signedOf(t, st, created)

	generic := map[string]bool{"invalid callback": true, "not authenticated": true, "not allowed": true, "try again later": true, "Request Entity Too Large": true}
	refuse := func(name string, body []byte, h http.Header, want int) {
		t.Helper()
		code, r := in.post(t, body, h)
		if code != want || (r.Error != "" && !generic[r.Error] && !strings.HasPrefix(r.Error, "body larger than")) {
			t.Errorf("%s: %d %+v, want %d with a generic answer", name, code, r, want)
		}
	}
	tampered := bytes.Replace(body, []byte(`"verified"`), []byte(`"finding"`), 1)
	refuse("a tampered body", tampered, hdr, http.StatusUnauthorized)
	refuse("a payload that is not one", []byte(`{"version":"0"}`), signRaw(t, st, "evt_bad", []byte(`{"version":"0"}`)), http.StatusBadRequest)
	refuse("a body over the limit", bytes.Repeat([]byte("x"), 16<<20+1), hdr, http.StatusRequestEntityTooLarge)
	if _, _, err := in.db.Onboarding(ctx, "o-refuse0001"); !errors.Is(err, vendordb.ErrNotFound) {
		t.Fatalf("a refused callback was stored: %v", err)
	}

	// STS unreachable: 503 with Retry-After, and nothing remembered, so the
	// same callback is accepted once STS answers.
	down := newInstanceWithSTS(t, srv.Endpoint(), dsn, keys, &http.Client{Transport: unreachable{}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, down.ts.URL+down.path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := down.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("STS down: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// The store fails: 500, and the id is released for the retry.
	if _, err := in.db.SQL().ExecContext(ctx, "ALTER TABLE events RENAME TO events_away"); err != nil {
		t.Fatal(err)
	}
	code, _ := in.post(t, body, hdr)
	if _, err := in.db.SQL().ExecContext(ctx, "ALTER TABLE events_away RENAME TO events"); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusInternalServerError {
		t.Fatalf("a failing store: %d, want 500", code)
	}
	if code, r := in.post(t, body, hdr); code != http.StatusOK || r.Status != "stored" {
		t.Fatalf("the retry after a failed store: %d %+v, want stored", code, r)
	}

	// An id another instance has verified but not stored yet: 409, which
	// the sender retries after its backoff.
	next := st.payload(callback.EventAccountAdded, "o-refuse0001", now.Add(time.Second), role("300000000072", callback.StatusVerified))
	if ok, err := in.db.ReplayAdd(ctx, h.CustomerID, next.ID, now.Add(10*time.Minute), now); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if code, _ := in.send(t, st, next); code != http.StatusConflict {
		t.Fatalf("an id in flight: %d, want 409", code)
	}
}

// unreachable is a network on which STS does not answer.
type unreachable struct{}

func (unreachable) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("dial tcp: connection refused")
}

// newInstanceWithSTS is newInstance whose STS requests go through client.
func newInstanceWithSTS(t *testing.T, stsEndpoint, dsn string, keys *vault.Keyring, client *http.Client) *instance {
	t.Helper()
	return startInstance(t, dsn, keys, func(cfg *Config) {
		cfg.STSEndpoint, cfg.STSRegion, cfg.STSClient = stsEndpoint, "us-east-1", client
	})
}

// A customer who claims an organization first, from its own management
// account, is found out by the vendor's confirmation: its role reports its
// own organization. The claim lapses, and the organization's real
// management account takes it, proven.
func TestAFalseOrganizationClaimIsDisprovenAndLapses(t *testing.T) {
	srv := emulatortest.Shared(t)
	stub := &stubConfirmer{status: verify.StatusVerified, orgs: map[string]*verify.Organization{
		"300000000081": {ID: "o-real000001", ManagementAccountID: "300000000081"},
		"300000000082": {ID: "o-bees000001", ManagementAccountID: "300000000082"},
	}}
	in := newInstance(t, srv, sqliteDSN(t), testKeys(t), stub)
	ctx := t.Context()
	acme, bee := add(t, in, "Acme"), add(t, in, "Bee")
	now := time.Now().UTC().Truncate(time.Second)
	squatter := newStack(t, srv, "300000000082", bee.Secret)
	if code, r := in.send(t, squatter, squatter.payload(callback.EventOnboardingCreated, "o-real000001", now, role("300000000082", callback.StatusVerified))); code != 200 {
		t.Fatalf("the squatter's claim: %d %+v", code, r)
	}
	in.svc.WaitConfirmations()
	org, _, _ := in.db.Onboarding(ctx, "o-real000001")
	if org.Proof != vendordb.ProofDisproven || !strings.Contains(org.ProofDetail, "o-bees000001") {
		t.Fatalf("the squatter's claim after confirmation: %+v", org)
	}
	if v, _ := in.svc.Customer(ctx, bee.CustomerID, 10); v.Status != StatusAttention {
		t.Fatalf("the squatter's status: %s, want attention", v.Status)
	}
	owner := newStack(t, srv, "300000000081", acme.Secret)
	if code, r := in.send(t, owner, owner.payload(callback.EventOnboardingCreated, "o-real000001", now, role("300000000081", callback.StatusVerified))); code != 200 {
		t.Fatalf("the real management account's claim: %d %+v", code, r)
	}
	in.svc.WaitConfirmations()
	org, _, _ = in.db.Onboarding(ctx, "o-real000001")
	if org.CustomerID != acme.CustomerID || org.Proof != vendordb.ProofProven {
		t.Fatalf("after the real claim: %+v", org)
	}
	var c APICustomer
	if code := in.apiGet(t, "/api/v1/customers/"+acme.CustomerID, testToken, &c); code != 200 || c.Organizations[0].OrganizationProof != "proven" {
		t.Fatalf("the API: %d %+v", code, c.Organizations)
	}
}
