package onboarding

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

const functionARN = "arn:aws:lambda:us-east-1:111111111111:function:rolecall-onboarding-OnboardingFunction-AbC"

// verificationProps are the properties the template gives RoleVerification,
// as CloudFormation passes them (lists as lists, everything a string).
func verificationProps() map[string]any {
	return map[string]any{
		"ServiceToken":                              functionARN,
		"ServiceTimeout":                            "660",
		params.ExternalID.Name:                      "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60",
		params.PreviousExternalID.Name:              "",
		params.CURBucketName.Name:                   "acme-cur",
		params.CURReportPrefix.Name:                 "cur/",
		params.DeployToOrganization.Name:            "true",
		params.OrganizationalUnitIDs.Name:           []any{""},
		params.StackSetCallAs.Name:                  "SELF",
		params.InventoryRegions.Name:                []any{"us-east-1", "eu-west-1"},
		params.EnableBedrockAccess.Name:             "true",
		params.LogGroupNames.Name:                   []any{""},
		params.AdditionalVerifierPrincipalARNs.Name: []any{""},
		params.PropManagementRoleARN:                "arn:aws:iam::111111111111:role/VendorReadOnly",
		params.PropStackSetID:                       "onboarding-roles:6b8f2f0a-1111-2222-3333-444455556666",
		params.PropPermissionSetDigest:              permissions.Digest(),
	}
}

// testSettings are the function's environment as the template sets it.
func testSettings(t *testing.T) Settings {
	t.Helper()
	s, err := LoadSettings(env(), false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseConfigReadsWhatTheTemplateSends(t *testing.T) {
	c, err := ParseConfig(verificationProps(), testSettings(t), ParseOptions{DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DeployToOrg || !c.Bedrock || c.CURPrefix != "cur/" || len(c.Regions) != 2 || len(c.LogGroups) != 0 || len(c.OrganizationalUnits) != 0 {
		t.Errorf("config %+v", c)
	}
	if c.CallbackURL != "https://hooks.vendor.example/aws" || c.CallbackAudience != "hooks.vendor.example" || c.StackSet != "onboarding-roles" ||
		c.ManagementRoleARN != "arn:aws:iam::111111111111:role/VendorReadOnly" || c.PermissionSetVersion != permissions.Version {
		t.Errorf("vendor settings %+v, want the environment's", c)
	}
}

// Properties never carry the vendor's settings: a callback URL, audience or
// secret in the event is ignored, the environment's are used.
func TestParseConfigTakesNoVendorSettingFromProperties(t *testing.T) {
	props := verificationProps()
	props["CallbackUrl"] = "https://attacker.example/collect"
	props["CallbackAudience"] = "attacker.example"
	props["SecretArn"] = "arn:aws:secretsmanager:us-east-1:999999999999:secret:theirs-AbCdEf"
	props["RoleName"] = "SomethingElse"
	c, err := ParseConfig(props, testSettings(t), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.CallbackURL, "attacker") || strings.Contains(c.CallbackAudience, "attacker") || strings.Contains(c.SecretARN, "999999999999") || c.RoleName != "VendorReadOnly" {
		t.Errorf("config took a vendor setting from the event: %+v", c)
	}
}

func TestParseConfigDefaultsRegionsToTheStacksRegion(t *testing.T) {
	props := verificationProps()
	props[params.InventoryRegions.Name] = []any{""}
	c, err := ParseConfig(props, testSettings(t), ParseOptions{DefaultRegion: "eu-central-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Regions) != 1 || c.Regions[0] != "eu-central-1" {
		t.Errorf("regions %v", c.Regions)
	}
}

func TestParseConfigNamesEveryBadProperty(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value any
		want  string
	}{
		{"missing external id", params.ExternalID.Name, nil, "ExternalId is required"},
		{"short external id", params.ExternalID.Name, "short", "ExternalId (5 characters, not shown) is not allowed"},
		{"rotation to the same value", params.PreviousExternalID.Name, "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60", "PreviousExternalId equals ExternalId"},
		{"bucket", params.CURBucketName.Name, "Bad_Bucket", "CurBucketName"},
		{"prefix with wildcard", params.CURReportPrefix.Name, "cur/*", "no wildcards"},
		{"region", params.InventoryRegions.Name, []any{"moon-1"}, "InventoryRegions value \"moon-1\""},
		{"too many log groups", params.LogGroupNames.Name, []any{"a", "b", "c", "d", "e", "f"}, "at most 5"},
		{"OU", params.OrganizationalUnitIDs.Name, []any{"ou-x"}, "OrganizationalUnitIds"},
		{"verifier root ARN", params.AdditionalVerifierPrincipalARNs.Name, []any{"arn:aws:iam::123456789012:root"}, "AdditionalVerifierPrincipalArns"},
		{"bool", params.EnableBedrockAccess.Name, "yes", "EnableBedrockAccess \"yes\""},
		{"list of numbers", params.InventoryRegions.Name, []any{1.0}, "must be a string"},
		{"object instead of string", params.CURBucketName.Name, map[string]any{"a": 1}, "CurBucketName must be a string"},
		{"another stack's role", params.PropManagementRoleARN, "arn:aws:iam::222222222222:role/VendorReadOnly", "ManagementRoleArn"},
		{"another release's permission set", params.PropPermissionSetDigest, "sha256:" + strings.Repeat("0", 64), "same release"},
		{"no permission set", params.PropPermissionSetDigest, nil, "same release"},
		{"another StackSet", params.PropStackSetID, "someone-elses-roles", "StackSetId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := verificationProps()
			if tt.value == nil {
				delete(props, tt.key)
			} else {
				props[tt.key] = tt.value
			}
			_, err := ParseConfig(props, testSettings(t), ParseOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60") {
				t.Errorf("the error shows the external ID: %v", err)
			}
		})
	}
}

func TestLoadSettingsNamesEveryBadVariable(t *testing.T) {
	tests := []struct {
		key, value, want string
		loopback         bool
	}{
		{params.EnvCallbackURL, "http://hooks.vendor.example/aws", "must use https", false},
		{params.EnvCallbackURL, "https://u:p@hooks.vendor.example/", "no user info", false},
		{params.EnvCallbackURL, "http://10.0.0.1/hook", "must use https", true},
		{params.EnvSecretARN, "not-an-arn", params.EnvSecretARN, false},
		{params.EnvStackID, "", params.EnvStackID, false},
		{params.EnvStateTable, "", params.EnvStateTable, false},
		{params.EnvAudience, "", params.EnvAudience, false},
		{params.EnvRoleName, "a/b", params.EnvRoleName, false},
		// Lengths are checked apart from the patterns (no counted
		// repetition at start): one past each limit is refused.
		{params.EnvRoleName, strings.Repeat("r", 65), params.EnvRoleName, false},
		{params.EnvStateTable, "ab", params.EnvStateTable, false},
		{params.EnvStateTable, strings.Repeat("t", 256), params.EnvStateTable, false},
		{params.EnvStackSetName, "s" + strings.Repeat("1", 128), params.EnvStackSetName, false},
		{params.EnvStackSetName, "1abc", params.EnvStackSetName, false},
		{params.EnvStackID, "arn:aws:cloudformation:us-east-1:111111111111:stack/s" + strings.Repeat("1", 128) + "/id", params.EnvStackID, false},
		{params.EnvStackID, "arn:aws:cloudformation:us-east-1:111111111111:stack/s/" + strings.Repeat("a", 65), params.EnvStackID, false},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			base := env()
			_, err := LoadSettings(func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return base(k)
			}, tt.loopback)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "deploy the template") {
				t.Fatalf("error %v; want it to contain %q and say what to do", err, tt.want)
			}
		})
	}
	// Each limit itself is accepted.
	base := env()
	for key, value := range map[string]string{
		params.EnvRoleName:     strings.Repeat("r", 64),
		params.EnvStateTable:   "abc",
		params.EnvStackSetName: "s" + strings.Repeat("1", 127) + ":6b8f2f0a-1111-2222-3333-444455556666",
		params.EnvStackID:      "arn:aws-us-gov:cloudformation:us-gov-west-1:111111111111:stack/s" + strings.Repeat("1", 127) + "/" + strings.Repeat("a", 64),
	} {
		if _, err := LoadSettings(func(k string) string {
			if k == key {
				return value
			}
			return base(k)
		}, false); err != nil {
			t.Errorf("%s=%s refused: %v", key, value, err)
		}
	}
	// http on loopback only with the rehearsal's option.
	loop := func(k string) string {
		if k == params.EnvCallbackURL {
			return "http://127.0.0.1:8080/hook"
		}
		return base(k)
	}
	if _, err := LoadSettings(loop, false); err == nil {
		t.Error("http loopback accepted without AllowLoopbackHTTP")
	}
	if _, err := LoadSettings(loop, true); err != nil {
		t.Errorf("http loopback refused with AllowLoopbackHTTP: %v", err)
	}
}
