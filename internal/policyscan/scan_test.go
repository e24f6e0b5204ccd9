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

func templateGate() permissions.Gate {
	return permissions.Gate{Data: iamdata.Embedded(), CUR: permissions.CURScope{Bucket: "${CurBucketName}", Prefix: "${CurReportPrefix}"}}
}

func scan(t *testing.T, tpl string) Result {
	t.Helper()
	r, err := Scan([]byte(tpl), Options{})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return r
}

func problems(r Result) string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

func TestScanFindsEveryPolicyInEveryBranch(t *testing.T) {
	data, err := os.ReadFile("testdata/short-form.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Scan(data, Options{})
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
	want := []string{"ce:GetCostAndUsage", "iam:PassRole", "s3:PutObject", "sts:AssumeRole"}
	if !slices.Equal(actions, want) {
		t.Errorf("actions %v, want %v (the Fn::If branch, the StackSet body and the role whose metadata asks to be exempt included)", actions, want)
	}
	if len(r.Nested) != 1 || r.Nested[0].URL != "nested/role.yaml" || r.Nested[0].LogicalID != "Nested" {
		t.Errorf("nested %v", r.Nested)
	}
	if p := problems(r); !strings.Contains(p, "Attached: managed policy arn:aws:iam::aws:policy/ReadOnlyAccess") {
		t.Errorf("problems %q do not flag the attached managed policy with its logical ID", p)
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

// An exemption written into the template it checks is no exemption: the
// role that asks for one is gated like any other.
func TestScanIgnoresExemptionsWrittenInTheTemplate(t *testing.T) {
	data, _ := os.ReadFile("testdata/short-form.yaml")
	var out bytes.Buffer
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	CheckFiles([]string{filepath.Join(dir, "t.yaml")}, templateGate(), CheckOptions{}, &out)
	if !strings.Contains(out.String(), `Own (AWS::IAM::Role) policy w statement #1: sts:AssumeRole has access level "Write"`) {
		t.Errorf("the role with exemption metadata was not gated:\n%s", out.String())
	}
}

func TestScanRendersIntrinsicsForTheGate(t *testing.T) {
	data, _ := os.ReadFile("testdata/short-form.yaml")
	r, _ := Scan(data, Options{})
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
		if _, err := Scan([]byte(in), Options{}); err == nil {
			t.Errorf("Scan(%q) succeeded", in)
		}
	}
}

func TestScanReadsAPolicyDocument(t *testing.T) {
	r, err := Scan([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/*"}]}`), Options{})
	if err != nil || len(r.Policies) != 1 {
		t.Fatalf("policies %v, err %v", r.Policies, err)
	}
}

// Whatever the scan cannot evaluate fails the gate, naming the resource.
func TestScanFailsClosedOnWhatItCannotEvaluate(t *testing.T) {
	role := func(policy string) string {
		return "Parameters:\n  Open:\n    Type: String\n  Names:\n    Type: String\n    AllowedPattern: '^[a-z*]+$'\nResources:\n  R:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyName: p\n      Roles: [x]\n      PolicyDocument:\n" + policy
	}
	tests := []struct{ name, tpl, want string }{
		{"action from a parameter", role("        Statement: [{Effect: Allow, Action: !Ref Open, Resource: '*'}]\n"), "statement 1: Action is built with Ref"},
		{"action from an import", role("        Statement: [{Effect: Allow, Action: [!ImportValue actions], Resource: '*'}]\n"), "Action is built with Fn::ImportValue"},
		{"effect from a parameter", role("        Statement: [{Effect: !Ref Open, Action: ce:GetCostAndUsage, Resource: '*'}]\n"), "Effect is built with Ref"},
		{"statements from a parameter", role("        Statement: !Ref Open\n"), "the Statement list is built with Ref"},
		{"document as a Sub string", "Resources:\n  R:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyDocument: !Sub '{\"Statement\":[]}'\n", "R: R (AWS::IAM::Policy): the policy document is built with Fn::Sub"},
		{"resource from an import", role("        Statement: [{Effect: Allow, Action: ce:GetCostAndUsage, Resource: !ImportValue arn}]\n"), "Resource uses Fn::ImportValue"},
		{"resource from an unconstrained parameter", role("        Statement: [{Effect: Allow, Action: ssm:GetParameter, Resource: !Ref Open}]\n"), "parameter Open has no AllowedPattern"},
		{"resource from a parameter that admits a wildcard", role("        Statement: [{Effect: Allow, Action: ssm:GetParameter, Resource: !Sub 'arn:aws:ssm:us-east-1:111111111111:parameter/${Names}'}]\n"), `parameter Names: AllowedPattern "^[a-z*]+$" admits "*"`},
		{"stack set by URL", "Resources:\n  S:\n    Type: AWS::CloudFormation::StackSet\n    Properties:\n      TemplateURL: https://example.com/t.yaml\n", "S: the StackSet's template is given by URL"},
		{"stack set body built at deploy time", "Resources:\n  S:\n    Type: AWS::CloudFormation::StackSet\n    Properties:\n      TemplateBody: !Sub '${Body}'\n", "S: the StackSet's TemplateBody is built with Fn::Sub"},
		{"nested stack URL built at deploy time", "Resources:\n  N:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: !Sub 'https://${B}.s3.amazonaws.com/t.yaml'\n", "N: the nested stack's TemplateURL is built with Fn::Sub"},
		{"macro", "Transform: [AWS::Serverless-2016-10-31, Acme::Rewrite]\nResources: {}\n", "Acme::Rewrite rewrites the template at deploy time"},
		{"SAM function without a role", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: x}\n", "F: no Role"},
		{"policies entry from a parameter", "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies: [!Ref Open]\n", "R: a Policies entry is built with Ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scan(t, tt.tpl)
			if p := problems(r); !strings.Contains(p, tt.want) {
				t.Errorf("problems %q, want %q", p, tt.want)
			}
		})
	}
}

// The function's execution role is recognised by its shape: trusted by the
// Lambda service only, and the Role of a function in the template.
func TestScanRecognisesTheFunctionRoleByItsShape(t *testing.T) {
	tpl := func(principal string) string {
		return `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt FnRole.Arn
  FnRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: ` + principal + `, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: fn
          PolicyDocument:
            Statement:
              - {Effect: Allow, Action: sts:AssumeRole, Resource: !Sub 'arn:${AWS::Partition}:iam::*:role/VendorReadOnly'}
              - {Effect: Allow, Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: !GetAtt Logs.Arn}
`
	}
	tests := []struct {
		name      string
		principal string
		want      Role
	}{
		{"lambda only", "{Service: lambda.amazonaws.com}", FunctionRole},
		{"lambda and an AWS principal", "{Service: lambda.amazonaws.com, AWS: 'arn:aws:iam::111111111111:root'}", Identity},
		{"another service", "{Service: ec2.amazonaws.com}", Identity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := scan(t, tpl(tt.principal))
			if len(r.Policies) != 1 || r.Policies[0].Role != tt.want {
				t.Fatalf("policies %+v, want one of role %v", r.Policies, tt.want)
			}
			g := templateGate()
			fs := g.Check("p", r.Policies[0].Document)
			if r.Policies[0].Role == FunctionRole {
				fs = g.CheckFunctionRole("p", r.Policies[0].Document)
			}
			if failed := permissions.Failed(fs); failed != (tt.want != FunctionRole) {
				t.Errorf("gate failed = %v: %v", failed, fs)
			}
		})
	}
}

func TestFunctionRoleMayNotWriteElsewhere(t *testing.T) {
	g := templateGate()
	doc := func(action, resource string) permissions.Document {
		return permissions.Document{Statement: permissions.Statements{{Effect: "Allow", Action: permissions.StringList{action}, Resource: permissions.StringList{resource}}}}
	}
	for _, tt := range []struct {
		action, resource string
		ok               bool
	}{
		{"sts:AssumeRole", "arn:${AWS::Partition}:iam::*:role/VendorReadOnly", true},
		{"sts:AssumeRole", "arn:aws:iam::*:role/*", false},
		{"sts:AssumeRole", "*", false},
		{"logs:PutLogEvents", "${Logs.Arn}", true},
		{"logs:PutLogEvents", "*", false},
		{"iam:CreateRole", "*", false},
		{"s3:PutObject", "arn:aws:s3:::${CurBucketName}/*", false},
		{"ce:GetCostAndUsage", "*", true},
	} {
		fs := g.CheckFunctionRole("p", doc(tt.action, tt.resource))
		if permissions.Failed(fs) == tt.ok {
			t.Errorf("%s on %s: findings %v, want ok=%v", tt.action, tt.resource, fs, tt.ok)
		}
	}
}

// A role only EventBridge Scheduler may assume may invoke one named
// function, and write nothing else; a role others may assume too is an
// identity like any other.
func TestSchedulerRoleMayOnlyInvokeANamedFunction(t *testing.T) {
	tpl := func(principal, action, resource string) string {
		return `Resources:
  ScheduleRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: ` + principal + `, Action: sts:AssumeRole, Condition: {StringEquals: {'aws:SourceAccount': !Ref 'AWS::AccountId'}}}]
      Policies:
        - PolicyName: invoke
          PolicyDocument:
            Statement:
              - {Effect: Allow, Action: ` + action + `, Resource: ` + resource + `}
`
	}
	for _, tt := range []struct {
		name, principal, action, resource string
		role                              Role
		ok                                bool
	}{
		{"invoke the template's function", "{Service: scheduler.amazonaws.com}", "lambda:InvokeFunction", "!GetAtt Fn.Arn", SchedulerRole, true},
		{"invoke every function", "{Service: scheduler.amazonaws.com}", "lambda:InvokeFunction", "'*'", SchedulerRole, false},
		{"another write", "{Service: scheduler.amazonaws.com}", "sqs:SendMessage", "!GetAtt Queue.Arn", SchedulerRole, false},
		{"a read", "{Service: scheduler.amazonaws.com}", "lambda:GetFunction", "!GetAtt Fn.Arn", SchedulerRole, true},
		{"assumable by a user too", "{Service: scheduler.amazonaws.com, AWS: 'arn:aws:iam::111111111111:root'}", "lambda:InvokeFunction", "!GetAtt Fn.Arn", Identity, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := scan(t, tpl(tt.principal, tt.action, tt.resource))
			if len(r.Policies) != 1 || r.Policies[0].Role != tt.role {
				t.Fatalf("policies %+v, want one of role %v", r.Policies, tt.role)
			}
			g := templateGate()
			fs := g.Check("p", r.Policies[0].Document)
			if r.Policies[0].Role == SchedulerRole {
				fs = g.CheckSchedulerRole("p", r.Policies[0].Document)
			}
			if permissions.Failed(fs) == tt.ok {
				t.Errorf("findings %v, want ok=%v", fs, tt.ok)
			}
		})
	}
}

func TestScanGatesResourcePoliciesThatNameTheVendor(t *testing.T) {
	tpl := `Resources:
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: b
      PolicyDocument:
        Statement:
          - {Sid: Vendor, Effect: Allow, Principal: {AWS: 'arn:aws:iam::730335468052:role/Ingestion'}, Action: s3:PutObject, Resource: 'arn:aws:s3:::b/*'}
          - {Sid: Delivery, Effect: Allow, Principal: {Service: billingreports.amazonaws.com}, Action: s3:PutObject, Resource: 'arn:aws:s3:::b/*'}
          - {Sid: Other, Effect: Allow, Principal: {AWS: '999999999999'}, Action: s3:PutObject, Resource: 'arn:aws:s3:::b/*'}
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - {Sid: Anyone, Effect: Allow, Principal: '*', Action: 'kms:Decrypt', Resource: '*'}
  Secret:
    Type: AWS::SecretsManager::ResourcePolicy
    Properties:
      SecretId: s
      ResourcePolicy: '{"Statement":[{"Sid":"AllBut","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}'
  Queue:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [q]
      PolicyDocument:
        Statement:
          - {Sid: Events, Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sqs:SendMessage, Resource: '*'}
  Invoke:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: f
      Principal: '730335468052'
`
	r, err := Scan([]byte(tpl), Options{VendorPrincipals: []string{"arn:aws:iam::730335468052:role/Ingestion"}})
	if err != nil {
		t.Fatal(err)
	}
	var gated []string
	for _, p := range r.Policies {
		if p.Role != Resource {
			t.Errorf("%s is gated as %v, want a resource policy", p.Location, p.Role)
		}
		for _, s := range p.Document.Statement {
			gated = append(gated, p.LogicalID+"/"+s.Sid)
		}
	}
	slices.Sort(gated)
	want := []string{"BucketPolicy/Vendor", "Invoke/LambdaPermission", "Key/Anyone", "Secret/AllBut"}
	if !slices.Equal(gated, want) {
		t.Errorf("gated %v, want %v (service principals and other accounts are not the vendor)", gated, want)
	}
	// Without a vendor principal every AWS principal counts.
	r, _ = Scan([]byte(tpl), Options{})
	n := 0
	for _, p := range r.Policies {
		n += len(p.Document.Statement)
	}
	if n != 5 {
		t.Errorf("%d statements gated without a vendor principal, want 5", n)
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
	s := CheckFiles([]string{filepath.Join(dir, "main.yaml")}, templateGate(), CheckOptions{}, &out)
	if s.Files != 2 {
		t.Errorf("checked %d files, want the template and its nested stack", s.Files)
	}
	for _, want := range []string{"s3:PutObject", "iam:PassRole", "sts:GetFederationToken", "NotAction", "ReadOnlyAccess", "FAIL:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// PutObject, PassRole, NotAction, the managed policy, GetFederationToken,
	// the sts:AssumeRole of the role that asked to be exempt.
	if s.Errors != 6 {
		t.Errorf("%d errors, want 6:\n%s", s.Errors, out.String())
	}
}

func TestCheckFilesResolvesNestedURLsOrFails(t *testing.T) {
	dir := t.TempDir()
	main := "Resources:\n  N:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://vendor-bucket.s3.amazonaws.com/rolecall/1.0/role.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "files", "rolecall", "1.0"), 0o700); err != nil {
		t.Fatal(err)
	}
	role := `{"Statement":[{"Effect":"Allow","Action":"ce:GetCostAndUsage","Resource":"*"}]}`
	if err := os.WriteFile(filepath.Join(dir, "files", "rolecall", "1.0", "role.yaml"), []byte(role), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := CheckFiles([]string{filepath.Join(dir, "main.yaml")}, templateGate(), CheckOptions{}, &out)
	if s.Errors != 1 || !strings.Contains(out.String(), "N: the nested template is given by URL https://vendor-bucket.s3.amazonaws.com/rolecall/1.0/role.yaml, which the gate cannot fetch") {
		t.Errorf("an unresolved URL did not fail:\n%s", out.String())
	}
	out.Reset()
	s = CheckFiles([]string{filepath.Join(dir, "main.yaml")}, templateGate(), CheckOptions{Resolve: map[string]string{"https://vendor-bucket.s3.amazonaws.com/": filepath.Join(dir, "files")}}, &out)
	if s.Errors != 0 || s.Files != 2 || s.Policies != 1 {
		t.Errorf("resolved: %+v\n%s", s, out.String())
	}
}

func TestCommittedTemplatesPassTheGate(t *testing.T) {
	var out bytes.Buffer
	s := CheckFiles([]string{"../../template.yaml", "../../templates/member-role.yaml"}, templateGate(), CheckOptions{}, &out)
	// The function's role has its inline policy and the StackSet grant,
	// a policy of its own; the schedule's role has one.
	if s.Errors != 0 || s.Policies < 10 || s.FunctionRoles != 2 || s.SchedulerRoles != 1 {
		t.Fatalf("errors %d, policies %d, function roles %d, scheduler roles %d:\n%s", s.Errors, s.Policies, s.FunctionRoles, s.SchedulerRoles, out.String())
	}
}
