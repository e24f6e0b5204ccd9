package verify

import (
	"testing"

	"github.com/rolecall/rolecall/internal/permissions"
)

func TestProveFromDocumentsGrantsOnlyWhatAnUnconditionalAllowGives(t *testing.T) {
	doc := func(sts ...permissions.DocStatement) []permissions.Document {
		return []permissions.Document{{Version: "2012-10-17", Statement: sts}}
	}
	allow := permissions.DocStatement{Effect: "Allow", Action: []string{"ce:Get*"}, Resource: []string{"*"}}
	for _, tt := range []struct {
		name     string
		read     bool
		docs     []permissions.Document
		want     Outcome
		wantCode string
	}{
		{"an Allow of ce:Get* on *", true, doc(allow), OutcomeOK, ""},
		{"the action in another case", true, doc(permissions.DocStatement{Effect: "Allow", Action: []string{"CE:getcostandusage"}, Resource: []string{"*"}}), OutcomeOK, ""},
		{"NotAction that leaves it in", true, doc(permissions.DocStatement{Effect: "Allow", NotAction: []string{"iam:*"}, Resource: []string{"*"}}), OutcomeOK, ""},
		{"policies not read", false, doc(allow), OutcomeDenied, "Unproven"},
		{"no statement names it", true, doc(permissions.DocStatement{Effect: "Allow", Action: []string{"ce:List*"}, Resource: []string{"*"}}), OutcomeDenied, "ImplicitDeny"},
		{"an Allow with a condition", true, doc(permissions.DocStatement{Effect: "Allow", Action: []string{"ce:*"}, Resource: []string{"*"},
			Condition: map[string]map[string]permissions.StringList{"Bool": {"aws:MultiFactorAuthPresent": {"true"}}}}), OutcomeDenied, "ImplicitDeny"},
		{"an Allow on one resource only", true, doc(permissions.DocStatement{Effect: "Allow", Action: []string{"ce:*"}, Resource: []string{"arn:aws:ce::111111111111:anomalymonitor/x"}}), OutcomeDenied, "ImplicitDeny"},
		{"a Deny beside the Allow", true, doc(allow, permissions.DocStatement{Effect: "Deny", Action: []string{"ce:*"}, Resource: []string{"*"}}), OutcomeDenied, "ExplicitDeny"},
		{"NotAction that leaves it out", true, doc(permissions.DocStatement{Effect: "Allow", NotAction: []string{"ce:*"}, Resource: []string{"*"}}), OutcomeDenied, "ImplicitDeny"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := proveFromDocuments(Probe{Service: "ce", Action: "GetCostAndUsage"}, "ce:GetCostAndUsage", tt.read, tt.docs)
			if got.Outcome != tt.want || got.Code != tt.wantCode || got.Message == "" {
				t.Errorf("%+v, want %s %s with a message", got, tt.want, tt.wantCode)
			}
		})
	}
}
