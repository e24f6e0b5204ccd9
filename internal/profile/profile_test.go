package profile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestShippedProfilesLoad(t *testing.T) {
	matches, err := filepath.Glob("../../vendors/*.yaml")
	if err != nil || len(matches) < 2 {
		t.Fatalf("want at least the two seed brands in vendors/, found %v (%v)", matches, err)
	}
	seen := map[string]string{}
	for _, m := range matches {
		p, err := Load(m)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[p.RoleName]; dup {
			t.Errorf("%s and %s share role name %s", prev, p.ID, p.RoleName)
		}
		seen[p.RoleName] = p.ID
		if len(p.AccountID()) != 12 {
			t.Errorf("%s: account id %q", p.ID, p.AccountID())
		}
	}
}

func valid() string {
	return `id: acme
name: Acme Cost
principalArn: arn:aws:iam::123456789012:role/AcmeIngest
roleName: AcmeReadOnly
callback:
  url: https://hooks.acme.example/aws
supportContact: help@acme.example
publish:
  bucketPrefix: acme-onboarding
  regions: [us-east-1]
`
}

func TestParseDefaultsAudienceToCallbackHost(t *testing.T) {
	p, err := Parse([]byte(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Callback.Audience != "hooks.acme.example" {
		t.Errorf("audience %q", p.Callback.Audience)
	}
}

func TestParseRejectsBadProfilesNamingTheField(t *testing.T) {
	tests := []struct {
		name, from, to, wantField string
	}{
		{"account root instead of a principal", "role/AcmeIngest", "root", "principalArn"},
		{"http callback", "https://hooks", "http://hooks", "callback.url"},
		{"role name with a space", "AcmeReadOnly", "Acme ReadOnly", "roleName"},
		{"unknown field is a typo", "roleName:", "rolename:", "field rolename not found"},
		{"bad region", "[us-east-1]", "[useast1]", "publish.regions"},
		{"contact that is neither email nor https", "help@acme.example", "call us", "supportContact"},
		{"upper-case id", "id: acme", "id: Acme", "id:"},
		{"brand with quotes", "name: Acme Cost", `name: 'Acme "Cost"'`, "name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(valid(), tt.from, tt.to, 1)
			_, err := Parse([]byte(in))
			if err == nil || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("error %v; want one naming %q", err, tt.wantField)
			}
		})
	}
}

func TestLoadRequiresIDToMatchFileName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(path, []byte(valid()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "must match the file name") {
		t.Fatalf("error %v", err)
	}
}

func TestFindListsAvailableProfiles(t *testing.T) {
	_, err := Find("../../vendors", "nosuch")
	if err == nil {
		t.Fatal("found a profile that does not exist")
	}
	matches, _ := filepath.Glob("../../vendors/*.yaml")
	for _, m := range matches {
		id := strings.TrimSuffix(filepath.Base(m), ".yaml")
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not list the available profile %s", err, id)
		}
	}
}

// A profile may enable GovCloud and China, each with its own principal and
// regions of that partition; anything else names the field.
func TestPartitions(t *testing.T) {
	withParts := valid() + `partitions:
  aws-us-gov:
    principalArn: arn:aws-us-gov:iam::123456789012:role/AcmeIngest
    regions: [us-gov-west-1]
  aws-cn:
    principalArn: arn:aws-cn:iam::123456789012:role/AcmeIngest
    regions: [cn-north-1, cn-northwest-1]
`
	p, err := Parse([]byte(withParts))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.EnabledPartitions(); !slices.Equal(got, []string{"aws", "aws-cn", "aws-us-gov"}) {
		t.Errorf("partitions %v", got)
	}
	if p.Principal("aws-us-gov") != "arn:aws-us-gov:iam::123456789012:role/AcmeIngest" || p.Principal("aws-iso") != "" {
		t.Errorf("principals %q %q", p.Principal("aws-us-gov"), p.Principal("aws-iso"))
	}
	if r := p.Regions(); !slices.Contains(r, "us-gov-west-1") || !slices.Contains(r, "cn-northwest-1") || !slices.Contains(r, "us-east-1") {
		t.Errorf("regions %v", r)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"a commercial principal in GovCloud", "arn:aws-us-gov:iam::123456789012:role/AcmeIngest", "arn:aws:iam::123456789012:role/AcmeIngest", "partitions.aws-us-gov.principalArn"},
		{"a commercial region in China", "[cn-north-1, cn-northwest-1]", "[cn-north-1, eu-west-1]", "partitions.aws-cn.regions"},
		{"an unknown partition", "aws-cn:", "aws-iso:", "partitions.aws-iso"},
		{"a GovCloud region at the top", "[us-east-1]", "[us-gov-west-1]", "publish.regions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(strings.Replace(withParts, tt.from, tt.to, 1))); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one naming %q", err, tt.want)
			}
		})
	}
}
