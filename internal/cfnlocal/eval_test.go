package cfnlocal

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

const tpl = `
Parameters:
  Name: {Type: String}
  Flag: {Type: String, Default: "true"}
  Items: {Type: CommaDelimitedList, Default: ""}
Conditions:
  On: !Equals [!Ref Flag, "true"]
  HasItems: !Not [!Equals [!Join ["", !Ref Items], ""]]
  Both: !And [!Condition On, !Condition HasItems]
Resources:
  Thing:
    Type: AWS::X::Y
    Properties:
      Plain: !Sub "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Name}"
      WithVars: !Sub ["${A}-${Other.Arn}", {A: !Select [1, !Split [",", "a,b,c"]]}]
      Chosen: !If [On, "yes", "no"]
      Dropped: !If [HasItems, !Ref Items, !Ref AWS::NoValue]
      List: [one, !If [On, !Ref AWS::NoValue, two], !GetAtt Other.Arn]
      Joined: !Join [",", !Ref Items]
  Conditional:
    Type: AWS::X::Y
    Condition: Both
    Properties: {A: b}
Outputs:
  Out: {Value: !Ref Other}
`

func load(t *testing.T, values map[string]string) *Stack {
	t.Helper()
	s, err := Load([]byte(tpl), values, map[string]string{"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"},
		map[string]Resource{"Other": {Ref: "other-id", Attrs: map[string]string{"Arn": "arn:other"}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPropertiesEvaluateLikeCloudFormation(t *testing.T) {
	s := load(t, map[string]string{"Name": "n"})
	p, err := s.Properties("Thing")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"Plain":    "arn:aws:x:eu-west-1:111122223333:n",
		"WithVars": "b-arn:other",
		"Chosen":   "yes",
		"Joined":   "",
	}
	for k, want := range checks {
		if p[k] != want {
			t.Errorf("%s = %#v, want %#v", k, p[k], want)
		}
	}
	if _, ok := p["Dropped"]; ok {
		t.Error("AWS::NoValue did not remove the property")
	}
	if got := p["List"].([]any); len(got) != 2 || got[1] != "arn:other" {
		t.Errorf("List = %#v, want AWS::NoValue dropped from the list", got)
	}
	if ok, _ := s.HasResource("Conditional"); ok {
		t.Error("Conditional exists although HasItems is false")
	}
	if out, _ := s.Output("Out"); out != "other-id" {
		t.Errorf("Out = %v", out)
	}
}

func TestListParametersAndConditions(t *testing.T) {
	s := load(t, map[string]string{"Name": "n", "Items": "a,b"})
	p, err := s.Properties("Thing")
	if err != nil {
		t.Fatal(err)
	}
	if got := p["Dropped"].([]any); !slices.Equal(got, []any{"a", "b"}) {
		t.Errorf("Dropped = %v", got)
	}
	if p["Joined"] != "a,b" {
		t.Errorf("Joined = %v", p["Joined"])
	}
	if ok, _ := s.HasResource("Conditional"); !ok {
		t.Error("Conditional missing although On and HasItems hold")
	}
}

func TestLoadRejects(t *testing.T) {
	tests := map[string]map[string]string{
		"no value for a required parameter": {},
		"a parameter the template lacks":    {"Name": "n", "Nope": "x"},
	}
	for name, values := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Load([]byte(tpl), values, nil, nil); err == nil {
				t.Fatal("Load succeeded")
			}
		})
	}
}

func TestUnknownReferencesAreErrors(t *testing.T) {
	s, err := Load([]byte(tpl), map[string]string{"Name": "n"}, map[string]string{"AWS::Region": "r", "AWS::AccountId": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Properties("Thing"); err == nil || !strings.Contains(err.Error(), "Other") {
		t.Fatalf("error %v, want one naming the unresolved resource", err)
	}
}

// The management template evaluates completely with rolecall's values.
func TestManagementTemplateEvaluates(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"ExternalId": "ext-12345678-aaaa-4bbb-8ccc-dddddddddddd", "CallbackSecret": "whsec_" + strings.Repeat("A", 32), "CurBucketName": "cur-bucket"}
	pseudo := map[string]string{"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "onboarding", "AWS::StackId": "arn:stack"}
	first, err := Load(data, values, pseudo, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := first.ResourceIDs()
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]Resource{}
	for _, id := range ids {
		res[id] = Resource{Ref: id + "-id", Attrs: map[string]string{"Arn": "arn:" + id, "StackSetId": "set:1", "DeploymentTargets": "r-1", "Outputs.RoleArn": "arn:role",
			"VerificationStatus": "verified", "CallbackStatus": "delivered", "ManagementAccountId": "123456789012", "CurBucketRegion": "us-east-1"}}
	}
	s, err := Load(data, values, pseudo, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < 15 {
		t.Fatalf("only %d resources: %v", len(ids), ids)
	}
	for id := range res {
		if ok, _ := s.HasResource(id); !ok {
			continue
		}
		if _, err := s.Properties(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// Values are checked as CloudFormation checks them before it creates
// anything: the rehearsal fails where AWS would.
func TestLoadRefusesValuesCloudFormationRefuses(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"ExternalId": strings.Repeat("e", 40), "CallbackSecret": "whsec_" + strings.Repeat("A", 32), "CurBucketName": "cur-bucket"}
	pseudo := map[string]string{"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "onboarding", "AWS::StackId": "arn:stack"}
	if _, err := Load(data, base, pseudo, nil); err != nil {
		t.Fatalf("valid values refused: %v", err)
	}
	tests := map[string]struct{ name, value, want string }{
		"external id too short":      {"ExternalId", strings.Repeat("e", 31), "parameter 'ExternalId' failed to satisfy constraint: Must be 32 to 256"},
		"external id too long":       {"ExternalId", strings.Repeat("e", 257), "ExternalId"},
		"bucket not matching":        {"CurBucketName", "Bad_Bucket", "parameter 'CurBucketName' failed to satisfy constraint"},
		"value not allowed":          {"StackSetCallAs", "SOMEONE", "StackSetCallAs"},
		"a list element not allowed": {"InventoryRegions", "us-east-1,moon-1", "InventoryRegions"},
		"a value over 4,096 bytes":   {"LogGroupNames", strings.Repeat("g,", 2100), "4096"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			values := maps.Clone(base)
			values[tt.name] = tt.value
			if _, err := Load(data, values, pseudo, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want %q", err, tt.want)
			}
		})
	}
}
