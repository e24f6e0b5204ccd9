package onboarding

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/controlplane"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
	"github.com/rolecall/rolecall/internal/verify"
)

// Every kind of finding the verifier can make, and an unverifiable
// account, reaches the vendor: the payload validates, is signed with the
// secret the vendor issued the customer, and the vendor's control plane
// (rolecall-vendor) verifies and stores each one with its evidence as
// written. Findings come from the read-only gate on the example policy of
// each kind (as the verifier makes them from a policy it read back), plus
// the simulator's.
func TestEveryFindingKindReachesTheVendorsControlPlane(t *testing.T) {
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

	// The vendor: rolecall-vendor on SQLite, checking identity proofs
	// against the local STS, with one customer added. The function holds
	// that customer's external ID and secret, as the Launch Stack form
	// left them in the onboarding secret.
	srv := emulatortest.Shared(t)
	ctx := t.Context()
	db, err := vendordb.Open(ctx, filepath.Join(t.TempDir(), "vendor.db"), vendordb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := vault.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.ParseKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Parse([]byte(testProfile))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(controlplane.Config{DB: db, Keys: keys, Profile: prof,
		STSEndpoint: srv.Endpoint(), STSRegion: srv.Region(), STSClient: srv.Config().HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	customer, err := cp.AddCustomer(ctx, controlplane.AddRequest{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	callbackURL, err := url.Parse(prof.Callback.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := cp.Handler(controlplane.HandlerOptions{CallbackPath: callbackURL.Path, Token: "operator-token-for-tests-only-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	vendor := httptest.NewServer(h)
	defer vendor.Close()
	// The function's credentials: a session in the management account.
	fn, err := srv.AccountConfig(ctx, mgmtAccount)
	if err != nil {
		t.Fatal(err)
	}

	s := newService(v, stacks, nil)
	s.Secrets = issuedSecret{externalID: customer.ExternalID, secret: customer.Secret}
	s.Settings.CallbackURL = vendor.URL + callbackURL.Path
	s.Settings.Audience = prof.Callback.Audience
	s.NewSender = func(secret, audience string) (deliverer, error) {
		signer, err := callback.NewSigner(callback.SignerConfig{
			Secrets: []string{secret}, Audience: audience, STSEndpoint: srv.Endpoint(), STSRegion: srv.Region(),
			Credentials: fn.Credentials,
		})
		if err != nil {
			return nil, err
		}
		return callback.NewSender(callback.SenderConfig{Signer: signer, AllowLoopback: true, Logger: slog.New(slog.DiscardHandler),
			Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	req := verificationRequest(cfn.RequestCreate)
	req.Properties[params.ExternalID.Name] = customer.ExternalID
	_, createErr := s.Create(fnCtx(t), req)
	if createErr == nil {
		t.Fatal("a finding and an unverifiable account must fail the Create")
	}
	for _, r := range v.seen {
		if r.ExternalID != customer.ExternalID {
			t.Fatalf("role %s verified with external ID %q, want the customer's", r.RoleARN, r.ExternalID)
		}
	}
	org, _, err := db.Onboarding(ctx, "o-abc123defg")
	if err != nil {
		t.Fatalf("the vendor stored nothing (%v); the Create said: %v", err, createErr)
	}
	if org.CustomerID != customer.CustomerID || org.ManagementAccountID != mgmtAccount {
		t.Errorf("the organization is held by %s under %s, want %s under %s", org.CustomerID, org.ManagementAccountID, customer.CustomerID, mgmtAccount)
	}
	o, err := db.Timeline(ctx, "o-abc123defg", 1000)
	if err != nil {
		t.Fatal(err)
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
	if o.Status != ledger.StatusFailed || org.Status != ledger.StatusFailed {
		t.Errorf("the failed creation opened the onboarding: %s (row %s)", o.Status, org.Status)
	}
	if len(o.Timeline) != 1 || o.Timeline[0].Event != callback.EventVerificationFailed {
		t.Fatalf("timeline %+v, want the failed creation", o.Timeline)
	}

	// CloudFormation sends the request again: the function delivers the
	// same event, and the vendor answers it without a second entry.
	if _, err := s.Create(fnCtx(t), req); err == nil {
		t.Fatal("the retried Create succeeded")
	}
	o, err = db.Timeline(ctx, "o-abc123defg", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Timeline) != 1 {
		t.Fatalf("after the retry the timeline has %d entries, want 1: %+v", len(o.Timeline), o.Timeline)
	}
}

// testProfile is the vendor the function's settings (env) name.
const testProfile = `
id: vendor
name: Vendor
principalArn: arn:aws:iam::999999999999:role/VendorIngestion
roleName: VendorReadOnly
callback:
  url: https://hooks.vendor.example/aws
  audience: hooks.vendor.example
supportContact: support@vendor.example
publish:
  bucketPrefix: vendor-onboarding
  regions: [us-east-1]
`

// issuedSecret is the onboarding secret holding what the vendor issued.
type issuedSecret struct{ externalID, secret string }

func (s issuedSecret) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	b, err := json.Marshal(params.Secret{ExternalID: s.externalID, CallbackSecret: s.secret})
	if err != nil {
		return nil, err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(b))}, nil
}
