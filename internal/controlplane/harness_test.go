package controlplane

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/pgtest"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
)

func TestMain(m *testing.M) {
	emulatortest.Main(emulatortest.RunFunc(func() int { return pgtest.Main(m) }))
}

const testToken = "operator-token-for-tests-only-0123456789"

// instance is one rolecall-vendor server in a test.
type instance struct {
	svc  *Service
	db   *vendordb.DB
	ts   *httptest.Server
	path string
	out  *lockedWriter
}

func testProfile(t testing.TB) *profile.Profile {
	t.Helper()
	return firstProfile(t, filepath.Join("..", "..", "vendors"))
}

// firstProfile loads the first vendor profile in dir: the tests run with
// whichever brand the checkout has (brand names live in vendors/ only).
func firstProfile(t testing.TB, dir string) *profile.Profile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vendor profile in %s", dir)
	}
	p, err := profile.Load(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testKeys(t testing.TB) *vault.Keyring {
	t.Helper()
	line, err := vault.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.ParseKeys(line)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// newInstance starts a server on dsn whose proofs go to moto's STS.
func newInstance(t testing.TB, srv *emulator.Server, dsn string, keys *vault.Keyring, confirmer Confirmer) *instance {
	t.Helper()
	return startInstance(t, dsn, keys, func(cfg *Config) {
		cfg.Confirmer = confirmer
		if srv != nil {
			cfg.STSEndpoint, cfg.STSRegion = srv.Endpoint(), srv.Region()
			cfg.STSClient = srv.Config().HTTPClient
		}
	})
}

// startInstance starts a server on dsn with the config edit makes.
func startInstance(t testing.TB, dsn string, keys *vault.Keyring, edit func(*Config)) *instance {
	t.Helper()
	db, err := vendordb.Open(t.Context(), dsn, vendordb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p := testProfile(t)
	out := &lockedWriter{w: &bytes.Buffer{}}
	cfg := Config{DB: db, Keys: keys, Profile: p, Out: out}
	edit(&cfg)
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.Callback.URL)
	h, err := svc.Handler(HandlerOptions{CallbackPath: u.Path, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { svc.WaitConfirmations() })
	return &instance{svc: svc, db: db, ts: ts, path: u.Path, out: out}
}

// stack is a customer's onboarding stack: its account's credentials in
// moto and the secret it was given.
type stack struct {
	account string
	creds   aws.Config
	secret  string
}

func newStack(t testing.TB, srv *emulator.Server, account, secret string) *stack {
	t.Helper()
	cfg, err := srv.AccountConfig(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{account: account, creds: cfg, secret: secret}
}

// payload is a valid callback from s's organization.
func (s *stack) payload(event callback.Event, org string, at time.Time, accounts ...callback.Account) callback.Payload {
	stackID := "arn:aws:cloudformation:us-east-1:" + s.account + ":stack/vendor-onboarding/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	var arns []string
	for _, a := range accounts {
		arns = append(arns, a.RoleARN)
	}
	p := callback.Payload{Version: callback.Version, Event: event, OccurredAt: at, SentAt: at, OrganizationID: org, ManagementAccountID: s.account,
		StackID: stackID, Region: "us-east-1", Accounts: accounts, CUR: callback.CUR{Bucket: "cur-" + s.account, Prefix: "cur/"},
		InventoryRegions: []string{"us-east-1"}, PermissionSet: callback.PermissionSet{Version: "2026-11.1", Digest: "sha256:" + fixedDigest}, Notes: []string{}}
	p.ID = callback.EventID(event, stackID, "req-"+string(event)+at.String(), arns)
	return p
}

const fixedDigest = "0000000000000000000000000000000000000000000000000000000000000000"

func role(account string, status callback.Status) callback.Account {
	return callback.Account{AccountID: account, RoleARN: "arn:aws:iam::" + account + ":role/VendorReadOnly", Status: status,
		Diagnoses: []callback.Diagnosis{}, FailedProbes: []callback.Probe{}, Findings: []callback.Finding{}, Unproven: []callback.Unproven{}}
}

// signed returns the request s's function would send with p, signed with
// secret and naming keyIDs (nil: the secret's own).
func (s *stack) signed(t testing.TB, srv *emulator.Server, p callback.Payload) (body []byte, h http.Header) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("test payload: %v", err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := callback.NewSigner(callback.SignerConfig{Secrets: []string{s.secret}, Credentials: s.creds.Credentials,
		Audience: testProfile(t).Callback.Audience, STSEndpoint: srv.Endpoint(), STSRegion: srv.Region()})
	if err != nil {
		t.Fatal(err)
	}
	h, err = signer.Sign(t.Context(), p.ID, body)
	if err != nil {
		t.Fatal(err)
	}
	return body, h
}

// post delivers a request to in and returns the status and answer.
func (in *instance) post(t testing.TB, body []byte, h http.Header) (int, response) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, in.ts.URL+in.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("answer (%d) is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, r
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
