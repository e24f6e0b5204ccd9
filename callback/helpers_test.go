package callback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	testMgmt     = "123456789012"
	testOrg      = "o-a1b2c3d4e5"
	testAudience = "hooks.vendor.example"
	testRoleName = "rolecall/VendorReadOnly"
	testDigest   = "sha256:5d41402abc4b2a76b9719d911017c592a8b1d9fd2e2b4e0d4f6b1c8e9a7f3b21"
)

// Secrets for tests. The first is the Standard Webhooks test vector's.
const (
	testSecret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testOtherSecret = "whsec_c2VjcmV0LXR3by1mb3ItdGVzdHMtb25seS0zMmJ5dGVz"
)

// testTime is the instant every fixed clock starts at.
var testTime = time.Date(2026, 11, 2, 10, 15, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// fakeClock is a clock tests move by hand (through an injected Sleep).
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func roleARN(account string) string { return "arn:aws:iam::" + account + ":role/" + testRoleName }

func memberID(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

func testStackID(account string) string {
	return "arn:aws:cloudformation:us-east-1:" + account + ":stack/rolecall-onboarding/1f2e3d4c-5b6a-4789-9abc-def012345678"
}

// testPayload returns a realistic payload for event: the management
// account and members member accounts, in every status.
func testPayload(event Event, members int) Payload {
	accounts := []Account{{AccountID: testMgmt, RoleARN: roleARN(testMgmt), Status: StatusVerified}}
	for i := range members {
		a := Account{AccountID: memberID(i), RoleARN: roleARN(memberID(i)), Status: StatusVerified}
		switch i % 4 {
		case 1:
			a.Status = StatusGaps
			a.Diagnoses = []Diagnosis{{Code: "bedrock_logging_off", Message: "Bedrock invocation logging is off in us-east-1: enable it to share model usage."}}
			a.FailedProbes = []Probe{{Action: "bedrock:GetModelInvocationLoggingConfiguration", Region: "us-east-1", Outcome: OutcomeDenied}}
		case 2:
			a.Status = StatusUnreachable
			a.Diagnoses = []Diagnosis{{Code: "external_id_mismatch", Message: "external ID mismatch or trust policy missing: confirm the value your vendor gave you"}}
		case 3:
			if i%8 == 3 {
				a.Status = StatusFinding
				a.FailedProbes = []Probe{{Action: "iam:AttachRolePolicy", Outcome: OutcomeWriteAllowed}, {Action: "ce:GetCostAndUsage", Outcome: OutcomeError}}
			}
		}
		accounts = append(accounts, a)
	}
	p := Payload{
		Event:               event,
		OccurredAt:          testTime.Add(-time.Minute),
		SentAt:              testTime,
		OrganizationID:      testOrg,
		ManagementAccountID: testMgmt,
		StackID:             testStackID(testMgmt),
		Region:              "us-east-1",
		Accounts:            accounts,
		CUR:                 CUR{Bucket: "acme-cur-reports", Prefix: "cur/daily/"},
		InventoryRegions:    []string{"us-east-1", "eu-west-1"},
		PermissionSet:       PermissionSet{Version: "2026-11.1", Digest: testDigest},
		Notes:               []string{"3 accounts in suspended OUs were skipped"},
	}
	switch event {
	case EventAccountAdded, EventAccountRemoved:
		p.Accounts = p.Accounts[1:]
		if len(p.Accounts) == 0 {
			p.Accounts = []Account{{AccountID: memberID(0), RoleARN: roleARN(memberID(0)), Status: StatusVerified}}
		}
	case EventOnboardingDeleted:
		p.Accounts = nil
	case EventHeartbeat:
		c := CountsOf(p.Accounts)
		p.Counts = &c
		p.Accounts = nil
		pending, dropped := 2, 0
		p.PendingEvents, p.DroppedEvents = &pending, &dropped
	case EventVerificationDrifted:
		// Every account moved here from verified, or (the verified ones)
		// from gaps to finding.
		for i := range p.Accounts {
			p.Accounts[i].PreviousStatus = StatusVerified
			if p.Accounts[i].Status == StatusVerified {
				p.Accounts[i].PreviousStatus, p.Accounts[i].Status = StatusGaps, StatusFinding
			}
		}
	case EventVerificationRestored:
		for i := range p.Accounts {
			p.Accounts[i] = Account{AccountID: p.Accounts[i].AccountID, RoleARN: p.Accounts[i].RoleARN, Status: StatusVerified, PreviousStatus: StatusUnverifiable}
		}
	}
	p.ID = EventID(event, p.StackID, "req-"+string(event), p.RoleARNs())
	return p
}

func staticCreds(akid string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(akid, "secret-"+akid, "")
}

// newTestSigner signs with static credentials at a fixed time.
func newTestSigner(t testing.TB, now func() time.Time, secrets ...string) *Signer {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	s, err := NewSigner(SignerConfig{
		Secrets:     secrets,
		Credentials: staticCreds("AKIATESTTESTTEST0001"),
		Audience:    testAudience,
		Now:         now,
		Nonce:       bytes.NewReader(bytes.Repeat([]byte{7}, 1<<16)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stsFunc is an HTTPClient that plays STS.
type stsFunc func(*http.Request) (*http.Response, error)

func (f stsFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// fakeSTS answers every request as account, and records what it got.
func fakeSTS(account string, got *[]*http.Request) HTTPClient {
	return stsFunc(func(r *http.Request) (*http.Response, error) {
		if got != nil {
			*got = append(*got, r)
		}
		body := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
			`<Arn>arn:aws:sts::` + account + `:assumed-role/rolecall-onboarding/fn</Arn><UserId>AROAEXAMPLE:fn</UserId><Account>` + account + `</Account>` +
			`</GetCallerIdentityResult></GetCallerIdentityResponse>`
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}, nil
	})
}

func stsAnswer(status int, body string) HTTPClient {
	return stsFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}, nil
	})
}

// newTestVerifier verifies at now against an STS that answers as account.
func newTestVerifier(t testing.TB, now func() time.Time, sts HTTPClient, secrets ...string) *Verifier {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	v, err := NewVerifier(VerifierConfig{Secrets: secrets, Audience: testAudience, HTTPClient: sts, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signed returns the body and headers of p signed by s.
func signed(t testing.TB, s *Signer, p Payload) ([]byte, http.Header) {
	t.Helper()
	body, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Sign(t.Context(), p.ID, body)
	if err != nil {
		t.Fatal(err)
	}
	return body, h
}

// editProof decodes h's proof, lets edit change it, and re-encodes it.
func editProof(t testing.TB, h http.Header, edit func(*proof)) http.Header {
	t.Helper()
	p, err := decodeProof(h.Get(HeaderIdentityProof))
	if err != nil {
		t.Fatal(err)
	}
	edit(p)
	s, err := p.encode()
	if err != nil {
		t.Fatal(err)
	}
	out := h.Clone()
	out.Set(HeaderIdentityProof, s)
	return out
}

func sha256Hex(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}
