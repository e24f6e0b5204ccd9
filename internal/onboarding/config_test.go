package onboarding

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// verificationProps are the properties the template gives RoleVerification,
// as CloudFormation passes them (lists as lists, everything a string).
func verificationProps() map[string]any {
	return map[string]any{
		"ServiceToken":                              "arn:aws:lambda:us-east-1:111111111111:function:f",
		"ServiceTimeout":                            "660",
		params.ExternalID.Name:                      "ext-7f3c9e1d-2b4a",
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
		params.PropRoleName:                         "VendorReadOnly",
		params.PropManagementRoleARN:                "arn:aws:iam::111111111111:role/VendorReadOnly",
		params.PropStackSetID:                       "onboarding-roles:6b8f2f0a-1111-2222-3333-444455556666",
		params.PropSecretARN:                        "arn:aws:secretsmanager:us-east-1:111111111111:secret:OnboardingSecret-AbCdEf",
		params.PropCallbackURL:                      "https://hooks.vendor.example/aws",
		params.PropCallbackAudience:                 "hooks.vendor.example",
		params.PropPermissionSetVersion:             permissions.Version,
		params.PropPermissionSetDigest:              permissions.Digest(),
	}
}

func TestParseConfigReadsWhatTheTemplateSends(t *testing.T) {
	c, err := ParseConfig(verificationProps(), ParseOptions{DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DeployToOrg || !c.Bedrock || c.CURPrefix != "cur/" || len(c.Regions) != 2 || len(c.LogGroups) != 0 || len(c.OrganizationalUnits) != 0 {
		t.Errorf("config %+v", c)
	}
}

func TestParseConfigDefaultsRegionsToTheStacksRegion(t *testing.T) {
	props := verificationProps()
	props[params.InventoryRegions.Name] = []any{""}
	c, err := ParseConfig(props, ParseOptions{DefaultRegion: "eu-central-1"})
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
		{"rotation to the same value", params.PreviousExternalID.Name, "ext-7f3c9e1d-2b4a", "PreviousExternalId equals ExternalId"},
		{"bucket", params.CURBucketName.Name, "Bad_Bucket", "CurBucketName"},
		{"prefix with wildcard", params.CURReportPrefix.Name, "cur/*", "no wildcards"},
		{"region", params.InventoryRegions.Name, []any{"moon-1"}, "InventoryRegions value \"moon-1\""},
		{"too many log groups", params.LogGroupNames.Name, []any{"a", "b", "c", "d", "e", "f"}, "at most 5"},
		{"OU", params.OrganizationalUnitIDs.Name, []any{"ou-x"}, "OrganizationalUnitIds"},
		{"verifier root ARN", params.AdditionalVerifierPrincipalARNs.Name, []any{"arn:aws:iam::123456789012:root"}, "AdditionalVerifierPrincipalArns"},
		{"bool", params.EnableBedrockAccess.Name, "yes", "EnableBedrockAccess \"yes\""},
		{"list of numbers", params.InventoryRegions.Name, []any{1.0}, "must be a string"},
		{"object instead of string", params.CURBucketName.Name, map[string]any{"a": 1}, "CurBucketName must be a string"},
		{"http callback", params.PropCallbackURL, "http://hooks.vendor.example/aws", "must use https"},
		{"callback with user info", params.PropCallbackURL, "https://u:p@hooks.vendor.example/", "no user info"},
		{"role ARN", params.PropManagementRoleARN, "arn:aws:iam::1:role/x", "ManagementRoleArn"},
		{"secret ARN", params.PropSecretARN, "not-an-arn", "SecretArn"},
		{"digest", params.PropPermissionSetDigest, "md5:abc", "PermissionSetDigest"},
		{"stack set", params.PropStackSetID, "", "StackSetId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := verificationProps()
			if tt.value == nil {
				delete(props, tt.key)
			} else {
				props[tt.key] = tt.value
			}
			_, err := ParseConfig(props, ParseOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ext-7f3c9e1d-2b4a") {
				t.Errorf("the error shows the external ID: %v", err)
			}
		})
	}
}

func TestParseConfigAllowsLoopbackHTTPOnlyWhenAsked(t *testing.T) {
	props := verificationProps()
	props[params.PropCallbackURL] = "http://127.0.0.1:8080/hook"
	if _, err := ParseConfig(props, ParseOptions{}); err == nil {
		t.Error("http loopback accepted without AllowLoopbackHTTP")
	}
	if _, err := ParseConfig(props, ParseOptions{AllowLoopbackHTTP: true}); err != nil {
		t.Errorf("http loopback refused with AllowLoopbackHTTP: %v", err)
	}
	props[params.PropCallbackURL] = "http://10.0.0.1/hook"
	if _, err := ParseConfig(props, ParseOptions{AllowLoopbackHTTP: true}); err == nil {
		t.Error("http to a non-loopback address accepted")
	}
}
