package policyscan

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
)

func TestScanFindsEveryPolicyInEveryBranch(t *testing.T) {
	data, err := os.ReadFile("testdata/short-form.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Scan(data)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, p := range r.Policies {
		for _, s := range p.Document.Statement {
			actions = append(actions, s.Action...)
		}
	}
	slices.Sort(actions)
	want := []string{"ce:GetCostAndUsage", "iam:PassRole", "s3:PutObject"}
	if !slices.Equal(actions, want) {
		t.Errorf("actions %v, want %v (the Fn::If branch and the StackSet body included)", actions, want)
	}
	if len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0].Location, "Own") {
		t.Errorf("skipped %+v, want the exempt role", r.Skipped)
	}
	if !slices.Equal(r.Nested, []string{"nested/role.yaml"}) {
		t.Errorf("nested %v", r.Nested)
	}
	var problems = strings.Join(r.Problems, "\n")
	if !strings.Contains(problems, "ReadOnlyAccess") {
		t.Errorf("problems %q do not flag the attached managed policy", problems)
	}
	var notAction bool
	for _, p := range r.Policies {
		for _, s := range p.Document.Statement {
			notAction = notAction || len(s.NotAction) > 0
		}
	}
	if !notAction {
		t.Error("the single-statement NotAction policy was not read")
	}
}

func TestScanRendersIntrinsicsForTheGate(t *testing.T) {
	data, _ := os.ReadFile("testdata/short-form.yaml")
	r, _ := Scan(data)
	for _, p := range r.Policies {
		for _, s := range p.Document.Statement {
			if s.Sid == "Sneaky" && !slices.Equal([]string(s.Resource), []string{"arn:${AWS::Partition}:s3:::${Bucket}/*"}) {
				t.Errorf("resource rendered as %v", s.Resource)
			}
		}
	}
}

func TestScanRejectsWhatIsNotATemplate(t *testing.T) {
	for _, in := range []string{"", "- a\n- b\n", "Description: nothing\n", "a: &x 1\nb: *x\n"} {
		if _, err := Scan([]byte(in)); err == nil {
			t.Errorf("Scan(%q) succeeded", in)
		}
	}
}

func TestScanReadsAPolicyDocument(t *testing.T) {
	r, err := Scan([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/*"}]}`))
	if err != nil || len(r.Policies) != 1 {
		t.Fatalf("policies %v, err %v", r.Policies, err)
	}
}

func TestCheckFilesFollowsNestedTemplatesAndCountsErrors(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile("testdata/short-form.yaml")
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nested"), 0o700); err != nil {
		t.Fatal(err)
	}
	nested := `{"Statement":[{"Effect":"Allow","Action":"sts:GetFederationToken","Resource":"*"}]}`
	if err := os.WriteFile(filepath.Join(dir, "nested", "role.yaml"), []byte(nested), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	g := permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "${CurBucketName}", Prefix: "${CurReportPrefix}"}}
	s := CheckFiles([]string{filepath.Join(dir, "main.yaml")}, g, &out)
	if s.Files != 2 {
		t.Errorf("checked %d files, want the template and its nested stack", s.Files)
	}
	for _, want := range []string{"s3:PutObject", "iam:PassRole", "sts:GetFederationToken", "NotAction", "ReadOnlyAccess", "FAIL:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// PutObject, PassRole, NotAction, the managed policy, GetFederationToken.
	if s.Errors != 5 {
		t.Errorf("%d errors, want 5:\n%s", s.Errors, out.String())
	}
}

func TestCommittedTemplatesPassTheGate(t *testing.T) {
	var out bytes.Buffer
	g := permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "${CurBucketName}", Prefix: "${CurReportPrefix}"}}
	s := CheckFiles([]string{"../../template.yaml", "../../templates/member-role.yaml"}, g, &out)
	if s.Errors != 0 || s.Policies < 10 {
		t.Fatalf("errors %d, policies %d:\n%s", s.Errors, s.Policies, out.String())
	}
}
