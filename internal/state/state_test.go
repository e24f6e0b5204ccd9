package state_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/state"
)

// newTable creates the state table as the onboarding template does and
// returns a store for it, used with the policy the template gives the
// function: the table's own ARN only.
func newTable(t *testing.T, srv *emulator.Server, name string) (*state.Store, *dynamodb.Client) {
	t.Helper()
	admin := dynamodb.NewFromConfig(srv.Config())
	if _, err := admin.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
	}); err != nil {
		t.Fatal(err)
	}
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", emulator.DefaultRegion, emulator.DefaultAccountID, name)
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"}, "Resource": arn,
	}}})
	fn, err := emulator.CreateUser(t.Context(), srv.Config(), "fn-"+name, string(policy))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(fn)
	return state.New(db, name), db
}

func record(id string, status callback.Status, at time.Time) state.Record {
	return state.Record{
		AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/VendorReadOnly", Status: status, PermissionSet: "2026-12.1", VerifiedAt: at,
		Account: callback.Account{AccountID: id, RoleARN: "arn:aws:iam::" + id + ":role/VendorReadOnly", Status: status,
			Findings: []callback.Finding{{Kind: "all_actions", Source: "s", PolicyType: "managed", Action: "*", Detail: "d"}}},
	}
}

func TestStoreKeepsTheNewestVerificationOfEachAccount(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	s, _ := newTable(t, srv, "rolecall-state")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

	n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusVerified, t0), record("222222222222", callback.StatusFinding, t0)})
	if err != nil || n != 2 {
		t.Fatalf("Save: %d, %v", n, err)
	}
	// A newer verification replaces; an older one, arriving late (an
	// overlapping run), does not.
	if n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusUnverifiable, t0.Add(time.Minute))}); err != nil || n != 1 {
		t.Fatalf("newer Save: %d, %v", n, err)
	}
	if n, err := s.Save(t.Context(), []state.Record{record("111111111111", callback.StatusVerified, t0.Add(30*time.Second))}); err != nil || n != 0 {
		t.Fatalf("older Save wrote %d, %v; want it dropped", n, err)
	}
	all, err := s.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["111111111111"].Status != callback.StatusUnverifiable || !all["111111111111"].VerifiedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("state %+v", all)
	}
	got := all["222222222222"]
	if got.Status != callback.StatusFinding || got.Account.Findings[0].Action != "*" || got.PermissionSet != "2026-12.1" || got.RoleARN != "arn:aws:iam::222222222222:role/VendorReadOnly" {
		t.Errorf("record %+v", got)
	}
	if err := s.Forget(t.Context(), "222222222222"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.All(t.Context()); len(all) != 1 {
		t.Errorf("after Forget: %d records, want 1", len(all))
	}
}

func TestStoreRefusesAFormatFromTheFuture(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	s, _ := newTable(t, srv, "rolecall-state-future")
	admin := dynamodb.NewFromConfig(srv.Config())
	if _, err := admin.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("rolecall-state-future"), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "ACCOUNT"}, "sk": &types.AttributeValueMemberS{Value: "111111111111"},
		"format": &types.AttributeValueMemberN{Value: fmt.Sprint(state.Format + 1)}, "verifiedAt": &types.AttributeValueMemberN{Value: "1"},
	}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.All(t.Context())
	if !errors.Is(err, state.ErrNewerFormat) || !strings.Contains(err.Error(), "111111111111") {
		t.Fatalf("All = %v, want ErrNewerFormat naming the account", err)
	}
}

// The function's policy names its own table; moto, taught to authorise
// DynamoDB calls by the table they name, denies any other.
func TestStoreIsDeniedAnotherTable(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	_, db := newTable(t, srv, "rolecall-state-own")
	newTable(t, srv, "someone-elses")
	_, err := state.New(db, "someone-elses").All(t.Context())
	if code := emulator.ErrorCode(err); code != "AccessDeniedException" && code != "AccessDenied" {
		t.Fatalf("reading another table: %v (code %q), want AccessDenied", err, code)
	}
}

func TestStoreKeepsAHugeReportSlim(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	s, _ := newTable(t, srv, "rolecall-state-huge")
	r := record("333333333333", callback.StatusFinding, time.Now())
	noise := func() string { b := make([]byte, 64); _, _ = rand.Read(b); return hex.EncodeToString(b) }
	for i := range 5000 {
		r.Account.Findings = append(r.Account.Findings, callback.Finding{Kind: "write_action", Source: "policy " + noise(), PolicyType: "inline", Action: fmt.Sprintf("svc%d:Act%d", i, i*31), Detail: noise()})
	}
	if _, err := s.Save(t.Context(), []state.Record{r}); err != nil {
		t.Fatal(err)
	}
	all, err := s.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := all["333333333333"]
	if got.Status != callback.StatusFinding || got.Account.FindingsTotal != len(r.Account.Findings) || len(got.Account.Findings) != 0 || got.Account.Diagnoses[0].Code != "state_truncated" {
		t.Errorf("slim record: status %s, %d findings of %d, %d diagnoses", got.Status, len(got.Account.Findings), got.Account.FindingsTotal, len(got.Account.Diagnoses))
	}
}
