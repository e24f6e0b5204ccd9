package emulator_test

// Pins of moto 5.2.5 behaviour that the verification engine meets, in the
// style of moto_behaviour_test.go: each asserts what moto does and says
// what AWS does.

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

// Moto has no pricing or CUR service and no CloudTrail LookupEvents or
// Bedrock ListFoundationModels: it answers HTTP 500 with an HTML page. AWS
// serves all four. The recorded-response front answers the first three.
func TestMotoLacksAPIsTheVerifierProbes(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	cfg := srv.Config()
	calls := map[string]func() error{
		"pricing:DescribeServices": func() error {
			_, err := pricing.NewFromConfig(cfg).DescribeServices(ctx, &pricing.DescribeServicesInput{})
			return err
		},
		"cur:DescribeReportDefinitions": func() error {
			_, err := costandusagereportservice.NewFromConfig(cfg).DescribeReportDefinitions(ctx, &costandusagereportservice.DescribeReportDefinitionsInput{})
			return err
		},
		"cloudtrail:LookupEvents": func() error {
			_, err := cloudtrail.NewFromConfig(cfg).LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
			return err
		},
		"bedrock:ListFoundationModels": func() error {
			_, err := bedrock.NewFromConfig(cfg).ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if got := httpStatus(call()); got != http.StatusInternalServerError {
				t.Errorf("HTTP %d, want 500", got)
			}
		})
	}
}

// With rolecall's moto fixes, AssumeRole of a role that does not exist is
// denied, as in AWS (raw moto lets the caller's own policy decide).
func TestFixedMotoDeniesAssumeRoleOfAMissingRole(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	_, err := emulator.AssumeRole(t.Context(), srv.Config(), "arn:aws:iam::"+otherAccount+":role/NoSuchRole", "ext-12345678-aaaa-4bbb-8ccc-dddddddddddd", "probe")
	wantErrorCode(t, err, "AccessDenied")
}

// Raw moto evaluates an IAM statement's Resource against the role ARN only
// when the request names a RoleName; rolecall's moto fixes also use the
// PolicyArn or PolicySourceArn a request names, so a role allowed
// iam:GetPolicy on arn:aws:iam::*:policy/* and iam:SimulatePrincipalPolicy
// on itself is allowed both, as in AWS, and denied them elsewhere.
func TestFixedMotoAuthorisesIAMPolicyCallsByTheirResource(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	roleARN := arnOfRole(emulator.DefaultAccountID, "scoped")
	policy := mustJSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": []string{"iam:ListRolePolicies", "iam:SimulatePrincipalPolicy"}, "Resource": roleARN},
		map[string]any{"Effect": "Allow", "Action": "iam:GetPolicy", "Resource": "arn:aws:iam::*:policy/*"},
	}})
	if _, err := emulator.CreateRole(ctx, admin, "scoped", emulator.TrustPolicy(arnOfUser(emulator.AdminUserName)), policy); err != nil {
		t.Fatal(err)
	}
	session, err := emulator.AssumeRole(ctx, admin, roleARN, "", "probe")
	if err != nil {
		t.Fatal(err)
	}
	client := iam.NewFromConfig(session)
	if _, err := client.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("scoped")}); err != nil {
		t.Errorf("ListRolePolicies on the role itself: %v", err)
	}
	// Allowed: the policy does not exist, which only an allowed caller learns.
	_, err = client.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::" + emulator.DefaultAccountID + ":policy/any")})
	wantErrorCode(t, err, "NoSuchEntity")
	// Allowed on itself (moto then lacks the API), denied on another role.
	_, err = client.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleARN), ActionNames: []string{"iam:CreateUser"}})
	if emulator.ErrorCode(err) == "AccessDenied" {
		t.Errorf("SimulatePrincipalPolicy on itself: %v", err)
	}
	_, err = client.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(arnOfRole(emulator.DefaultAccountID, "other")), ActionNames: []string{"iam:CreateUser"}})
	wantErrorCode(t, err, "AccessDenied")
}

// Moto ignores ExpectedBucketOwner: listing a bucket with another
// account's ID as the expected owner succeeds. AWS answers 403
// AccessDenied, which the verifier must tell apart from a missing
// permission (it cannot always: see the cur_bucket_refused diagnosis).
func TestMotoIgnoresExpectedBucketOwner(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	if err := emulator.CreateBucket(ctx, admin, "owned-here"); err != nil {
		t.Fatal(err)
	}
	_, err := emulator.S3Client(admin).ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String("owned-here"), ExpectedBucketOwner: aws.String(otherAccount),
	})
	if err != nil {
		t.Errorf("ListObjectsV2 with another expected owner: %v; moto now checks it, as AWS does", err)
	}
}

// Moto's DescribeStacks writes a CommaDelimitedList parameter's value as a
// Python list, "['a', 'b']"; AWS writes "a,b".
func TestMotoWritesListParametersAsPythonLists(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	cfn := cloudformation.NewFromConfig(srv.Config())
	const template = `{"Parameters":{"Regions":{"Type":"CommaDelimitedList"}},"Resources":{"Handle":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}`
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("lists"), TemplateBody: aws.String(template),
		Parameters: []cftypes.Parameter{{ParameterKey: aws.String("Regions"), ParameterValue: aws.String("us-east-1,eu-west-1")}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("lists")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Stacks[0].Parameters[0].ParameterValue), "['us-east-1', 'eu-west-1']"; got != want {
		t.Errorf("Regions = %q, want moto's %q (AWS: \"us-east-1,eu-west-1\")", got, want)
	}
}

// Moto's Bedrock has no invocation-logging configuration until one is put:
// GetModelInvocationLoggingConfiguration answers without loggingConfig, as
// AWS does for an account that never turned logging on.
func TestMotoBedrockLoggingIsOffByDefault(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	out, err := bedrock.NewFromConfig(srv.Config()).GetModelInvocationLoggingConfiguration(t.Context(), &bedrock.GetModelInvocationLoggingConfigurationInput{})
	if err != nil {
		t.Fatal(err)
	}
	if c := out.LoggingConfig; c != nil && (c.CloudWatchConfig != nil || c.S3Config != nil) {
		t.Errorf("logging config %+v, want none", c)
	}
}
