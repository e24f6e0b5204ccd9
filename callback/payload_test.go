package callback

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// committedSchema compiles the schema file as committed, and a strict
// variant of it that refuses properties the schema does not name: the
// published schema lets receivers ignore additions, the strict one makes
// sure every property the Go types write is documented.
func committedSchema(t *testing.T) (published, strict *jsonschema.Schema) {
	t.Helper()
	doc, err := os.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	published, err = CompileSchema(doc)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		t.Fatal(err)
	}
	forbidAdditional(tree)
	strictDoc, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	strict, err = CompileSchema(strictDoc)
	if err != nil {
		t.Fatal(err)
	}
	return published, strict
}

func forbidAdditional(v any) {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "object" && v["properties"] != nil {
			v["additionalProperties"] = false
		}
		for _, c := range v {
			forbidAdditional(c)
		}
	case []any:
		for _, c := range v {
			forbidAdditional(c)
		}
	}
}

func validate(t *testing.T, s *jsonschema.Schema, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

func TestEveryPayloadValidatesAgainstTheSchema(t *testing.T) {
	published, strict := committedSchema(t)
	type variant struct {
		name string
		edit func(*Payload)
	}
	variants := []variant{
		{"as is", func(*Payload) {}},
		{"single account, no organization", func(p *Payload) { p.OrganizationID = "" }},
		{"external ID rotated, no notes, empty prefix", func(p *Payload) {
			p.ExternalIDRotated, p.Notes, p.CUR.Prefix = true, nil, ""
		}},
		{"GovCloud", func(p *Payload) {
			p.Region = "us-gov-west-1"
			p.StackID = strings.Replace(strings.Replace(p.StackID, "arn:aws:", "arn:aws-us-gov:", 1), "us-east-1", "us-gov-west-1", 1)
			for i := range p.Accounts {
				p.Accounts[i].RoleARN = strings.Replace(p.Accounts[i].RoleARN, "arn:aws:", "arn:aws-us-gov:", 1)
			}
			p.InventoryRegions = []string{"us-gov-west-1"}
		}},
		{"findings of every shape, unproven checks", func(p *Payload) {
			for i := range p.Accounts {
				p.Accounts[i].Status = StatusFinding
				p.Accounts[i].Findings = []Finding{
					{Kind: "all_actions", Source: "attached policy arn:aws:iam::aws:policy/AdministratorAccess", PolicyType: "managed", Policy: "arn:aws:iam::aws:policy/AdministratorAccess", Statement: "#1", StatementIndex: 1, Effect: "Allow", Action: "*", Resources: []string{"*"}, WriteActions: 11000, Examples: []string{"a4b:ApproveSkill"}, Detail: "every action"},
					{Kind: "wildcard_action", Source: "inline policy x", PolicyType: "inline", Policy: "x", Statement: "Puts", StatementIndex: 2, Effect: "Allow", Action: "s3:Put*", Resources: []string{"arn:aws:s3:::b/*"}, Detail: "d"},
					{Kind: "not_action", Source: "inline policy y", PolicyType: "inline", Policy: "y", Statement: "#1", StatementIndex: 1, Effect: "Allow", NotAction: true, Patterns: []string{"iam:*"}, Detail: "d"},
					{Kind: "bad_effect", Source: "inline policy z", PolicyType: "inline", Policy: "z", Statement: "#1", StatementIndex: 1, Effect: "Permit", Detail: "d"},
					{Kind: "malformed_action", Source: "inline policy z", PolicyType: "inline", Action: "GetObject ?*", Detail: "d"},
					{Kind: "simulator_allows", Source: "iam:SimulatePrincipalPolicy", PolicyType: "simulation", Action: "logs:DeleteLogGroup", WriteActions: 1, Detail: "d"},
				}
				p.Accounts[i].Unproven = []Unproven{{Check: "iam:GetPolicyVersion", Target: "attached policy arn:aws:iam::aws:policy/X", Code: "AccessDenied", Message: "explicit deny"}}
			}
		}},
		{"role without a path", func(p *Payload) {
			for i := range p.Accounts {
				p.Accounts[i].RoleARN = "arn:aws:iam::" + p.Accounts[i].AccountID + ":role/VendorReadOnly"
			}
		}},
	}
	for _, event := range Events() {
		for _, members := range []int{0, 1, 7, 5000} {
			for _, v := range variants {
				if members == 5000 && v.name != "as is" {
					continue
				}
				if event == EventVerificationRestored && strings.HasPrefix(v.name, "findings") {
					continue // a restored account is verified: it has no findings
				}
				t.Run(fmt.Sprintf("%s/%d members/%s", event, members, v.name), func(t *testing.T) {
					p := testPayload(event, members)
					v.edit(&p)
					body, err := p.Marshal()
					if err != nil {
						t.Fatalf("Marshal: %v", err)
					}
					if err := validate(t, published, body); err != nil {
						t.Errorf("the committed schema refuses it: %v", err)
					}
					if err := validate(t, strict, body); err != nil {
						t.Errorf("a property is missing from the schema: %v", err)
					}
				})
			}
		}
	}
}

// A receiver that validates with this schema still accepts what a 1.0
// sender wrote: no findings or unproven lists, version 1.0.
func TestSchemaAcceptsVersionOnePointZeroPayloads(t *testing.T) {
	published, _ := committedSchema(t)
	body, err := testPayload(EventOnboardingCreated, 2).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = "1.0"
	for _, a := range m["accounts"].([]any) {
		delete(a.(map[string]any), "findings")
		delete(a.(map[string]any), "findings_total")
		delete(a.(map[string]any), "unproven")
	}
	old, _ := json.Marshal(m)
	if err := validate(t, published, old); err != nil {
		t.Errorf("a 1.0 payload no longer validates: %v", err)
	}
}

func TestSchemaRejectsWrongPayloads(t *testing.T) {
	published, _ := committedSchema(t)
	valid, err := testPayload(EventOnboardingCreated, 2).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"missing id", func(m map[string]any) { delete(m, "id") }},
		{"id in another format", func(m map[string]any) { m["id"] = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" }},
		{"unknown event", func(m map[string]any) { m["event"] = "onboarding.exploded" }},
		{"version 2", func(m map[string]any) { m["version"] = "2.0" }},
		{"role ARN of a user", func(m map[string]any) { account(m, 0)["role_arn"] = "arn:aws:iam::123456789012:user/alice" }},
		{"role ARN with a short account", func(m map[string]any) { account(m, 0)["role_arn"] = "arn:aws:iam::12345:role/x" }},
		{"role ARN of another service", func(m map[string]any) { account(m, 0)["role_arn"] = "arn:aws:s3:::bucket" }},
		{"unknown status", func(m map[string]any) { account(m, 1)["status"] = "ok" }},
		{"account id with letters", func(m map[string]any) { account(m, 1)["account_id"] = "12345678901x" }},
		{"probe with a wildcard", func(m map[string]any) {
			account(m, 1)["failed_probes"] = []any{map[string]any{"action": "iam:*", "outcome": "denied"}}
		}},
		{"timestamp not in UTC", func(m map[string]any) { m["occurred_at"] = "2026-11-02T11:15:00+01:00" }},
		{"timestamp not a date", func(m map[string]any) { m["sent_at"] = "yesterday" }},
		{"digest not sha256", func(m map[string]any) { m["permission_set"].(map[string]any)["digest"] = "md5:abc" }},
		{"created without accounts", func(m map[string]any) { m["accounts"] = []any{} }},
		{"accounts null", func(m map[string]any) { m["accounts"] = nil }},
		{"management account missing", func(m map[string]any) { delete(m, "management_account_id") }},
		{"duplicate inventory region", func(m map[string]any) { m["inventory_regions"] = []any{"us-east-1", "us-east-1"} }},
		{"CUR bucket with capitals", func(m map[string]any) { m["cur"].(map[string]any)["bucket"] = "My-Bucket" }},
		{"finding without a kind", func(m map[string]any) {
			account(m, 0)["findings"] = []any{map[string]any{"source": "s", "policy_type": "inline", "not_action": false, "detail": "d"}}
		}},
		{"finding of an unknown policy type", func(m map[string]any) {
			account(m, 0)["findings"] = []any{map[string]any{"kind": "write_action", "source": "s", "policy_type": "group", "not_action": false, "detail": "d"}}
		}},
		{"finding with an action longer than the limit", func(m map[string]any) {
			account(m, 0)["findings"] = []any{map[string]any{"kind": "write_action", "source": "s", "policy_type": "inline", "not_action": false, "detail": "d", "action": strings.Repeat("a", MaxFindingString+1)}}
		}},
		{"unproven without a message", func(m map[string]any) {
			account(m, 0)["unproven"] = []any{map[string]any{"check": "iam:GetRolePolicy", "target": "t"}}
		}},
	}
	heartbeat, err := testPayload(EventHeartbeat, 3).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	drifted, err := testPayload(EventVerificationDrifted, 3).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	scheduled := []struct {
		name string
		body []byte
		edit func(m map[string]any)
	}{
		{"heartbeat without counts", heartbeat, func(m map[string]any) { delete(m, "counts") }},
		{"heartbeat with accounts", heartbeat, func(m map[string]any) {
			m["accounts"] = []any{map[string]any{"account_id": testMgmt, "role_arn": roleARN(testMgmt), "status": "verified", "diagnoses": []any{}, "failed_probes": []any{}}}
		}},
		{"counts with an unknown status", heartbeat, func(m map[string]any) { m["counts"].(map[string]any)["ok"] = 1 }},
		{"negative pending events", heartbeat, func(m map[string]any) { m["pending_events"] = -1 }},
		{"drifted without accounts", drifted, func(m map[string]any) { m["accounts"] = []any{} }},
		{"unknown previous status", drifted, func(m map[string]any) { account(m, 0)["previous_status"] = "fine" }},
	}
	for _, sc := range scheduled {
		tests = append(tests, struct {
			name string
			edit func(m map[string]any)
		}{sc.name, sc.edit})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := valid
			if j := i - (len(tests) - len(scheduled)); j >= 0 {
				base = scheduled[j].body
			}
			var m map[string]any
			if err := json.Unmarshal(base, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			body, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, published, body); err == nil {
				t.Error("the schema accepts it")
			}
			if err := validateSchema(body); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("validateSchema: %v, want ErrInvalidPayload", err)
			}
		})
	}
}

func account(m map[string]any, i int) map[string]any {
	return m["accounts"].([]any)[i].(map[string]any)
}

func TestValidateChecksWhatTheSchemaCannot(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Payload)
		want string
	}{
		{"account listed twice", func(p *Payload) { p.Accounts = append(p.Accounts, p.Accounts[1]) }, "listed twice"},
		{"role in another account than its entry", func(p *Payload) { p.Accounts[1].RoleARN = roleARN(memberID(9)) }, "is not in account"},
		{"stack outside the management account", func(p *Payload) { p.StackID = testStackID(memberID(0)) }, "not in the management account"},
		{"stack in another region", func(p *Payload) { p.Region = "eu-west-1" }, "not in region"},
		{"a delegated administrator naming no management account", func(p *Payload) { p.CallAs = "DELEGATED_ADMIN" }, "must name it"},
		{"a delegated administrator naming itself", func(p *Payload) {
			p.CallAs, p.OrganizationManagementAccountID = "DELEGATED_ADMIN", p.ManagementAccountID
		}, "must name it"},
		{"a SELF stack outside the organization's management account", func(p *Payload) {
			p.CallAs, p.OrganizationManagementAccountID = "SELF", memberID(5)
		}, "a SELF stack runs in the management account"},
		{"counts that do not add up", func(p *Payload) { p.Counts = &Counts{Accounts: 3, Verified: 1} }, "add up to 1"},
		{"a drift to verified", func(p *Payload) {
			p.Event = EventVerificationDrifted
			p.Accounts[0].PreviousStatus = StatusGaps
		}, "a drift is a move"},
		{"a drift that changed nothing", func(p *Payload) {
			p.Event = EventVerificationDrifted
			p.Accounts = p.Accounts[3:4] // unreachable
			p.Accounts[0].PreviousStatus = StatusUnreachable
		}, "a drift is a move"},
		{"a restoration to gaps", func(p *Payload) {
			p.Event = EventVerificationRestored
			p.Accounts = p.Accounts[2:3] // gaps
			p.Accounts[0].PreviousStatus = StatusFinding
		}, "a restoration is a move to verified"},
		{"a restoration without a previous status", func(p *Payload) {
			p.Event = EventVerificationRestored
			p.Accounts = p.Accounts[:1]
		}, "a restoration is a move to verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPayload(EventOnboardingCreated, 3)
			tt.edit(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %v, want ErrInvalidPayload mentioning %q", err, tt.want)
			}
			if _, err := p.Marshal(); !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("Marshal: %v, want ErrInvalidPayload", err)
			}
		})
	}
}

func TestMarshalWritesEveryListAndTheVersion(t *testing.T) {
	p := testPayload(EventOnboardingDeleted, 0)
	p.Version, p.Accounts, p.Notes, p.InventoryRegions = "", nil, nil, nil
	body, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":"` + Version + `"`, `"accounts":[]`, `"notes":[]`, `"inventory_regions":[]`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	if strings.Contains(string(body), "null") {
		t.Errorf("body has a null: %s", body)
	}
}

func TestEventID(t *testing.T) {
	stack := testStackID(testMgmt)
	roles := []string{roleARN(testMgmt), roleARN(memberID(0)), roleARN(memberID(1))}
	base := EventID(EventOnboardingCreated, stack, "req-1", roles)
	if !regexp.MustCompile(`^evt_[0-9a-f]{32}$`).MatchString(base) {
		t.Fatalf("EventID = %q, want evt_ and 32 hex digits", base)
	}
	tests := []struct {
		name     string
		id       string
		wantSame bool
	}{
		{"same event again", EventID(EventOnboardingCreated, stack, "req-1", roles), true},
		{"roles in another order", EventID(EventOnboardingCreated, stack, "req-1", []string{roles[2], roles[0], roles[1]}), true},
		{"a role repeated", EventID(EventOnboardingCreated, stack, "req-1", append(roles, roles[1])), true},
		{"one role fewer", EventID(EventOnboardingCreated, stack, "req-1", roles[:2]), false},
		{"another role", EventID(EventOnboardingCreated, stack, "req-1", []string{roles[0], roles[1], roleARN(memberID(7))}), false},
		{"another request", EventID(EventOnboardingCreated, stack, "req-2", roles), false},
		{"another event", EventID(EventOnboardingUpdated, stack, "req-1", roles), false},
		{"another stack", EventID(EventOnboardingCreated, testStackID(memberID(0)), "req-1", roles), false},
		// Length-prefixed fields: moving characters between fields changes the id.
		{"fields shifted", EventID(EventOnboardingCreated, stack+"r", "eq-1", roles), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := tt.id == base; same != tt.wantSame {
				t.Errorf("id %s vs %s: same = %v, want %v", tt.id, base, same, tt.wantSame)
			}
		})
	}
}

func TestCountsMergeAddsEveryStatus(t *testing.T) {
	a := CountsOf([]Account{{Status: StatusVerified}, {Status: StatusGaps}, {Status: StatusFinding}})
	b := CountsOf([]Account{{Status: StatusUnverifiable}, {Status: StatusUnreachable}, {Status: StatusVerified}})
	a.Merge(b)
	if want := (Counts{Accounts: 6, Verified: 2, Gaps: 1, Finding: 1, Unverifiable: 1, Unreachable: 1}); a != want {
		t.Fatalf("merged %+v, want %+v", a, want)
	}
}
