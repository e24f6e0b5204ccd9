package emulator_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bcmdataexports"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/pricing"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

// The front answers the APIs moto lacks with recorded answers the Go SDK
// reads as it reads AWS's.
func TestRecordedFakeAnswersWhatMotoLacks(t *testing.T) {
	t.Parallel()
	_, fakes := emulatortest.StartWithRecordedFakes(t)
	ctx := t.Context()
	cfg := fakes.Config()

	svc, err := pricing.NewFromConfig(cfg).DescribeServices(ctx, &pricing.DescribeServicesInput{MaxResults: aws.Int32(1)})
	if err != nil || len(svc.Services) != 1 || aws.ToString(svc.Services[0].ServiceCode) != "AmazonEC2" {
		t.Errorf("pricing DescribeServices: %+v, %v", svc, err)
	}
	events, err := cloudtrail.NewFromConfig(cfg).LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(events.Events) != 1 || !aws.ToTime(events.Events[0].EventTime).Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("cloudtrail LookupEvents: %+v, %v", events, err)
	}
	fakes.PlayCUR([]emulator.RecordedReport{{Name: "daily", Bucket: "acme-cur", Prefix: "cur", Region: "eu-west-1"}},
		[]emulator.RecordedExport{{Name: "cur2", Bucket: "acme-cur", Prefix: "exports", Region: "eu-west-1", Owner: "123456789012"}})
	reports, err := costandusagereportservice.NewFromConfig(cfg).DescribeReportDefinitions(ctx, &costandusagereportservice.DescribeReportDefinitionsInput{})
	if err != nil || len(reports.ReportDefinitions) != 1 || reports.ReportDefinitions[0].S3Region != "eu-west-1" {
		t.Errorf("cur DescribeReportDefinitions: %+v, %v", reports, err)
	}
	exports := bcmdataexports.NewFromConfig(cfg)
	list, err := exports.ListExports(ctx, &bcmdataexports.ListExportsInput{})
	if err != nil || len(list.Exports) != 1 || list.NextToken != nil {
		t.Fatalf("bcm-data-exports ListExports: %+v, %v", list, err)
	}
	got, err := exports.GetExport(ctx, &bcmdataexports.GetExportInput{ExportArn: list.Exports[0].ExportArn})
	if err != nil || aws.ToString(got.Export.DestinationConfigurations.S3Destination.S3Prefix) != "exports" || aws.ToString(got.Export.Name) != "cur2" {
		t.Errorf("bcm-data-exports GetExport: %+v, %v", got, err)
	}
	metrics, err := cloudwatch.NewFromConfig(cfg).ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("AWS/Usage")})
	if err != nil || len(metrics.Metrics) != 1 || aws.ToString(metrics.Metrics[0].Namespace) != "AWS/Usage" || len(metrics.Metrics[0].Dimensions) != 4 {
		t.Errorf("cloudwatch ListMetrics: %+v, %v", metrics, err)
	}
	asked := []string{"iam:CreateUser", "s3:PutObject", "bedrock:InvokeModel"}
	sim, err := iam.NewFromConfig(cfg).SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::123456789012:role/VendorReadOnly"), ActionNames: asked,
	})
	if err != nil {
		t.Fatalf("iam SimulatePrincipalPolicy: %v", err)
	}
	var answered []string
	for _, r := range sim.EvaluationResults {
		answered = append(answered, aws.ToString(r.EvalActionName))
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
			t.Errorf("%s: %s, want implicitDeny", aws.ToString(r.EvalActionName), r.EvalDecision)
		}
	}
	if !slices.Equal(answered, asked) || sim.IsTruncated {
		t.Errorf("simulated %v (truncated %v), want %v", answered, sim.IsTruncated, asked)
	}
	for _, api := range emulator.RecordedAPIs() {
		if fakes.Answered(api) != 1 {
			t.Errorf("%s answered %d times, want 1", api, fakes.Answered(api))
		}
	}
}

// Everything else reaches moto unchanged: signatures still verify (the
// Host header is kept), moto's authorisation still applies, and a client
// without the emulator's CompatAPIOptions (the verify tool, the Lambda run
// locally) reads moto's authorisation errors as it would AWS's. A bodiless
// GET still needs a signed X-Amz-Content-Sha256 header, which the front
// cannot add.
func TestRecordedFakeForwardsEverythingElse(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ctx := t.Context()
	if _, err := iam.NewFromConfig(fakes.Config()).ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Fatalf("ListRoles through the front: %v", err)
	}
	if n := fakes.Answered(emulator.RecordedIAMSimulatePrincipalPolicy); n != 0 {
		t.Errorf("the front answered %d requests itself", n)
	}

	stranger := fakes.Config()
	stranger.Credentials = credentials.NewStaticCredentialsProvider("AKIASTRANGERSTRANGER", "x", "")
	_, err := iam.NewFromConfig(stranger).ListRoles(ctx, &iam.ListRolesInput{})
	wantErrorCode(t, err, "InvalidClientTokenId")

	nobody, err := emulator.CreateUser(ctx, srv.Config(), "nobody", emulator.AllowPolicy("sts:GetCallerIdentity"))
	if err != nil {
		t.Fatal(err)
	}
	plain := fakes.Through(nobody)
	plain.APIOptions = nil
	_, err = iam.NewFromConfig(plain).ListRoles(ctx, &iam.ListRolesInput{})
	wantErrorCode(t, err, "AccessDenied")
	_, err = organizations.NewFromConfig(plain).ListAccounts(ctx, &organizations.ListAccountsInput{})
	wantErrorCode(t, err, "AccessDenied")

	plainAdmin := fakes.Config()
	plainAdmin.APIOptions = nil
	_, err = bedrock.NewFromConfig(plainAdmin).GetModelInvocationLoggingConfiguration(ctx, &bedrock.GetModelInvocationLoggingConfigurationInput{})
	wantErrorCode(t, err, "SignatureDoesNotMatch")
	_, err = bedrock.NewFromConfig(plainAdmin, func(o *bedrock.Options) {
		o.APIOptions = append(o.APIOptions, v4.AddContentSHA256HeaderMiddleware)
	}).GetModelInvocationLoggingConfiguration(ctx, &bedrock.GetModelInvocationLoggingConfigurationInput{})
	if err != nil {
		t.Errorf("Bedrock GET with a signed X-Amz-Content-Sha256, through the front: %v", err)
	}
}

// The front plays a stack moto does not hold: DescribeStacks and
// DescribeStackResource answer the status the test sets, but only after
// moto has authorised the caller for that stack.
func TestRecordedFakePlaysAStackAfterMotoAuthorises(t *testing.T) {
	t.Parallel()
	srv, fakes := emulatortest.StartWithRecordedFakes(t)
	ctx := t.Context()
	const id = "arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall-onboarding/1a2b3c4d-0000-1111-2222-333344445555"
	played := fakes.PlayStack(id, "rolecall-onboarding", "CREATE_COMPLETE")
	played.SetResource("RoleVerification", "phys-1", "Custom::RoleVerification")

	allowed, err := emulator.CreateUser(ctx, srv.Config(), "own-stack-reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudformation:DescribeStacks","cloudformation:DescribeStackResource"],"Resource":"arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall-onboarding/*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	other, err := emulator.CreateUser(ctx, srv.Config(), "other-stack-reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudformation:DescribeStacks","Resource":"arn:aws:cloudformation:us-east-1:123456789012:stack/another/*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	cfn := cloudformation.NewFromConfig(fakes.Through(allowed))
	played.SetStatus("DELETE_IN_PROGRESS")
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
	if err != nil || len(out.Stacks) != 1 || out.Stacks[0].StackStatus != cftypes.StackStatusDeleteInProgress || aws.ToString(out.Stacks[0].StackId) != id {
		t.Fatalf("DescribeStacks: %+v, %v", out, err)
	}
	res, err := cfn.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: aws.String(id), LogicalResourceId: aws.String("RoleVerification")})
	if err != nil || aws.ToString(res.StackResourceDetail.PhysicalResourceId) != "phys-1" {
		t.Fatalf("DescribeStackResource: %+v, %v", res, err)
	}
	_, err = cfn.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: aws.String(id), LogicalResourceId: aws.String("Gone")})
	if code := emulator.ErrorCode(err); code != "ValidationError" {
		t.Errorf("DescribeStackResource of a resource the stack lacks: %v (code %q), want ValidationError", err, code)
	}
	_, err = cloudformation.NewFromConfig(fakes.Through(other)).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
	if code := emulator.ErrorCode(err); code != "AccessDenied" {
		t.Errorf("a caller not allowed on the stack: %v (code %q), want AccessDenied", err, code)
	}
}
