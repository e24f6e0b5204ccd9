package onboarding

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/receiver"
	"github.com/rolecall/rolecall/internal/verify"
)

// Every kind of finding the verifier can make, and an unverifiable
// account, reaches the vendor: the payload validates, is signed, and the
// reference receiver verifies and stores each one with its evidence as
// written. Findings come from the read-only gate on the example policy of
// each kind (as the verifier makes them from a policy it read back), plus
// the simulator's.
func TestEveryFindingKindReachesTheVendorsReceiver(t *testing.T) {
	type want struct {
		kind              string
		action, statement string
		notAction         bool
	}
	var findings []verify.Finding
	var wants []want
	g := permissions.Gate{Data: iamdata.Embedded()}
	for _, ex := range permissions.KindExamples() {
		for _, f := range g.Check("attached policy arn:aws:iam::222222222222:policy/Example", ex.Document) {
			if f.Severity != permissions.Error {
				continue // a warning is not a finding
			}
			if f.Kind.Unevaluable() {
				continue // the verifier reports these as unproven, below
			}
			findings = append(findings, verify.FindingOf("managed", "arn:aws:iam::222222222222:policy/Example", f))
			wants = append(wants, want{string(f.Kind), f.Action, f.Statement, f.NotAction})
		}
	}
	findings = append(findings, verify.Finding{Kind: verify.KindSimulatorAllows, Source: "iam:SimulatePrincipalPolicy", PolicyType: "simulation", Action: "logs:DeleteLogGroup", WriteActions: 1, Detail: "IAM's policy simulator says the role may call logs:DeleteLogGroup"})
	wants = append(wants, want{kind: verify.KindSimulatorAllows, action: "logs:DeleteLogGroup"})

	kinds := map[string]bool{}
	for _, w := range wants {
		kinds[w.kind] = true
	}
	for _, k := range permissions.Kinds() {
		if k != permissions.KindContentRead && !k.Unevaluable() && !kinds[string(k)] {
			t.Fatalf("no example makes a %s finding", k)
		}
	}

	v := &fakeVerifier{report: func(r verify.Role) verify.Report {
		rep := verify.Report{AccountID: r.AccountID, RoleARN: r.RoleARN, Status: verify.StatusVerified}
		switch r.AccountID {
		case "222222222222":
			rep.Status, rep.Findings = verify.StatusFinding, findings
		case "333333333333":
			rep.Status = verify.StatusUnverifiable
			rep.Unproven = []verify.Unproven{
				{Check: "evaluate", Target: "attached policy arn:aws:iam::333333333333:policy/New", Message: "statement #1: newservice:DoThings: service \"newservice\" is not in the IAM action dataset"},
				{Check: "iam:GetPolicyVersion", Target: "attached policy arn:aws:iam::333333333333:policy/Hidden", Code: "AccessDenied", Message: "with an explicit deny in an identity-based policy"},
			}
		}
		return rep
	}}
	stacks := fakeStacks{instances: []cftypes.StackInstanceSummary{
		instance("222222222222", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
		instance("333333333333", cftypes.StackInstanceStatusCurrent, cftypes.StackInstanceDetailedStatusSucceeded, ""),
	}}

	// The vendor: the reference receiver, checking identity proofs against
	// a stand-in STS that names the management account.
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::%s:assumed-role/fn/x</Arn><UserId>AROAX:x</UserId><Account>%s</Account></GetCallerIdentityResult></GetCallerIdentityResponse>", mgmtAccount, mgmtAccount)
	}))
	defer sts.Close()
	const whsec = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cbVerifier, err := callback.NewVerifier(callback.VerifierConfig{Secrets: []string{whsec}, Audience: "hooks.vendor.example", STSEndpoint: sts.URL})
	if err != nil {
		t.Fatal(err)
	}
	store, err := receiver.OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := receiver.New(receiver.Config{Verifier: cbVerifier, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	vendor := httptest.NewServer(h)
	defer vendor.Close()

	s := newService(v, stacks, nil)
	s.Settings.CallbackURL = vendor.URL + "/hooks"
	s.NewSender = func(_, audience string) (deliverer, error) {
		signer, err := callback.NewSigner(callback.SignerConfig{
			Secrets: []string{whsec}, Audience: audience, STSEndpoint: sts.URL,
			Credentials: credentials.NewStaticCredentialsProvider("AKIAMANAGEMENT000001", "secret", ""),
		})
		if err != nil {
			return nil, err
		}
		return callback.NewSender(callback.SenderConfig{Signer: signer, AllowLoopback: true, Logger: slog.New(slog.DiscardHandler),
			Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	_, createErr := s.Create(fnCtx(t), verificationRequest(cfn.RequestCreate))
	if createErr == nil {
		t.Fatal("a finding and an unverifiable account must fail the Create")
	}
	o, err := store.Get(t.Context(), "o-abc123defg")
	if err != nil {
		t.Fatalf("the vendor stored nothing (%v); the Create said: %v", err, createErr)
	}
	var finding, unverifiable callback.Account
	for _, a := range o.Accounts {
		switch a.AccountID {
		case "222222222222":
			finding = a
		case "333333333333":
			unverifiable = a
		}
	}
	if finding.Status != callback.StatusFinding || finding.FindingsTotal != len(wants) {
		t.Fatalf("stored %s with %d findings, want finding with %d", finding.Status, finding.FindingsTotal, len(wants))
	}
	for _, w := range wants {
		if !slices.ContainsFunc(finding.Findings, func(f callback.Finding) bool {
			return f.Kind == w.kind && f.Action == w.action && f.Statement == w.statement && f.NotAction == w.notAction
		}) {
			t.Errorf("the vendor did not store the %s finding %q (statement %q, NotAction %v)", w.kind, w.action, w.statement, w.notAction)
		}
	}
	if unverifiable.Status != callback.StatusUnverifiable || len(unverifiable.Unproven) != 2 || unverifiable.Unproven[1].Code != "AccessDenied" {
		t.Errorf("stored unverifiable account %+v", unverifiable)
	}
	if o.Status != receiver.StatusFailed {
		t.Errorf("the failed creation opened the onboarding: %s", o.Status)
	}
}
