package params

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidateStringParameters(t *testing.T) {
	tests := []struct {
		name    string
		p       Param
		value   string
		wantErr string // "" means valid
	}{
		{"external id ok", ExternalID, "acme-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60", ""},
		{"external id of 31 characters", ExternalID, strings.Repeat("a", 31), "ExternalId"},
		{"external id of 257 characters", ExternalID, strings.Repeat("a", 257), "ExternalId"},
		{"external id at the bounds", ExternalID, strings.Repeat("a", 256), ""},
		{"external id required", ExternalID, "", "ExternalId is required"},
		{"external id too short", ExternalID, "abc", "ExternalId"},
		{"external id bad characters", ExternalID, "has space inside", "ExternalId"},
		{"external id value is never echoed", ExternalID, "bad value!", "not shown"},
		{"previous external id may be empty", PreviousExternalID, "", ""},
		{"bucket ok", CURBucketName, "acme-cur.reports", ""},
		{"bucket upper case", CURBucketName, "Acme-CUR", "CurBucketName \"Acme-CUR\" is not allowed: use an S3 bucket name"},
		{"prefix with wildcard", CURReportPrefix, "cur/*", "no wildcards"},
		{"prefix empty", CURReportPrefix, "", ""},
		{"bool", EnableBedrockAccess, "yes", "use true or false"},
		{"call as", StackSetCallAs, "DELEGATED_ADMIN", ""},
		{"callback secret", CallbackSecret, "whsec_" + strings.Repeat("A", 32), ""},
		{"callback secret without prefix", CallbackSecret, strings.Repeat("A", 40), "whsec_"},
		{"schedule off", VerificationSchedule, "off", ""},
		{"schedule 12 hours", VerificationSchedule, "rate(12 hours)", ""},
		{"schedule 1 day", VerificationSchedule, "rate(1 day)", ""},
		{"schedule 99 days", VerificationSchedule, "rate(99 days)", ""},
		{"schedule plural for 1", VerificationSchedule, "rate(1 hours)", "singular for 1"},
		{"schedule singular for 2", VerificationSchedule, "rate(2 hour)", "rate(N hours)"},
		{"schedule in minutes", VerificationSchedule, "rate(5 minutes)", "rate(N hours)"},
		{"schedule of 0 hours", VerificationSchedule, "rate(0 hours)", "from 1 to 99"},
		{"schedule of 100 days", VerificationSchedule, "rate(100 days)", "from 1 to 99"},
		{"schedule as cron", VerificationSchedule, "cron(0 12 * * ? *)", "VerificationSchedule"},
		{"schedule empty", VerificationSchedule, "", "VerificationSchedule"},
		{"heartbeat", Heartbeat, "weekly", "daily or off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate(tt.value)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v; want it to contain %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), tt.p.Name) {
				t.Errorf("error %q does not start with the parameter name", err)
			}
		})
	}
}

func TestValidateListParameters(t *testing.T) {
	tests := []struct {
		name    string
		p       Param
		values  []string
		wantErr string
	}{
		{"ous", OrganizationalUnitIDs, []string{"ou-ab12-cdef3456", "r-ab12"}, ""},
		{"bad ou", OrganizationalUnitIDs, []string{"ou-AB"}, "OrganizationalUnitIds value \"ou-AB\""},
		{"regions", InventoryRegions, []string{"us-east-1", "us-gov-west-1"}, ""},
		{"bad region", InventoryRegions, []string{"mars-1"}, "InventoryRegions"},
		{"duplicate", InventoryRegions, []string{"us-east-1", "us-east-1"}, "twice"},
		{"empty element", LogGroupNames, []string{"a", ""}, "value 2 is empty"},
		{"too many log groups", LogGroupNames, []string{"a", "b", "c", "d", "e", "f"}, "at most 5"},
		{"verifier arn", AdditionalVerifierPrincipalARNs, []string{"arn:aws:iam::123456789012:role/ci"}, ""},
		{"verifier account root", AdditionalVerifierPrincipalARNs, []string{"arn:aws:iam::123456789012:root"}, "AdditionalVerifierPrincipalArns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.ValidateList(tt.values)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v; want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	if got := SplitList(""); len(got) != 0 {
		t.Errorf("SplitList(\"\") = %q", got)
	}
	if got := SplitList(" us-east-1, eu-west-1 ,"); len(got) != 2 || got[1] != "eu-west-1" {
		t.Errorf("SplitList = %q", got)
	}
}

// CloudFormation evaluates AllowedPattern with Java regexes: keep patterns
// to the shared subset, anchored, and compiling in Go.
func TestPatternsAreAnchoredAndPortable(t *testing.T) {
	for _, p := range All() {
		if p.Pattern == "" {
			if len(p.Allowed()) == 0 {
				t.Errorf("%s has neither a pattern nor allowed values", p.Name)
			}
			continue
		}
		if !strings.HasPrefix(p.Pattern, "^") || !strings.HasSuffix(p.Pattern, "$") {
			t.Errorf("%s pattern %q is not anchored", p.Name, p.Pattern)
		}
		if _, err := regexp.Compile(p.Pattern); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if strings.Contains(p.Pattern, `\w`) || strings.Contains(p.Pattern, `\d`) {
			t.Errorf("%s: spell classes out ([0-9], [A-Za-z]) so Java and Go agree", p.Name)
		}
		if p.Rule == "" || p.Description == "" || p.Label == "" || p.Group == "" {
			t.Errorf("%s lacks a rule, description, label or group", p.Name)
		}
	}
}
