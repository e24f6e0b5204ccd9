package callback

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

const motoOtherAccount = "210987654321"

// onboardingSession returns credentials of a role session in the default
// (management) account, as the onboarding Lambda has, and its ARN.
func onboardingSession(t *testing.T, srv *emulator.Server) (aws.Config, string) {
	t.Helper()
	ctx := t.Context()
	admin := srv.Config()
	adminARN := "arn:aws:iam::" + emulator.DefaultAccountID + ":user/" + emulator.AdminUserName
	roleARN, err := emulator.CreateRole(ctx, admin, "rolecall-onboarding", emulator.TrustPolicy(adminARN), emulator.AllowPolicy("sts:GetCallerIdentity"))
	if err != nil {
		t.Fatal(err)
	}
	session, err := emulator.AssumeRole(ctx, admin, roleARN, "", "fn")
	if err != nil {
		t.Fatal(err)
	}
	return session, "arn:aws:sts::" + emulator.DefaultAccountID + ":assumed-role/rolecall-onboarding/fn"
}

func motoSigner(t *testing.T, srv *emulator.Server, cfg aws.Config, now func() time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(SignerConfig{
		Secrets:     []string{testSecret},
		Credentials: cfg.Credentials,
		Audience:    testAudience,
		STSEndpoint: srv.Endpoint(),
		STSRegion:   srv.Region(),
		Now:         now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replayProof sends the request a proof describes to moto with a plain
// client (not the signer's), edited by edit, and returns moto's answer.
func replayProof(t *testing.T, srv *emulator.Server, proofHeader string, edit func(*http.Request)) (int, string) {
	t.Helper()
	p, err := decodeProof(proofHeader)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), p.Method, srv.Endpoint()+p.Path, strings.NewReader(stsBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = p.Headers["host"]
	for k, v := range p.Headers {
		if k != "host" && k != "content-length" {
			req.Header.Set(k, v)
		}
	}
	if edit != nil {
		edit(req)
	}
	// The server's own client waits out the emulator's no-auth windows.
	resp, err := srv.Config().HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// How moto 5.2.5 answers a header-signed sts:GetCallerIdentity that a
// second client replays from the proof's parts, as the verifier does.
// Unlike a pre-signed (query-string) request, which moto cannot serve
// while authorisation is on (TestMotoPresignedGetCallerIdentityWithAuthorisationOn
// in package emulator), the header form works. moto/iam/access_control.py
// checks the signature over the signed headers it received (the Host
// header included) and the body; it does not look at X-Amz-Date's age.
func TestMotoAnswersAReplayedHeaderSignedGetCallerIdentity(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	session, sessionARN := onboardingSession(t, srv)
	body := []byte(`{"hello":"moto"}`)

	sign := func(t *testing.T, now time.Time) string {
		t.Helper()
		h, err := motoSigner(t, srv, session, fixedClock(now)).Sign(t.Context(), "evt_0123", body)
		if err != nil {
			t.Fatal(err)
		}
		return h.Get(HeaderIdentityProof)
	}
	fresh := sign(t, time.Now())

	tests := []struct {
		name       string
		proof      string
		edit       func(*http.Request)
		wantStatus int
		wantInBody string
	}{
		{name: "replayed as signed: the signer's session answers", proof: fresh, wantStatus: 200, wantInBody: "<Arn>" + sessionARN + "</Arn>"},
		// Neither moto nor AWS (within 15 minutes) refuses a second use;
		// the verifier's replay cache and freshness check do.
		{name: "replayed a second time: answered again", proof: fresh, wantStatus: 200, wantInBody: "<Account>" + emulator.DefaultAccountID + "</Account>"},
		{name: "a binding header changed: SignatureDoesNotMatch", proof: fresh, wantStatus: 403, wantInBody: "SignatureDoesNotMatch",
			edit: func(r *http.Request) { r.Header.Set(BindingAudience, "evil.example") }},
		// Why the verifier requires the binding headers to be signed:
		// an unsigned header can say anything.
		{name: "an unsigned header added: still answered", proof: fresh, wantStatus: 200, wantInBody: "<Account>",
			edit: func(r *http.Request) { r.Header.Set("X-Rolecall-Unsigned", "anything") }},
		{name: "sent with another Host: SignatureDoesNotMatch", proof: fresh, wantStatus: 403, wantInBody: "SignatureDoesNotMatch",
			edit: func(r *http.Request) { r.Host = "sts.amazonaws.com" }},
		{name: "another body: SignatureDoesNotMatch", proof: fresh, wantStatus: 403, wantInBody: "SignatureDoesNotMatch",
			edit: func(r *http.Request) {
				const other = "Action=GetCallerIdentity&Version=2011-06-16"
				r.Body = io.NopCloser(strings.NewReader(other))
			}},
		// AWS refuses a signature more than 15 minutes old ("Signature
		// expired"); moto does not look, so the verifier must.
		{name: "signed two hours ago: moto still answers", proof: sign(t, time.Now().Add(-2*time.Hour)), wantStatus: 200, wantInBody: "<Account>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := replayProof(t, srv, tt.proof, tt.edit)
			if status != tt.wantStatus || !strings.Contains(got, tt.wantInBody) {
				t.Errorf("moto answered %d %s\nwant %d with %q", status, got, tt.wantStatus, tt.wantInBody)
			}
		})
	}
}

// The signer running with an assumed-role session in the management
// account, as the Lambda does, and the verifier asking moto's STS.
func TestIdentityProofAgainstMoto(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	session, sessionARN := onboardingSession(t, srv)
	other, err := srv.AccountConfig(ctx, motoOtherAccount)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := NewVerifier(VerifierConfig{
		Secrets:     []string{testSecret},
		Audience:    testAudience,
		STSEndpoint: srv.Endpoint(),
		STSRegion:   srv.Region(),
		HTTPClient:  srv.Config().HTTPClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := testPayload(EventOnboardingCreated, 3)
	p.ManagementAccountID = emulator.DefaultAccountID
	p.StackID = testStackID(emulator.DefaultAccountID)
	p.Accounts[0] = Account{AccountID: emulator.DefaultAccountID, RoleARN: roleARN(emulator.DefaultAccountID), Status: StatusVerified}
	p.ID = EventID(p.Event, p.StackID, "req-1", p.RoleARNs())

	t.Run("a proof from the management account's session is verified", func(t *testing.T) {
		body, h := signed(t, motoSigner(t, srv, session, time.Now), p)
		m, err := verifier.Verify(ctx, h, body)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if m.Caller.Account != emulator.DefaultAccountID || m.Caller.ARN != sessionARN {
			t.Errorf("caller = %+v, want account %s, ARN %s", m.Caller, emulator.DefaultAccountID, sessionARN)
		}
		if want := []string{memberID(0), memberID(1), memberID(2)}; strings.Join(m.AssertedAccounts, ",") != strings.Join(want, ",") {
			t.Errorf("asserted accounts = %v, want %v", m.AssertedAccounts, want)
		}
	})
	t.Run("a proof from a session in another account is rejected", func(t *testing.T) {
		q := p
		q.ID = EventID(q.Event, q.StackID, "req-2", q.RoleARNs())
		body, h := signed(t, motoSigner(t, srv, other, time.Now), q)
		_, err := verifier.Verify(ctx, h, body)
		if !errors.Is(err, ErrAccountMismatch) {
			t.Fatalf("Verify: %v, want ErrAccountMismatch", err)
		}
		if !strings.Contains(err.Error(), motoOtherAccount) {
			t.Errorf("error %q does not name the signing account %s", err, motoOtherAccount)
		}
	})
	t.Run("a proof signed with unknown keys is rejected by STS", func(t *testing.T) {
		q := p
		q.ID = EventID(q.Event, q.StackID, "req-3", q.RoleARNs())
		stranger := srv.Config()
		stranger.Credentials = staticCreds("AKIASTRANGERSTRANGE1")
		body, h := signed(t, motoSigner(t, srv, stranger, time.Now), q)
		_, err := verifier.Verify(ctx, h, body)
		var stsErr *STSError
		if !errors.Is(err, ErrProofRejected) || !errors.As(err, &stsErr) || stsErr.Code != "InvalidClientTokenId" {
			t.Fatalf("Verify: %v, want ErrProofRejected with InvalidClientTokenId", err)
		}
	})
}
