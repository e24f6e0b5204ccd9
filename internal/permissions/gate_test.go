package permissions

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/iamdata"
)

func testGate() Gate {
	return Gate{Data: iamdata.Embedded(), CUR: CURScope{Bucket: "acme-cur", Prefix: "cur/"}}
}

func allow(actions []string, resources ...string) Document {
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	return Document{Version: "2012-10-17", Statement: []DocStatement{{Sid: "Test", Effect: "Allow", Action: actions, Resource: resources}}}
}

func errorsOf(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == Error {
			out = append(out, f)
		}
	}
	return out
}

func TestGateRejectsPoliciesThatAreNotReadOnly(t *testing.T) {
	tests := []struct {
		name       string
		doc        Document
		wantAction string
		wantInMsg  string
	}{
		{"s3 PutObject is a write", allow([]string{"s3:PutObject"}, "arn:aws:s3:::acme-cur/cur/*"), "s3:PutObject", `access level "Write"`},
		{"iam PassRole is a write", allow([]string{"iam:PassRole"}), "iam:PassRole", `access level "Write"`},
		{"ce wildcard", allow([]string{"ce:*"}), "ce:*", "is a wildcard"},
		{"ce Get wildcard as the seed wrote it", allow([]string{"ce:Get*"}), "ce:Get*", "is a wildcard"},
		{"sts GetFederationToken looks like a read but is a write", allow([]string{"sts:GetFederationToken"}), "sts:GetFederationToken", `access level "Write"`},
		{"bare star", allow([]string{"*"}), "*", "every action of every service"},
		{"tagging", allow([]string{"iam:TagRole"}), "iam:TagRole", `"Tagging, Write"`},
		{"permissions management", allow([]string{"iam:PutRolePolicy"}), "iam:PutRolePolicy", `"Permissions management, Write"`},
		{"unknown action", allow([]string{"s3:GetObjekt"}), "s3:GetObjekt", "not an action in the IAM action dataset"},
		{"unknown service", allow([]string{"nosuchservice:DescribeThings"}), "nosuchservice:DescribeThings", `service "nosuchservice" is not in the IAM action dataset`},
		{"s3 write wildcard", allow([]string{"s3:Put*"}, "arn:aws:s3:::acme-cur"), "s3:Put*", "allows"},
		{"a write in a service rolecall never grants", allow([]string{"ec2:TerminateInstances"}), "ec2:TerminateInstances", `access level "Write"`},
		{"secret values everywhere", allow([]string{"secretsmanager:GetSecretValue"}, "arn:aws:secretsmanager:*:111111111111:secret:*"), "secretsmanager:GetSecretValue", "name the resources"},
		{"table items in every table", allow([]string{"dynamodb:Scan"}, "arn:aws:dynamodb:us-east-1:111111111111:table/*"), "dynamodb:Scan", "name the resources"},
		{"parameters of any account", allow([]string{"ssm:GetParameter"}, "arn:aws:ssm:us-east-1:*:parameter/app"), "ssm:GetParameter", "name the resources"},
		{"a read that starts a query", allow([]string{"logs:StartQuery"}), "logs:StartQuery", "acts"},
		{"a read that starts drift detection", allow([]string{"cloudformation:DetectStackDrift"}), "cloudformation:DetectStackDrift", "acts"},
		{"a read that receives (and hides) messages", allow([]string{"sqs:ReceiveMessage"}), "sqs:ReceiveMessage", "acts"},
		{"a read that exports a private key", allow([]string{"acm:ExportCertificate"}), "acm:ExportCertificate", "acts"},
		{"a read that issues credentials", allow([]string{"sts:GetSessionToken"}), "sts:GetSessionToken", "issues temporary credentials"},
		{"not service:action", allow([]string{"GetObject"}), "GetObject", "write it as service:Action"},
		{"bedrock InvokeModel is Read in the dataset but runs a model", allow([]string{"bedrock:InvokeModel"}), "bedrock:InvokeModel", "acts"},
		{"logs Unmask reveals masked data", allow([]string{"logs:Unmask"}), "logs:Unmask", "acts"},
		{"s3 read of another bucket", allow([]string{"s3:GetObject"}, "arn:aws:s3:::someone-else/*"), "s3:GetObject", "outside the CUR bucket"},
		{"s3 read outside the prefix", allow([]string{"s3:GetObject"}, "arn:aws:s3:::acme-cur/private/*"), "s3:GetObject", "outside the CUR bucket"},
		{"s3 read of every bucket", allow([]string{"s3:ListBucket"}, "*"), "s3:ListBucket", "outside the CUR bucket"},
		{"s3 bucket name that only starts like the CUR bucket", allow([]string{"s3:ListBucket"}, "arn:aws:s3:::acme-cur-backup"), "s3:ListBucket", "outside the CUR bucket"},
		{"log events everywhere", allow([]string{"logs:GetLogEvents"}), "logs:GetLogEvents", "name the resources"},
	}
	g := testGate()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := errorsOf(g.Check("TestPolicy", tt.doc))
			if len(errs) == 0 {
				t.Fatalf("gate passed %v; want an error naming %s", tt.doc.Statement[0].Action, tt.wantAction)
			}
			f := errs[0]
			if f.Action != tt.wantAction {
				t.Errorf("finding action = %q, want %q", f.Action, tt.wantAction)
			}
			if !strings.Contains(f.String(), tt.wantAction) || !strings.Contains(f.Message, tt.wantInMsg) {
				t.Errorf("finding %q does not name %s with %q", f, tt.wantAction, tt.wantInMsg)
			}
			if !strings.Contains(f.String(), "TestPolicy statement Test") {
				t.Errorf("finding %q does not locate the policy and statement", f)
			}
		})
	}
}

func TestGateRejectsStatementShapesThatGrantTooMuch(t *testing.T) {
	tests := []struct {
		name string
		st   DocStatement
		want string
	}{
		{"NotAction", DocStatement{Effect: "Allow", NotAction: StringList{"iam:*"}, Resource: StringList{"*"}}, "NotAction allows every action"},
		{"NotResource", DocStatement{Effect: "Allow", Action: StringList{"ce:GetCostAndUsage"}, NotResource: StringList{"arn:aws:s3:::x"}}, "NotResource allows every resource"},
		{"bad effect", DocStatement{Effect: "allow", Action: StringList{"ce:GetCostAndUsage"}, Resource: StringList{"*"}}, "neither Allow nor Deny"},
		{"no action", DocStatement{Effect: "Allow", Resource: StringList{"*"}}, "no Action"},
	}
	g := testGate()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := errorsOf(g.Check("P", Document{Statement: []DocStatement{tt.st}}))
			if len(errs) == 0 || !strings.Contains(errs[0].Message, tt.want) {
				t.Fatalf("findings %v; want an error containing %q", errs, tt.want)
			}
			if errs[0].Statement != "#1" {
				t.Errorf("statement without Sid located as %q, want #1", errs[0].Statement)
			}
		})
	}
}

func TestGatePassesReadsInScope(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
	}{
		{"cost explorer read", allow([]string{"ce:GetCostAndUsage"})},
		{"action names are case-insensitive", allow([]string{"CE:getcostandusage"})},
		{"CUR bucket list", allow([]string{"s3:ListBucket", "s3:GetBucketLocation"}, "arn:aws:s3:::acme-cur")},
		{"CUR objects under the prefix", allow([]string{"s3:GetObject"}, "arn:aws:s3:::acme-cur/cur/*")},
		{"CUR objects deeper under the prefix", allow([]string{"s3:GetObject"}, "arn:aws:s3:::acme-cur/cur/2026/*")},
		{"other partitions", allow([]string{"s3:GetObject"}, "arn:aws-cn:s3:::acme-cur/cur/*")},
		{"deny statements only take away", Document{Statement: []DocStatement{{Effect: "Deny", NotAction: StringList{"*"}, Resource: StringList{"*"}}}}},
	}
	g := testGate()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := errorsOf(g.Check("P", tt.doc)); len(errs) > 0 {
				t.Fatalf("gate rejected a read-only policy: %v", errs)
			}
		})
	}
}

func TestGateUnderstandsTemplateParameters(t *testing.T) {
	g := Gate{Data: iamdata.Embedded(), CUR: CURScope{Bucket: "${CurBucketName}", Prefix: "${CurReportPrefix}"}}
	ok := allow([]string{"s3:GetObject"}, "arn:${AWS::Partition}:s3:::${CurBucketName}/${CurReportPrefix}*")
	if errs := errorsOf(g.Check("P", ok)); len(errs) > 0 {
		t.Errorf("template CUR resource rejected: %v", errs)
	}
	bad := allow([]string{"s3:GetObject"}, "arn:${AWS::Partition}:s3:::${OtherBucket}/*")
	if errs := errorsOf(g.Check("P", bad)); len(errs) == 0 {
		t.Errorf("template resource on another bucket passed")
	}
}

func TestGateWithoutCURBucketRejectsAllS3(t *testing.T) {
	g := Gate{Data: iamdata.Embedded()}
	errs := errorsOf(g.Check("P", allow([]string{"s3:ListBucket"}, "arn:aws:s3:::anything")))
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "no CUR bucket configured") {
		t.Fatalf("findings %v; want one error saying no CUR bucket is configured", errs)
	}
}

func TestGateWarnsAboutContentReads(t *testing.T) {
	fs := testGate().Check("P", allow([]string{"s3:GetObject", "ce:GetCostAndUsage"}, "arn:aws:s3:::acme-cur/cur/*"))
	if Failed(fs) {
		t.Fatalf("unexpected errors: %v", fs)
	}
	if len(fs) != 1 || fs[0].Severity != Warning || fs[0].Action != "s3:GetObject" {
		t.Fatalf("findings %v; want exactly one warning for s3:GetObject", fs)
	}
}

func TestActingReadsAreReadActionsTheVerbsMiss(t *testing.T) {
	data := iamdata.Embedded()
	for action := range actingReads {
		a, ok := data.Lookup(action)
		if !ok {
			t.Errorf("acting read %s is not in the dataset: a typo, or AWS removed it", action)
			continue
		}
		if !a.ReadOnly() {
			t.Errorf("acting read %s has level %q; the access-level rule already rejects it, drop it from the list", a, a.AccessLevel)
		}
	}
}

// The verb rule must keep refusing the Read-level actions that act, and
// must not refuse the reads rolecall grants.
func TestActingReadRuleSeparatesActionsFromReads(t *testing.T) {
	data := iamdata.Embedded()
	for _, action := range []string{
		"bedrock:InvokeModel", "bedrock:InvokeAgent", "bedrock:Retrieve", "bedrock:ApplyGuardrail", "bedrock:CallWithBearerToken",
		"sagemaker:InvokeEndpoint", "logs:StartQuery", "logs:StopQuery", "logs:StartLiveTail", "logs:Unmask",
		"cloudformation:DetectStackDrift", "sqs:ReceiveMessage", "acm:ExportCertificate", "iam:GenerateCredentialReport",
		"cloudwatch:GenerateQuery", "translate:TranslateText", "sts:GetSessionToken", "sts:GetServiceBearerToken",
	} {
		a, ok := data.Lookup(action)
		if !ok {
			t.Errorf("%s is not in the dataset", action)
			continue
		}
		if !IsForbiddenRead(action) {
			t.Errorf("%s (%s) is not refused", a, a.AccessLevel)
		}
	}
	for _, m := range Modules() {
		for _, action := range m.Actions() {
			if IsForbiddenRead(action) {
				t.Errorf("catalog action %s is refused as acting", action)
			}
		}
	}
}

func TestNamedResource(t *testing.T) {
	tests := []struct {
		resource string
		named    bool
	}{
		{"*", false},
		{"arn:aws:s3:::acme-cur/cur/*", true},
		{"arn:aws:s3:::acme-cur/*", true},
		{"arn:${AWS::Partition}:s3:::${CurBucketName}/${CurReportPrefix}*", true},
		{"arn:aws:s3:::*", false},
		{"arn:aws:s3:::*/*", false},
		{"arn:aws:s3:::acme-*", false},
		{"arn:*:s3:::acme-cur/*", false},
		{"arn:aws:logs:*:111111111111:log-group:/aws/bedrock/modelinvocations:*", true},
		{"arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:${LogGroupName}:*", true},
		{"arn:aws:logs:us-east-1:111111111111:log-group:*", false},
		{"arn:aws:logs:us-east-1:111111111111:log-group:*:*", false},
		{"arn:aws:logs:*:*:log-group:app:*", false},
		{"arn:aws:logs:*:*:*", false},
		{"arn:aws:secretsmanager:us-east-1:111111111111:secret:db-password-??????", true},
		{"arn:aws:secretsmanager:us-east-1:111111111111:secret:*", false},
		{"arn:aws:ssm:us-east-1:111111111111:parameter/app/*", true},
		{"arn:aws:ssm:us-east-1:111111111111:parameter/*", false},
		{"arn:aws:dynamodb:us-east-1:111111111111:table/orders", true},
		{"arn:aws:dynamodb:us-east-1:111111111111:table/*", false},
		{"arn:aws:dynamodb:us-east-1:111111111111:*/orders", false},
		{"arn:aws:dynamodb:us-east-1::table/orders", false},
		{"not-an-arn", false},
		{"${OnboardingSecret}", true},
		{"${OnboardingFunctionLogs.Arn}", true},
	}
	for _, tt := range tests {
		if got := NamedResource(tt.resource); got != tt.named {
			t.Errorf("NamedResource(%q) = %v, want %v", tt.resource, got, tt.named)
		}
	}
}

func TestGateFindingsCarryTheEvidence(t *testing.T) {
	doc := Document{Statement: []DocStatement{
		{Sid: "Reads", Effect: "Allow", Action: StringList{"ce:GetCostAndUsage"}, Resource: StringList{"*"}},
		{Effect: "Allow", NotAction: StringList{"iam:*", "organizations:*"}, Resource: StringList{"*"}},
		{Sid: "Puts", Effect: "Allow", Action: StringList{"s3:Put*"}, Resource: StringList{"arn:aws:s3:::acme-cur"}},
	}}
	fs := errorsOf(testGate().Check("attached policy arn:aws:iam::111111111111:policy/Extra", doc))
	if len(fs) != 2 {
		t.Fatalf("findings %v, want two", fs)
	}
	not, put := fs[0], fs[1]
	if not.Kind != KindNotAction || !not.NotAction || not.Index != 2 || not.Statement != "#2" || not.Effect != "Allow" ||
		strings.Join(not.Patterns, ",") != "iam:*,organizations:*" || not.Matches < 1000 || len(not.Examples) == 0 {
		t.Errorf("NotAction finding %+v lacks its evidence", not)
	}
	if put.Kind != KindWildcardAction || put.Action != "s3:Put*" || put.Statement != "Puts" || put.Index != 3 ||
		strings.Join(put.Resources, ",") != "arn:aws:s3:::acme-cur" || put.Matches < 30 {
		t.Errorf("wildcard finding %+v lacks its evidence", put)
	}
	for _, e := range put.Examples {
		if !strings.HasPrefix(e, "s3:Put") {
			t.Errorf("example %s is not covered by s3:Put*", e)
		}
	}
}

func TestEveryKindHasAPolicyThatMakesIt(t *testing.T) {
	made := map[Kind]bool{}
	g := testGate()
	for _, d := range KindExamples() {
		for _, f := range g.Check("P", d.Document) {
			made[f.Kind] = true
		}
	}
	for _, k := range Kinds() {
		if !made[k] {
			t.Errorf("no example policy makes a %s finding", k)
		}
	}
}

func TestContentReadsAreKnownReadActions(t *testing.T) {
	data := iamdata.Embedded()
	for _, action := range ContentReads() {
		a, ok := data.Lookup(action)
		if !ok || !a.ReadOnly() {
			t.Errorf("content read %s: in dataset %v, read-only %v", action, ok, a.ReadOnly())
		}
	}
}

// kms:Decrypt is a Write action; the one form a read-only role may have is
// on named keys, only through S3 in a named region.
func TestGateAcceptsDecryptOnlyThroughS3(t *testing.T) {
	key := "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	decrypt := func(resource string, cond map[string]map[string]StringList) Document {
		return Document{Statement: Statements{{Sid: "D", Effect: "Allow", Action: StringList{"kms:Decrypt"}, Resource: StringList{resource}, Condition: cond}}}
	}
	via := func(v ...string) map[string]map[string]StringList {
		return map[string]map[string]StringList{"StringEquals": {"kms:ViaService": v}}
	}
	tests := []struct {
		name string
		doc  Document
		ok   bool
	}{
		{"a named key through S3", decrypt(key, via("s3.us-east-1.amazonaws.com")), true},
		{"as the template writes it", decrypt("${CurKmsKeyArn}", via("s3.${CurBucketRegion}.${AWS::URLSuffix}")), true},
		{"without kms:ViaService", decrypt(key, nil), false},
		{"through another service", decrypt(key, via("secretsmanager.us-east-1.amazonaws.com")), false},
		{"through S3 and something else", decrypt(key, via("s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com")), false},
		{"every key", decrypt("*", via("s3.us-east-1.amazonaws.com")), false},
		{"any key of the account", decrypt("arn:aws:kms:us-east-1:111111111111:key/*", via("s3.us-east-1.amazonaws.com")), false},
		{"an alias", decrypt("arn:aws:kms:us-east-1:111111111111:alias/cur", via("s3.us-east-1.amazonaws.com")), false},
		{"ViaService as StringLike", decrypt(key, map[string]map[string]StringList{"StringLike": {"kms:ViaService": {"s3.*"}}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := testGate().Check("P", tt.doc)
			if Failed(fs) == tt.ok {
				t.Errorf("findings %v, want accepted %v", fs, tt.ok)
			}
		})
	}
}
