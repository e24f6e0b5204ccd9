package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/callback"
)

const (
	mgmt     = "123456789012"
	otherAcc = "999988887777"
	orgID    = "o-a1b2c3d4e5"
	audience = "hooks.vendor.example"
	secret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wrong    = "whsec_c2VjcmV0LXR3by1mb3ItdGVzdHMtb25seS0zMmJ5dGVz"
)

var base = time.Date(2026, 11, 2, 10, 15, 0, 0, time.UTC)

// Access keys the fake STS knows, by account.
var keys = map[string]string{
	"AKIAMANAGEMENT000001": mgmt, "AKIAOTHERACCOUNT0001": otherAcc,
	"AKIADELEGATEDADMIN01": member(7), "AKIAROGUEACCOUNT0001": member(8),
}

func keyOf(account string) string {
	for k, a := range keys {
		if a == account {
			return k
		}
	}
	panic(account)
}

// fakeSTS answers GetCallerIdentity for the access key in the
// Authorization header, without checking the signature (package callback
// checks the wire against moto). down makes it fail.
type fakeSTS struct {
	mu   sync.Mutex
	down bool
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		http.Error(w, "<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>", 500)
		return
	}
	m := regexp.MustCompile(`Credential=([A-Z0-9]+)/`).FindStringSubmatch(r.Header.Get("Authorization"))
	account, ok := "", false
	if m != nil {
		account, ok = keys[m[1]]
	}
	if !ok {
		w.WriteHeader(403)
		fmt.Fprint(w, "<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>unknown key</Message></Error></ErrorResponse>")
		return
	}
	fmt.Fprintf(w, "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::%s:assumed-role/rolecall-onboarding/fn</Arn>"+
		"<UserId>AROAEXAMPLE:fn</UserId><Account>%s</Account></GetCallerIdentityResult></GetCallerIdentityResponse>", account, account)
}

func (f *fakeSTS) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe to read while a server writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// env is a receiver behind httptest, with its STS.
type env struct {
	t        *testing.T
	sts      *fakeSTS
	stsURL   string
	store    *Store
	verifier *callback.Verifier
	out      *syncBuffer
	server   *httptest.Server
}

func newEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	e := &env{t: t, sts: &fakeSTS{}, out: &syncBuffer{}}
	stsSrv := httptest.NewServer(e.sts)
	t.Cleanup(stsSrv.Close)
	e.stsURL = stsSrv.URL
	var err error
	if e.store, err = OpenStore(filepath.Join(t.TempDir(), "onboardings")); err != nil {
		t.Fatal(err)
	}
	e.verifier = e.newVerifier()
	cfg := Config{Verifier: e.verifier, Store: e.store, Out: e.out, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return base }}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.server = httptest.NewServer(h)
	t.Cleanup(e.server.Close)
	return e
}

func (e *env) newVerifier() *callback.Verifier {
	v, err := callback.NewVerifier(callback.VerifierConfig{
		Secrets: []string{secret}, Audience: audience, STSEndpoint: e.stsURL, Now: func() time.Time { return base },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// signer signs as a session of account, with secretValue.
func (e *env) signer(account, secretValue string) *callback.Signer {
	s, err := callback.NewSigner(callback.SignerConfig{
		Secrets:     []string{secretValue},
		Credentials: credentials.NewStaticCredentialsProvider(keyOf(account), "secret", ""),
		Audience:    audience,
		STSEndpoint: e.stsURL,
		Now:         func() time.Time { return base },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) sender(account string) *callback.Sender {
	s, err := callback.NewSender(callback.SenderConfig{
		Signer:        e.signer(account, secret),
		AllowLoopback: true,
		Sleep:         func(context.Context, time.Duration) error { return nil },
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) deliver(p callback.Payload) (callback.Result, error) {
	e.t.Helper()
	return e.sender(p.ManagementAccountID).Deliver(e.t.Context(), e.server.URL+"/hooks/rolecall", p)
}

// post sends body with h and returns the status and answer.
func (e *env) post(h http.Header, body []byte) (int, response) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.server.URL, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

func (e *env) files() []string {
	e.t.Helper()
	entries, err := os.ReadDir(e.store.Dir())
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	return names
}

func member(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

func acct(id string, status callback.Status) callback.Account {
	return callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/rolecall/VendorReadOnly", Status: status}
}

// payload builds a payload of event for the management account and
// accounts, occurring at base+at.
func payload(event callback.Event, management, request string, at time.Duration, accounts ...callback.Account) callback.Payload {
	stack := "arn:aws:cloudformation:us-east-1:" + management + ":stack/rolecall-onboarding/1f2e3d4c-5b6a-4789-9abc-def012345678"
	p := callback.Payload{
		Event: event, OccurredAt: base.Add(at), OrganizationID: orgID, ManagementAccountID: management,
		StackID: stack, Region: "us-east-1", Accounts: accounts,
		CUR:              callback.CUR{Bucket: "acme-cur-reports", Prefix: "cur/"},
		InventoryRegions: []string{"us-east-1"},
		PermissionSet:    callback.PermissionSet{Version: "2026-11.1", Digest: "sha256:" + strings.Repeat("ab", 32)},
	}
	p.ID = callback.EventID(event, stack, request, p.RoleARNs())
	return p
}

func accountIDs(o *Onboarding) []string {
	var ids []string
	for _, a := range o.Accounts {
		ids = append(ids, a.AccountID)
	}
	return ids
}

func TestReceiverStoresAVerifiedCallback(t *testing.T) {
	e := newEnv(t, nil)
	p := payload(callback.EventOnboardingCreated, mgmt, "req-1", 0,
		acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusGaps), acct(member(0), callback.StatusUnreachable))

	res, err := e.deliver(p)
	if err != nil || !res.Delivered || res.StatusCode != 200 || res.Attempts != 1 {
		t.Fatalf("Deliver: %v, %+v", err, res)
	}
	o, err := e.store.Get(t.Context(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{mgmt, member(0), member(1)}; !slices.Equal(accountIDs(o), want) {
		t.Errorf("accounts %v, want %v (sorted)", accountIDs(o), want)
	}
	if o.Status != StatusActive || o.ManagementAccountID != mgmt || o.LastEvent.ID != p.ID || !slices.Equal(o.EventIDs, []string{p.ID}) {
		t.Errorf("stored %+v", o)
	}
	if o.CallerARN != "arn:aws:sts::"+mgmt+":assumed-role/rolecall-onboarding/fn" {
		t.Errorf("caller ARN %q", o.CallerARN)
	}
	if files := e.files(); !slices.Equal(files, []string{orgID + ".json"}) {
		t.Errorf("data dir holds %v, want only %s.json", files, orgID)
	}
	lines := e.out.Lines()
	if len(lines) != 1 {
		t.Fatalf("summary lines %q, want one", lines)
	}
	for _, want := range []string{"stored", "onboarding.created", orgID, "management=" + mgmt, "accounts=3", "verified=1", "gaps=1", "unreachable=1", "asserted=2", "id=" + p.ID} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("summary %q lacks %q", lines[0], want)
		}
	}
}

func TestReceiverMergesEvents(t *testing.T) {
	e := newEnv(t, nil)
	steps := []struct {
		p          callback.Payload
		wantStatus string
		wantIDs    []string
	}{
		{payload(callback.EventOnboardingCreated, mgmt, "c", 0, acct(mgmt, callback.StatusVerified), acct(member(0), callback.StatusVerified), acct(member(1), callback.StatusVerified)),
			StatusActive, []string{mgmt, member(0), member(1)}},
		{payload(callback.EventAccountAdded, mgmt, "e1", time.Minute, acct(member(2), callback.StatusVerified), acct(member(1), callback.StatusGaps)),
			StatusActive, []string{mgmt, member(0), member(1), member(2)}},
		{payload(callback.EventAccountRemoved, mgmt, "e2", 2*time.Minute, acct(member(0), callback.StatusVerified)),
			StatusActive, []string{mgmt, member(1), member(2)}},
		// An update replaces the set.
		{payload(callback.EventOnboardingUpdated, mgmt, "u", 3*time.Minute, acct(mgmt, callback.StatusVerified), acct(member(3), callback.StatusVerified)),
			StatusActive, []string{mgmt, member(3)}},
		// An event older than the last applied one is recorded, not applied.
		{payload(callback.EventAccountAdded, mgmt, "late", 90*time.Second, acct(member(9), callback.StatusVerified)),
			StatusActive, []string{mgmt, member(3)}},
		{payload(callback.EventOnboardingDeleted, mgmt, "d", 4*time.Minute),
			StatusPaused, []string{mgmt, member(3)}},
		{payload(callback.EventOnboardingCreated, mgmt, "again", 5*time.Minute, acct(mgmt, callback.StatusVerified)),
			StatusActive, []string{mgmt}},
	}
	for i, s := range steps {
		if _, err := e.deliver(s.p); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.p.Event, err)
		}
		o, err := e.store.Get(t.Context(), orgID)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != s.wantStatus || !slices.Equal(accountIDs(o), s.wantIDs) {
			t.Errorf("after step %d (%s): %s %v, want %s %v", i, s.p.Event, o.Status, accountIDs(o), s.wantStatus, s.wantIDs)
		}
	}
	if lines := e.out.Lines(); !strings.Contains(lines[4], "stale") {
		t.Errorf("summary of the late event %q does not say stale", lines[4])
	}
	o, _ := e.store.Get(t.Context(), orgID)
	if o.Accounts[0].Status != callback.StatusVerified || len(o.EventIDs) != len(steps) {
		t.Errorf("final onboarding %+v", o)
	}
}

// The scheduled re-verification's events (payload 1.3): a drift and a
// restoration change the accounts they name, a heartbeat only its digest,
// and the timeline lists every event accepted, in order, with what changed.
func TestReceiverKeepsATimelineOfScheduledEvents(t *testing.T) {
	e := newEnv(t, nil)
	drifted := acct(member(1), callback.StatusFinding)
	drifted.PreviousStatus = callback.StatusVerified
	restored := acct(member(1), callback.StatusVerified)
	restored.PreviousStatus = callback.StatusFinding
	heartbeat := payload(callback.EventHeartbeat, mgmt, "hb", 3*time.Minute)
	pending := 0
	heartbeat.Counts = &callback.Counts{Accounts: 3, Verified: 3}
	heartbeat.PendingEvents = &pending
	steps := []callback.Payload{
		payload(callback.EventOnboardingCreated, mgmt, "c", 0, acct(mgmt, callback.StatusVerified), acct(member(0), callback.StatusVerified), acct(member(1), callback.StatusVerified)),
		payload(callback.EventVerificationDrifted, mgmt, "s1", time.Minute, drifted),
		payload(callback.EventVerificationRestored, mgmt, "s2", 2*time.Minute, restored),
		heartbeat,
		payload(callback.EventAccountAdded, mgmt, "s3", 4*time.Minute, acct(member(2), callback.StatusGaps)),
	}
	for i, p := range steps {
		if _, err := e.deliver(p); err != nil {
			t.Fatalf("step %d (%s): %v", i, p.Event, err)
		}
		o, err := e.store.Get(t.Context(), orgID)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 && (o.Accounts[2].AccountID != member(1) || o.Accounts[2].Status != callback.StatusFinding || o.Accounts[2].PreviousStatus != "") {
			t.Errorf("after the drift, member 1 is %+v; want finding (the change is in the timeline)", o.Accounts[2])
		}
	}
	o, err := e.store.Get(t.Context(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Accounts[2].Status != callback.StatusVerified || len(o.Accounts) != 4 {
		t.Errorf("accounts %+v, want member 1 verified again and member 2 added", o.Accounts)
	}
	if o.Heartbeat == nil || o.Heartbeat.Counts.Verified != 3 || !o.Heartbeat.At.Equal(base.Add(3*time.Minute)) || o.Heartbeat.Pending == nil {
		t.Errorf("heartbeat %+v", o.Heartbeat)
	}
	if len(o.Timeline) != len(steps) {
		t.Fatalf("timeline has %d entries, want %d", len(o.Timeline), len(steps))
	}
	for i, p := range steps {
		if got := o.Timeline[i]; got.ID != p.ID || got.Event != p.Event || !got.OccurredAt.Equal(p.OccurredAt) || got.Stale {
			t.Errorf("timeline[%d] = %+v, want %s %s", i, got, p.Event, p.ID)
		}
	}
	if c := o.Timeline[0].Counts; c == nil || c.Accounts != 3 || c.Verified != 3 {
		t.Errorf("the creation is kept as counts: %+v", c)
	}
	if ch := o.Timeline[1].Accounts; len(ch) != 1 || ch[0].AccountID != member(1) || ch[0].Status != callback.StatusFinding || ch[0].PreviousStatus != callback.StatusVerified {
		t.Errorf("the drift is kept as the account's change: %+v", ch)
	}
	if lines := e.out.Lines(); !strings.Contains(lines[3], "run: accounts=3 verified=3 gaps=0") {
		t.Errorf("the heartbeat's summary %q does not give the run's counts", lines[3])
	}
	// A re-delivery adds nothing to the timeline.
	if _, err := e.deliver(steps[1]); err != nil {
		t.Fatal(err)
	}
	if o, _ := e.store.Get(t.Context(), orgID); len(o.Timeline) != len(steps) {
		t.Errorf("a duplicate was added to the timeline: %d entries", len(o.Timeline))
	}
}

// A failed creation never opens the onboarding; a failed update records
// what was found but keeps the settings the stack rolled back to; a
// deletion carries each account's last known status.
func TestReceiverKeepsHonestRecords(t *testing.T) {
	e := newEnv(t, nil)
	finding := acct(member(1), callback.StatusFinding)
	finding.Findings = []callback.Finding{{Kind: "all_actions", Source: "attached policy arn:aws:iam::" + member(1) + ":policy/Admin", PolicyType: "managed", Action: "*", Detail: "d"}}
	failed := payload(callback.EventVerificationFailed, mgmt, "create-failed", 0, acct(mgmt, callback.StatusVerified), finding)
	if _, err := e.deliver(failed); err != nil {
		t.Fatal(err)
	}
	o, _ := e.store.Get(t.Context(), orgID)
	if o.Status != StatusFailed || len(o.Accounts) != 2 || len(o.Accounts[1].Findings) != 1 || o.Accounts[1].Findings[0].Action != "*" {
		t.Fatalf("after a failed creation: %+v", o)
	}

	created := payload(callback.EventOnboardingCreated, mgmt, "create", time.Minute, acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusVerified))
	if _, err := e.deliver(created); err != nil {
		t.Fatal(err)
	}
	updateFailed := payload(callback.EventVerificationFailed, mgmt, "update-failed", 2*time.Minute, acct(member(1), callback.StatusUnverifiable))
	updateFailed.CUR.Bucket = "new-bucket-rolled-back"
	if _, err := e.deliver(updateFailed); err != nil {
		t.Fatal(err)
	}
	o, _ = e.store.Get(t.Context(), orgID)
	if o.Status != StatusActive || o.CUR.Bucket != created.CUR.Bucket || o.Accounts[1].Status != callback.StatusUnverifiable || o.Accounts[0].Status != callback.StatusVerified {
		t.Fatalf("after a failed update: status %s, CUR %s, accounts %+v", o.Status, o.CUR.Bucket, o.Accounts)
	}

	deleted := payload(callback.EventOnboardingDeleted, mgmt, "delete", 3*time.Minute, acct(mgmt, callback.StatusVerified), acct(member(1), callback.StatusUnverifiable))
	if _, err := e.deliver(deleted); err != nil {
		t.Fatal(err)
	}
	o, _ = e.store.Get(t.Context(), orgID)
	if o.Status != StatusPaused || o.Accounts[1].Status != callback.StatusUnverifiable {
		t.Fatalf("after deletion: %s %+v", o.Status, o.Accounts)
	}
}

func TestReceiverAnswersARedeliveryWithoutReprocessing(t *testing.T) {
	e := newEnv(t, nil)
	p := payload(callback.EventOnboardingCreated, mgmt, "req-1", 0, acct(mgmt, callback.StatusVerified))
	if _, err := e.deliver(p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.store.Dir(), orgID+".json")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("re-delivered: 2xx, not processed", func(t *testing.T) {
		res, err := e.deliver(p)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("Deliver: %v, %+v", err, res)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Error("the stored file changed")
		}
		if lines := e.out.Lines(); !strings.Contains(lines[len(lines)-1], "duplicate") {
			t.Errorf("summary %q does not say duplicate", lines[len(lines)-1])
		}
	})
	t.Run("re-delivered after a restart (empty replay cache)", func(t *testing.T) {
		h, err := New(Config{Verifier: e.newVerifier(), Store: e.store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		res, err := e.sender(mgmt).Deliver(t.Context(), srv.URL, p)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("Deliver: %v, %+v", err, res)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Error("the stored file changed")
		}
	})
	t.Run("an id verified but not yet stored: 409", func(t *testing.T) {
		q := payload(callback.EventAccountAdded, mgmt, "in-flight", time.Minute, acct(member(5), callback.StatusVerified))
		body, err := q.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h, err := e.signer(mgmt, secret).Sign(t.Context(), q.ID, body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.verifier.Verify(t.Context(), h, body); err != nil { // as if another request were processing it
			t.Fatal(err)
		}
		res, err := e.deliver(q)
		if !errors.Is(err, callback.ErrRejected) || res.StatusCode != http.StatusConflict {
			t.Fatalf("Deliver: %v, %+v; want 409", err, res)
		}
	})
}

func TestReceiverRejects(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	// The organization is on record under mgmt.
	if _, err := e.deliver(payload(callback.EventOnboardingCreated, mgmt, "first", 0, acct(mgmt, callback.StatusVerified))); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(e.store.Dir(), orgID+".json"))

	p := payload(callback.EventOnboardingUpdated, mgmt, "next", time.Minute, acct(mgmt, callback.StatusVerified))
	sign := func(s *callback.Signer, p callback.Payload) (http.Header, []byte) {
		body, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Sign(t.Context(), p.ID, body)
		if err != nil {
			t.Fatal(err)
		}
		return h, body
	}
	good, body := sign(e.signer(mgmt, secret), p)

	big := p
	for i := range 2000 {
		big.Accounts = append(big.Accounts, acct(member(i), callback.StatusVerified))
	}
	bigH, bigBody := sign(e.signer(mgmt, secret), big)

	claim := payload(callback.EventOnboardingCreated, otherAcc, "takeover", time.Minute, acct(otherAcc, callback.StatusVerified))
	claimH, claimBody := sign(e.signer(otherAcc, secret), claim)

	badPayload := []byte(strings.Replace(string(body), `"onboarding.updated"`, `"onboarding.exploded"`, 1))
	badH, err := e.signer(mgmt, secret).Sign(t.Context(), p.ID, badPayload)
	if err != nil {
		t.Fatal(err)
	}
	wrongH, _ := sign(e.signer(mgmt, wrong), p)
	asOther := good.Clone()
	otherH, _ := sign(e.signer(otherAcc, secret), p)
	asOther.Set(callback.HeaderIdentityProof, otherH.Get(callback.HeaderIdentityProof))

	tests := []struct {
		name    string
		method  string
		h       http.Header
		body    []byte
		stsDown bool
		want    int
	}{
		{name: "bad signature", h: wrongH, body: body, want: 401},
		{name: "tampered body", h: good, body: bytes.Replace(body, []byte("acme-cur-reports"), []byte("evil-cur-reports"), 1), want: 401},
		{name: "no headers", h: http.Header{}, body: body, want: 401},
		{name: "identity proof of another account", h: asOther, body: body, want: 401},
		{name: "signed body that is not a payload", h: badH, body: badPayload, want: 400},
		{name: "body over the limit", h: bigH, body: bigBody, want: 413},
		{name: "STS down", h: good, body: body, stsDown: true, want: 503},
		{name: "organization claimed by another management account", h: claimH, body: claimBody, want: 403},
		{name: "GET", method: http.MethodGet, h: good, body: nil, want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.sts.setDown(tt.stsDown)
			defer e.sts.setDown(false)
			var code int
			var r response
			if tt.method == http.MethodGet {
				resp, err := http.Get(e.server.URL)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = resp.StatusCode
			} else {
				code, r = e.post(tt.h.Clone(), tt.body)
			}
			if code != tt.want {
				t.Errorf("status %d (%+v), want %d", code, r, tt.want)
			}
			if code != 405 && (r.Status == "" || r.Error == "") {
				t.Errorf("answer %+v lacks a status and a reason", r)
			}
			// The caller learns the status in words, never the verifier's
			// detail: that is for the log.
			for _, detail := range []string{"signature", "proof", "digest", "STS", "account", "payload", "schema", "header", orgID, mgmt} {
				if strings.Contains(r.Error, detail) {
					t.Errorf("answer %q gives away detail %q", r.Error, detail)
				}
			}
			if after, _ := os.ReadFile(filepath.Join(e.store.Dir(), orgID+".json")); !bytes.Equal(after, before) {
				t.Error("a rejected callback changed the stored onboarding")
			}
		})
	}
	// After STS came back, the same callback is accepted: the 503 did not
	// burn its id.
	if code, r := e.post(good.Clone(), body); code != 200 || r.Status != "stored" {
		t.Errorf("after STS recovered: %d %+v, want 200 stored", code, r)
	}
}

func TestStoreWritesAtomically(t *testing.T) {
	t.Run("a failed write leaves the old file whole and no temporary file", func(t *testing.T) {
		e := newEnv(t, nil)
		if _, err := e.deliver(payload(callback.EventOnboardingCreated, mgmt, "a", 0, acct(mgmt, callback.StatusVerified))); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(e.store.Dir(), orgID+".json")
		before, _ := os.ReadFile(path)
		e.store.mu.Lock()
		e.store.syncFile = func(f *os.File) error {
			// The new content is already half in the temporary file.
			if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
				t.Errorf("temporary file empty at sync: %v", err)
			}
			return errors.New("disk on fire")
		}
		e.store.mu.Unlock()
		m := &callback.Message{ID: "evt_x", Payload: payload(callback.EventOnboardingUpdated, mgmt, "b", time.Minute, acct(mgmt, callback.StatusGaps))}
		m.ID = m.Payload.ID
		if _, _, err := e.store.Apply(t.Context(), m, base); err == nil {
			t.Fatal("Apply succeeded")
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Error("the stored file changed")
		}
		if files := e.files(); !slices.Equal(files, []string{orgID + ".json"}) {
			t.Errorf("data dir holds %v after a failed write", files)
		}
	})
	t.Run("a failed store answers 500 and the retry is stored", func(t *testing.T) {
		e := newEnv(t, nil)
		failures := 1
		e.store.syncFile = func(f *os.File) error {
			if failures > 0 {
				failures--
				return errors.New("disk full")
			}
			return f.Sync()
		}
		res, err := e.deliver(payload(callback.EventOnboardingCreated, mgmt, "a", 0, acct(mgmt, callback.StatusVerified)))
		if err != nil || res.Attempts != 2 {
			t.Fatalf("Deliver: %v, %+v; want stored on the second attempt", err, res)
		}
		if _, err := e.store.Get(t.Context(), orgID); err != nil {
			t.Error(err)
		}
	})
	t.Run("a reader never sees a partial file", func(t *testing.T) {
		store, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(store.Dir(), orgID+".json")
		write := func(i int) {
			var accounts []callback.Account
			for j := range 50 + i%50 {
				accounts = append(accounts, acct(member(j), callback.StatusVerified))
			}
			p := payload(callback.EventOnboardingUpdated, mgmt, fmt.Sprint(i), time.Duration(i)*time.Second, accounts...)
			if _, _, err := store.Apply(t.Context(), &callback.Message{ID: p.ID, Payload: p}, base); err != nil {
				t.Error(err)
			}
		}
		write(0)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 1; i <= 100; i++ {
				write(i)
			}
		}()
		reads := 0
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read %d: %v", reads, err)
			}
			var o Onboarding
			if err := json.Unmarshal(b, &o); err != nil {
				t.Fatalf("read %d saw a partial file (%d bytes): %v", reads, len(b), err)
			}
			reads++
		}
	})
}

func TestServeShutsDownGracefully(t *testing.T) {
	e := newEnv(t, nil)
	h, err := New(Config{Verifier: e.verifier, Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, ln, h, "", "") }()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s, want 405", resp.Status)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve after cancel: %v, want nil", err)
	}
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Error("still accepting connections after shutdown")
	}
}

// With a delegated administrator, an organization reports through two
// stacks: the administrator's (the StackSet, every member) and the
// management account's own (its role). The receiver keeps both views and
// merges them: the management account's entry comes from its own stack,
// whatever the administrator's says; each stack's events are ordered among
// themselves; a stack claiming another management account is refused.
func TestReceiverMergesADelegatedAdministratorsStacks(t *testing.T) {
	e := newEnv(t, nil)
	da := member(7)
	delegated := func(event callback.Event, request string, at time.Duration, accounts ...callback.Account) callback.Payload {
		p := payload(event, da, request, at, accounts...)
		p.OrganizationManagementAccountID, p.CallAs = mgmt, "DELEGATED_ADMIN"
		p.ID = callback.EventID(event, p.StackID, request, p.RoleARNs())
		return p
	}
	notCovered := acct(mgmt, callback.StatusUnreachable)
	notCovered.Diagnoses = []callback.Diagnosis{{Code: "management_account_not_covered", Message: "deploy the management account's stack"}}
	own := payload(callback.EventOnboardingCreated, mgmt, "own", 2*time.Minute, acct(mgmt, callback.StatusVerified))
	own.OrganizationManagementAccountID, own.CallAs = mgmt, "SELF"
	own.ID = callback.EventID(own.Event, own.StackID, "own", own.RoleARNs())

	steps := []struct {
		p        callback.Payload
		wantMgmt callback.Status
		wantIDs  []string
	}{
		{delegated(callback.EventOnboardingCreated, "da-1", 0, notCovered, acct(da, callback.StatusVerified), acct(member(1), callback.StatusVerified)),
			callback.StatusUnreachable, []string{mgmt, member(1), da}},
		{own, callback.StatusVerified, []string{mgmt, member(1), da}},
		// The administrator's later update still cannot assume the
		// management role: its own stack's entry stands.
		{delegated(callback.EventOnboardingUpdated, "da-2", 3*time.Minute, notCovered, acct(da, callback.StatusVerified), acct(member(1), callback.StatusGaps)),
			callback.StatusVerified, []string{mgmt, member(1), da}},
	}
	for i, s := range steps {
		if _, err := e.deliver(s.p); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		o, err := e.store.Get(t.Context(), orgID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := findAccount(o, mgmt)
		if got.Status != s.wantMgmt || !slices.Equal(accountIDs(o), s.wantIDs) || o.Status != StatusActive || o.ManagementAccountID != mgmt {
			t.Errorf("after step %d: management account %s, accounts %v, status %s, bound to %s; want %s %v active %s", i, got.Status, accountIDs(o), o.Status, o.ManagementAccountID, s.wantMgmt, s.wantIDs, mgmt)
		}
		if len(o.Stacks) != min(i+1, 2) {
			t.Errorf("after step %d: %d stacks kept", i, len(o.Stacks))
		}
	}
	o, _ := e.store.Get(t.Context(), orgID)
	if m1, _ := findAccount(o, member(1)); m1.Status != callback.StatusGaps {
		t.Errorf("member 1 is %s, want the administrator's latest gaps", m1.Status)
	}

	// Another "administrator" naming another management account for the
	// same organization is refused.
	rogue := payload(callback.EventOnboardingCreated, member(8), "rogue", 4*time.Minute, acct(member(8), callback.StatusVerified))
	rogue.OrganizationManagementAccountID, rogue.CallAs = member(9), "DELEGATED_ADMIN"
	rogue.ID = callback.EventID(rogue.Event, rogue.StackID, "rogue", rogue.RoleARNs())
	if res, err := e.deliver(rogue); err == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a stack bound to another management account: %+v, %v; want 403", res, err)
	}

	// Deleting the management account's stack leaves the organization
	// active through the administrator's.
	del := payload(callback.EventOnboardingDeleted, mgmt, "own-del", 5*time.Minute, acct(mgmt, callback.StatusVerified))
	del.OrganizationManagementAccountID, del.CallAs = mgmt, "SELF"
	del.ID = callback.EventID(del.Event, del.StackID, "own-del", del.RoleARNs())
	if _, err := e.deliver(del); err != nil {
		t.Fatal(err)
	}
	o, _ = e.store.Get(t.Context(), orgID)
	if o.Status != StatusActive {
		t.Errorf("after the management stack's deletion the organization is %s, want active", o.Status)
	}
}

func findAccount(o *Onboarding, id string) (callback.Account, bool) {
	for _, a := range o.Accounts {
		if a.AccountID == id {
			return a, true
		}
	}
	return callback.Account{}, false
}
