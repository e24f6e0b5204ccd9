package callback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// rejections lists every sentinel Verify may wrap; each rejection must
// match exactly one.
var rejections = []error{
	ErrMissingHeader, ErrMalformedHeader, ErrTimestamp, ErrBodyDigest, ErrSignature,
	ErrInvalidPayload, ErrMissingProof, ErrMalformedProof, ErrProofEndpoint, ErrProofBinding,
	ErrProofAudience, ErrProofExpired, ErrProofRejected, ErrSTSUnavailable, ErrAccountMismatch,
	ErrMembership, ErrReplay,
}

func TestVerifyAcceptsASignedCallback(t *testing.T) {
	var calls []*http.Request
	v := newTestVerifier(t, fixedClock(testTime.Add(30*time.Second)), fakeSTS(testMgmt, &calls))
	p := testPayload(EventOnboardingCreated, 5)
	body, h := signed(t, newTestSigner(t, fixedClock(testTime)), p)

	m, err := v.Verify(t.Context(), h, body)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if m.ID != p.ID || m.Payload.ID != p.ID || !m.Timestamp.Equal(testTime) {
		t.Errorf("message id %s / %s at %s, want %s at %s", m.ID, m.Payload.ID, m.Timestamp, p.ID, testTime)
	}
	if m.Caller.Account != testMgmt {
		t.Errorf("caller account %s, want %s", m.Caller.Account, testMgmt)
	}
	wantAsserted := []string{memberID(0), memberID(1), memberID(2), memberID(3), memberID(4)}
	if !slices.Equal(m.AssertedAccounts, wantAsserted) || m.MembersConfirmed {
		t.Errorf("asserted %v (confirmed %v), want %v unconfirmed", m.AssertedAccounts, m.MembersConfirmed, wantAsserted)
	}

	if len(calls) != 1 {
		t.Fatalf("%d STS calls, want 1", len(calls))
	}
	r := calls[0]
	if got := r.Method + " " + r.URL.String(); got != "POST https://sts.amazonaws.com/" {
		t.Errorf("STS request %s, want POST https://sts.amazonaws.com/", got)
	}
	if r.Host != "sts.amazonaws.com" {
		t.Errorf("STS request Host %q", r.Host)
	}
	sent, _ := io.ReadAll(r.Body)
	if string(sent) != stsBody {
		t.Errorf("STS request body %q, want %q", sent, stsBody)
	}
	for _, name := range []string{"Authorization", "X-Amz-Date", BindingBodySHA256, BindingAudience, BindingNonce} {
		if r.Header.Get(name) == "" {
			t.Errorf("STS request lacks %s", name)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	signAt := fixedClock(testTime)
	verifyAt := fixedClock(testTime)
	p := testPayload(EventOnboardingUpdated, 2)
	body, h := signed(t, newTestSigner(t, signAt), p)

	type input struct {
		h    http.Header
		body []byte
	}
	with := func(edit func(http.Header)) input {
		c := h.Clone()
		edit(c)
		return input{c, body}
	}
	proofEdit := func(edit func(*proof)) input { return input{editProof(t, h, edit), body} }
	signedWith := func(s *Signer, p Payload) input {
		b, h := signed(t, s, p)
		return input{h, b}
	}
	signerWith := func(cfg SignerConfig) *Signer {
		cfg.Credentials = staticCreds("AKIATESTTESTTEST0001")
		cfg.Secrets = []string{testSecret}
		cfg.Audience = cmpOr(cfg.Audience, testAudience)
		if cfg.Now == nil {
			cfg.Now = signAt
		}
		s, err := NewSigner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withoutSignedHeader := func(name string) func(*proof) {
		return func(pr *proof) {
			a := pr.Headers["authorization"]
			if !strings.Contains(a, ";"+name) {
				t.Fatalf("%s is not signed in %q", name, a)
			}
			pr.Headers["authorization"] = strings.Replace(a, ";"+name, "", 1)
		}
	}
	otherID := p
	otherID.ID = EventID(p.Event, p.StackID, "another request", p.RoleARNs())

	tests := []struct {
		name      string
		in        input
		sts       HTTPClient
		confirm   func(context.Context, *Payload, []string) error
		want      error
		wantInMsg string
		wantNoSTS bool
	}{
		{name: "tampered body", in: input{h, []byte(strings.Replace(string(body), "acme-cur-reports", "evil-cur-reports", 1))}, want: ErrBodyDigest, wantNoSTS: true},
		{name: "tampered body and body digest", in: func() input {
			b := []byte(strings.Replace(string(body), "acme-cur-reports", "evil-cur-reports", 1))
			c := editProof(t, h, func(pr *proof) { pr.Headers[BindingBodySHA256] = sha256Hex(b) })
			return input{c, b}
		}(), want: ErrSignature, wantNoSTS: true},
		{name: "wrong secret", in: signedWith(func() *Signer {
			s := newTestSigner(t, signAt, testOtherSecret)
			return s
		}(), p), want: ErrSignature, wantNoSTS: true},
		{name: "stale timestamp", in: signedWith(newTestSigner(t, fixedClock(testTime.Add(-DefaultTolerance-time.Second))), p), want: ErrTimestamp, wantNoSTS: true},
		{name: "timestamp from the future", in: signedWith(newTestSigner(t, fixedClock(testTime.Add(DefaultTolerance+time.Second))), p), want: ErrTimestamp, wantNoSTS: true},
		{name: "missing webhook-id", in: with(func(h http.Header) { h.Del(HeaderID) }), want: ErrMissingHeader, wantInMsg: HeaderID},
		{name: "missing webhook-signature", in: with(func(h http.Header) { h.Del(HeaderSignature) }), want: ErrMissingHeader, wantInMsg: HeaderSignature},
		{name: "timestamp not an integer", in: with(func(h http.Header) { h.Set(HeaderTimestamp, "1.5e9") }), want: ErrMalformedHeader},
		{name: "only an asymmetric signature", in: with(func(h http.Header) { h.Set(HeaderSignature, "v1a,AAAA") }), want: ErrMalformedHeader},
		{name: "webhook-id with a dot", in: with(func(h http.Header) { h.Set(HeaderID, "evt_1.2") }), want: ErrMalformedHeader},
		{name: "missing identity proof", in: with(func(h http.Header) { h.Del(HeaderIdentityProof) }), want: ErrMissingProof, wantNoSTS: true},
		{name: "identity proof not base64", in: with(func(h http.Header) { h.Set(HeaderIdentityProof, "%%%") }), want: ErrMalformedProof},
		{name: "payload id is not the webhook-id", in: func() input {
			b, err := otherID.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			h, err := newTestSigner(t, signAt).Sign(t.Context(), p.ID, b)
			if err != nil {
				t.Fatal(err)
			}
			return input{h, b}
		}(), want: ErrInvalidPayload, wantNoSTS: true},
		{name: "signed body with an unknown event", in: func() input {
			b := []byte(strings.Replace(string(body), `"onboarding.updated"`, `"onboarding.exploded"`, 1))
			h, err := newTestSigner(t, signAt).Sign(t.Context(), p.ID, b)
			if err != nil {
				t.Fatal(err)
			}
			return input{h, b}
		}(), want: ErrInvalidPayload, wantInMsg: "/event"},
		{name: "proof for another host", in: proofEdit(func(pr *proof) { pr.Headers["host"] = "sts.evil.example" }), want: ErrProofEndpoint, wantNoSTS: true},
		{name: "proof for another path", in: proofEdit(func(pr *proof) { pr.Path = "/?Action=AssumeRole" }), want: ErrProofEndpoint},
		{name: "proof for another region", in: signedWith(signerWith(SignerConfig{STSRegion: "eu-west-1"}), p), want: ErrProofEndpoint, wantInMsg: "eu-west-1"},
		{name: "proof for another endpoint", in: signedWith(signerWith(SignerConfig{STSEndpoint: "https://sts.evil.example"}), p), want: ErrProofEndpoint, wantNoSTS: true},
		{name: "binding header unsigned", in: proofEdit(withoutSignedHeader(BindingNonce)), want: ErrProofBinding, wantInMsg: BindingNonce, wantNoSTS: true},
		{name: "audience header unsigned", in: proofEdit(withoutSignedHeader(BindingAudience)), want: ErrProofBinding, wantInMsg: BindingAudience},
		{name: "binding header missing", in: proofEdit(func(pr *proof) {
			withoutSignedHeader(BindingBodySHA256)(pr)
			delete(pr.Headers, BindingBodySHA256)
		}), want: ErrProofBinding, wantInMsg: BindingBodySHA256},
		{name: "unsigned extra header", in: proofEdit(func(pr *proof) { pr.Headers["x-forwarded-for"] = "1.2.3.4" }), want: ErrMalformedProof},
		{name: "proof for another audience", in: signedWith(signerWith(SignerConfig{Audience: "hooks.other-vendor.example"}), p), want: ErrProofAudience, wantNoSTS: true},
		{name: "proof signed long before the webhook", in: proofEdit(func(pr *proof) {
			pr.Headers["x-amz-date"] = testTime.Add(-time.Hour).Format(amzDateLayout)
		}), want: ErrProofExpired, wantNoSTS: true},
		{name: "STS refuses the signature", in: input{h, body},
			sts:  stsAnswer(403, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>nope</Message></Error></ErrorResponse>`),
			want: ErrProofRejected, wantInMsg: "SignatureDoesNotMatch"},
		{name: "STS fails", in: input{h, body}, sts: stsAnswer(503, "busy"), want: ErrSTSUnavailable},
		{name: "STS unreachable", in: input{h, body}, sts: stsFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("dial tcp: no route") }), want: ErrSTSUnavailable},
		{name: "STS answers nonsense", in: input{h, body}, sts: stsAnswer(200, "<html>hi</html>"), want: ErrSTSUnavailable},
		{name: "proof for another account", in: input{h, body}, sts: fakeSTS("999988887777", nil), want: ErrAccountMismatch, wantInMsg: "999988887777"},
		{name: "member accounts not confirmed", in: input{h, body},
			confirm: func(context.Context, *Payload, []string) error {
				return errors.New("account 200000000001 is not in o-a1b2c3d4e5")
			},
			want: ErrMembership, wantInMsg: "200000000001"},
		{name: "role ARNs in another partition", in: func() input {
			q := p
			q.Accounts = slices.Clone(q.Accounts)
			q.Accounts[1].RoleARN = strings.Replace(q.Accounts[1].RoleARN, "arn:aws:", "arn:aws-cn:", 1)
			q.ID = EventID(q.Event, q.StackID, "cn", q.RoleARNs())
			return signedWith(newTestSigner(t, signAt), q)
		}(), want: ErrAccountMismatch, wantInMsg: "partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []*http.Request
			sts := tt.sts
			if sts == nil {
				sts = fakeSTS(testMgmt, &calls)
			}
			v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, HTTPClient: sts, Now: verifyAt, ConfirmMembers: tt.confirm})
			if err != nil {
				t.Fatal(err)
			}
			m, err := v.Verify(t.Context(), tt.in.h, tt.in.body)
			if err == nil {
				t.Fatalf("Verify accepted %s", m.ID)
			}
			wantOnly(t, err, tt.want)
			if tt.wantInMsg != "" && !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantInMsg)
			}
			if tt.wantNoSTS && len(calls) > 0 {
				t.Errorf("STS was called %d times; the proof should have been refused before", len(calls))
			}
		})
	}
}

// wantOnly fails t unless err matches want and no other rejection.
func wantOnly(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %q", err, want)
	}
	for _, other := range rejections {
		if other != want && errors.Is(err, other) {
			t.Errorf("error %q wraps %q as well as %q", err, other, want)
		}
	}
}

func TestVerifyRejectsAReplayedID(t *testing.T) {
	v := newTestVerifier(t, fixedClock(testTime), fakeSTS(testMgmt, nil))
	p := testPayload(EventAccountAdded, 3)
	body, h := signed(t, newTestSigner(t, fixedClock(testTime)), p)
	if _, err := v.Verify(t.Context(), h, body); err != nil {
		t.Fatalf("first delivery: %v", err)
	}

	t.Run("the same request again", func(t *testing.T) {
		_, err := v.Verify(t.Context(), h, body)
		wantOnly(t, err, ErrReplay)
		var re *ReplayError
		if !errors.As(err, &re) || re.Message.ID != p.ID || re.Message.Caller.Account != testMgmt {
			t.Errorf("error %v carries no verified message for %s", err, p.ID)
		}
	})
	t.Run("a retry signed later under the same id", func(t *testing.T) {
		body, h := signed(t, newTestSigner(t, fixedClock(testTime.Add(2*time.Second))), p)
		_, err := v.Verify(t.Context(), h, body)
		wantOnly(t, err, ErrReplay)
	})
	t.Run("accepted again once forgotten", func(t *testing.T) {
		if err := v.Forget(t.Context(), p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), h, body); err != nil {
			t.Fatalf("after Forget: %v", err)
		}
	})
}

func TestVerifyAcceptsEitherSecretDuringRotation(t *testing.T) {
	const old, current = testSecret, testOtherSecret
	tests := []struct {
		name     string
		signWith []string
		verifyBy []string
		wantOK   bool
	}{
		{"sender signs with both, receiver knows the new one", []string{current, old}, []string{current}, true},
		{"sender signs with both, receiver knows the old one", []string{current, old}, []string{old}, true},
		{"sender signs with the new one, receiver knows both", []string{current}, []string{old, current}, true},
		{"sender signs with the old one, receiver knows both", []string{old}, []string{current, old}, true},
		{"sender signs with the new one, receiver knows the old one", []string{current}, []string{old}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, fixedClock(testTime), fakeSTS(testMgmt, nil), tt.verifyBy...)
			body, h := signed(t, newTestSigner(t, fixedClock(testTime), tt.signWith...), testPayload(EventOnboardingCreated, 1))
			if n := len(strings.Fields(h.Get(HeaderSignature))); n != len(tt.signWith) {
				t.Errorf("%d signatures sent, want %d", n, len(tt.signWith))
			}
			_, err := v.Verify(t.Context(), h, body)
			if tt.wantOK && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.wantOK {
				wantOnly(t, err, ErrSignature)
			}
		})
	}
}

func TestVerifyConfirmsMembersWhenAsked(t *testing.T) {
	var asked []string
	v, err := NewVerifier(VerifierConfig{
		Secrets: []string{testSecret}, Audience: testAudience, HTTPClient: fakeSTS(testMgmt, nil), Now: fixedClock(testTime),
		ConfirmMembers: func(_ context.Context, p *Payload, ids []string) error {
			asked = ids
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, h := signed(t, newTestSigner(t, fixedClock(testTime)), testPayload(EventOnboardingCreated, 2))
	m, err := v.Verify(t.Context(), h, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{memberID(0), memberID(1)}; !slices.Equal(asked, want) || !m.MembersConfirmed {
		t.Errorf("asked about %v (confirmed %v), want %v confirmed", asked, m.MembersConfirmed, want)
	}
}

// The Standard Webhooks reference vector, so any of their libraries
// verifies what the signer sends.
func TestSignatureMatchesTheStandardWebhooksVector(t *testing.T) {
	secret, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got := signatureHeader([]Secret{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

func TestSignIsDeterministicGivenClockAndNonce(t *testing.T) {
	p := testPayload(EventOnboardingCreated, 1)
	_, h1 := signed(t, newTestSigner(t, fixedClock(testTime)), p)
	_, h2 := signed(t, newTestSigner(t, fixedClock(testTime)), p)
	for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature, HeaderIdentityProof} {
		if h1.Get(name) != h2.Get(name) {
			t.Errorf("%s differs between two signers with the same clock and nonce", name)
		}
	}
	if got, want := h1.Get(HeaderTimestamp), "1793614500"; got != want {
		t.Errorf("%s = %s, want %s", HeaderTimestamp, got, want)
	}
	pr, err := decodeProof(h1.Get(HeaderIdentityProof))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"content-length":  "43",
		"content-type":    stsContentType,
		"host":            "sts.amazonaws.com",
		"x-amz-date":      "20261102T101500Z",
		BindingAudience:   testAudience,
		BindingNonce:      "BwcHBwcHBwcHBwcHBwcHBw",
		BindingBodySHA256: sha256Hex(mustMarshal(t, p)),
	}
	for k, v := range want {
		if pr.Headers[k] != v {
			t.Errorf("proof header %s = %q, want %q", k, pr.Headers[k], v)
		}
	}
	wantAuth := "AWS4-HMAC-SHA256 Credential=AKIATESTTESTTEST0001/20261102/us-east-1/sts/aws4_request, " +
		"SignedHeaders=content-length;content-type;host;x-amz-date;x-rolecall-audience;x-rolecall-body-sha256;x-rolecall-nonce, Signature="
	if !strings.HasPrefix(pr.Headers["authorization"], wantAuth) {
		t.Errorf("authorization %q\nwant prefix %q", pr.Headers["authorization"], wantAuth)
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"no secret", VerifierConfig{Audience: testAudience}},
		{"secret without prefix", VerifierConfig{Secrets: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Audience: testAudience}},
		{"secret too short", VerifierConfig{Secrets: []string{"whsec_c2hvcnQ="}, Audience: testAudience}},
		{"no audience", VerifierConfig{Secrets: []string{testSecret}}},
		{"audience with a space", VerifierConfig{Secrets: []string{testSecret}, Audience: "a b"}},
		{"STS endpoint with a query", VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, STSEndpoint: "https://sts.amazonaws.com/?x=1"}},
		{"STS endpoint not http", VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, STSEndpoint: "file:///etc/passwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); err == nil {
				t.Error("NewVerifier accepted it")
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{s.String(), s.GoString()} {
		if strings.Contains(got, "MfKQ9r8") {
			t.Errorf("secret prints as %q", got)
		}
	}
}

func TestGenerateSecretParses(t *testing.T) {
	s, err := GenerateSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSecret(s); err != nil {
		t.Errorf("ParseSecret(GenerateSecret()): %v", err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func mustMarshal(t *testing.T, p Payload) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A proof is sent to the STS endpoint of its partition, and only for the
// partitions the vendor enabled: a GovCloud customer's proof is refused by
// a commercial-only verifier, accepted by one that enables aws-us-gov
// (sent to GovCloud's STS), and refused if STS there names a caller of
// another partition.
func TestProofsArePerPartition(t *testing.T) {
	gov, err := PartitionSTS("aws-us-gov")
	if err != nil {
		t.Fatal(err)
	}
	p := testPayload(EventOnboardingCreated, 2)
	p.Region = "us-gov-west-1"
	p.StackID = strings.NewReplacer("arn:aws:", "arn:aws-us-gov:", "us-east-1", "us-gov-west-1").Replace(p.StackID)
	for i := range p.Accounts {
		p.Accounts[i].RoleARN = strings.Replace(p.Accounts[i].RoleARN, "arn:aws:", "arn:aws-us-gov:", 1)
	}
	p.ID = EventID(p.Event, p.StackID, "req-gov", p.RoleARNs())
	s, err := NewSigner(SignerConfig{
		Secrets: []string{testSecret}, Credentials: staticCreds("AKIATESTTESTTEST0001"), Audience: testAudience,
		STSEndpoint: gov.Endpoint, STSRegion: gov.Region, Now: fixedClock(testTime),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, h := signed(t, s, p)
	answer := func(partition string, got *[]*http.Request) HTTPClient {
		return stsFunc(func(r *http.Request) (*http.Response, error) {
			*got = append(*got, r)
			b := `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:` + partition + `:sts::` + testMgmt + `:assumed-role/rolecall-onboarding/fn</Arn><UserId>AROAEXAMPLE:fn</UserId><Account>` + testMgmt + `</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(b)), Header: http.Header{}}, nil
		})
	}
	verifier := func(partitions []string, sts HTTPClient) *Verifier {
		v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, Partitions: partitions, HTTPClient: sts, Now: fixedClock(testTime)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	var calls []*http.Request
	if _, err := verifier(nil, answer("aws-us-gov", &calls)).Verify(t.Context(), h, body); !errors.Is(err, ErrProofEndpoint) || len(calls) != 0 {
		t.Errorf("a commercial-only verifier: %v after %d STS calls, want ErrProofEndpoint without asking", err, len(calls))
	}
	m, err := verifier([]string{"aws", "aws-us-gov"}, answer("aws-us-gov", &calls)).Verify(t.Context(), h, body)
	if err != nil {
		t.Fatalf("a verifier that enables aws-us-gov: %v", err)
	}
	if got := calls[0].URL.String(); got != gov.Endpoint+"/" || calls[0].Host != "sts.us-gov-west-1.amazonaws.com" || m.Caller.Account != testMgmt {
		t.Errorf("asked %s (Host %s); caller %+v", got, calls[0].Host, m.Caller)
	}
	calls = nil
	if _, err := verifier([]string{"aws", "aws-us-gov"}, answer("aws", &calls)).Verify(t.Context(), h, body); !errors.Is(err, ErrProofEndpoint) {
		t.Errorf("GovCloud's STS naming a commercial caller: %v, want ErrProofEndpoint", err)
	}
	if _, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, Partitions: []string{"aws-iso"}}); err == nil {
		t.Error("an unknown partition was accepted")
	}
}
