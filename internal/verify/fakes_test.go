package verify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bcmdataexports"
	bcmtypes "github.com/aws/aws-sdk-go-v2/service/bcmdataexports/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	bedrocktypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	curtypes "github.com/aws/aws-sdk-go-v2/service/costandusagereportservice/types"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rolecall/rolecall/internal/permissions"
)

// fakeAWS is a hand-written fake of every client interface the engine
// uses. By default every call succeeds, the role's policies are the ones
// the catalog renders for it, and the simulator denies every action; a
// test sets the Func fields it wants to change. Calls are recorded as
// "service:Operation@region".
type fakeAWS struct {
	mu    sync.Mutex
	calls []string

	AssumeRoleFunc       func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error)
	CostFunc             func(*costexplorer.GetCostAndUsageInput) error
	ListObjectsFunc      func(region string, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error)
	GetObjectFunc        func(region string, in *s3.GetObjectInput) (*s3.GetObjectOutput, error)
	CURFunc              func() (*costandusagereportservice.DescribeReportDefinitionsOutput, error)
	ExportsFunc          func() ([]bcmtypes.Export, error)
	GetRoleFunc          func() (*iam.GetRoleOutput, error)
	PricingFunc          func() error
	BedrockFunc          func(region string) (*bedrock.GetModelInvocationLoggingConfigurationOutput, error)
	CloudWatchFunc       func() error
	LogsFunc             func() error
	LookupEventsFunc     func() error
	OrganizationsFunc    func() error
	ListRolesFunc        func() error
	InlinePolicies       map[string]string // name -> document as IAM returns it; nil means the catalog's
	ListRolePoliciesFunc func() error
	GetRolePolicyFunc    func(name string) error
	AttachedPolicies     map[string]string // ARN -> document
	ListAttachedFunc     func() error
	GetPolicyFunc        func(arn string) error
	SimulateFunc         func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error)
	target               permissions.Target
	assumeConcurrent     atomic.Int32
	assumeMaxConcurrent  atomic.Int32
	assumeBlock          chan struct{} // if set, AssumeRole waits on it
	assumeArrived        chan struct{} // if set, AssumeRole signals arrival
}

func (f *fakeAWS) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeAWS) called(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

// builders returns builders whose clients all are f, tagged with their
// region.
func (f *fakeAWS) builders() builders {
	c := func(cfg aws.Config) *fakeClient { return &fakeClient{f: f, region: cfg.Region} }
	return builders{
		sts:           func(cfg aws.Config) stsAPI { return c(cfg) },
		cost:          func(cfg aws.Config) costAPI { return c(cfg) },
		s3:            func(cfg aws.Config) s3API { return c(cfg) },
		cur:           func(cfg aws.Config) curAPI { return c(cfg) },
		exports:       func(cfg aws.Config) exportsAPI { return c(cfg) },
		pricing:       func(cfg aws.Config) pricingAPI { return c(cfg) },
		bedrock:       func(cfg aws.Config) bedrockAPI { return c(cfg) },
		cloudwatch:    func(cfg aws.Config) cloudwatchAPI { return c(cfg) },
		logs:          func(cfg aws.Config) logsAPI { return c(cfg) },
		cloudtrail:    func(cfg aws.Config) cloudtrailAPI { return c(cfg) },
		organizations: func(cfg aws.Config) organizationsAPI { return c(cfg) },
		iam:           func(cfg aws.Config) iamAPI { return c(cfg) },
	}
}

type fakeClient struct {
	f      *fakeAWS
	region string
}

func (c *fakeClient) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f := c.f
	f.record("sts:AssumeRole")
	n := f.assumeConcurrent.Add(1)
	defer f.assumeConcurrent.Add(-1)
	for {
		m := f.assumeMaxConcurrent.Load()
		if n <= m || f.assumeMaxConcurrent.CompareAndSwap(m, n) {
			break
		}
	}
	if f.assumeArrived != nil {
		f.assumeArrived <- struct{}{}
	}
	if f.assumeBlock != nil {
		<-f.assumeBlock
	}
	if f.AssumeRoleFunc != nil {
		return f.AssumeRoleFunc(in)
	}
	return okAssume(), nil
}

func okAssume() *sts.AssumeRoleOutput {
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIAFAKE"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
	}}
}

func (c *fakeClient) GetCostAndUsage(_ context.Context, in *costexplorer.GetCostAndUsageInput, _ ...func(*costexplorer.Options)) (*costexplorer.GetCostAndUsageOutput, error) {
	c.f.record("ce:GetCostAndUsage@" + c.region)
	if c.f.CostFunc != nil {
		return &costexplorer.GetCostAndUsageOutput{}, c.f.CostFunc(in)
	}
	return &costexplorer.GetCostAndUsageOutput{}, nil
}

func (c *fakeClient) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.f.record("s3:ListObjectsV2@" + c.region)
	if c.f.ListObjectsFunc != nil {
		return c.f.ListObjectsFunc(c.region, in)
	}
	key := aws.ToString(in.Prefix) + "report-00001.csv.gz"
	return &s3.ListObjectsV2Output{KeyCount: aws.Int32(1), Contents: []s3types.Object{{Key: aws.String(key)}}}, nil
}

func (c *fakeClient) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.f.record("s3:GetObject@" + c.region)
	if c.f.GetObjectFunc != nil {
		return c.f.GetObjectFunc(c.region, in)
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader("i"))}, nil
}

func (c *fakeClient) ListExports(context.Context, *bcmdataexports.ListExportsInput, ...func(*bcmdataexports.Options)) (*bcmdataexports.ListExportsOutput, error) {
	c.f.record("bcm-data-exports:ListExports@" + c.region)
	exports, err := c.f.exports()
	if err != nil {
		return nil, err
	}
	out := &bcmdataexports.ListExportsOutput{}
	for _, e := range exports {
		out.Exports = append(out.Exports, bcmtypes.ExportReference{ExportArn: e.ExportArn, ExportName: e.Name})
	}
	return out, nil
}

func (c *fakeClient) GetExport(_ context.Context, in *bcmdataexports.GetExportInput, _ ...func(*bcmdataexports.Options)) (*bcmdataexports.GetExportOutput, error) {
	c.f.record("bcm-data-exports:GetExport@" + c.region)
	exports, err := c.f.exports()
	if err != nil {
		return nil, err
	}
	for _, e := range exports {
		if aws.ToString(e.ExportArn) == aws.ToString(in.ExportArn) {
			return &bcmdataexports.GetExportOutput{Export: &e}, nil
		}
	}
	return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "no such export"}
}

func (f *fakeAWS) exports() ([]bcmtypes.Export, error) {
	if f.ExportsFunc != nil {
		return f.ExportsFunc()
	}
	return nil, nil
}

func (c *fakeClient) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	c.f.record("iam:GetRole@" + c.region)
	if c.f.GetRoleFunc != nil {
		return c.f.GetRoleFunc()
	}
	path := c.f.target.RolePath
	if path == "" {
		path = "/"
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{Path: aws.String(path), RoleName: aws.String(c.f.target.RoleName)}}, nil
}

func (c *fakeClient) DescribeReportDefinitions(context.Context, *costandusagereportservice.DescribeReportDefinitionsInput, ...func(*costandusagereportservice.Options)) (*costandusagereportservice.DescribeReportDefinitionsOutput, error) {
	c.f.record("cur:DescribeReportDefinitions@" + c.region)
	if c.f.CURFunc != nil {
		return c.f.CURFunc()
	}
	// By default a legacy report delivers under the CUR bucket and prefix.
	out := &costandusagereportservice.DescribeReportDefinitionsOutput{}
	if t := c.f.target; t.CURBucket != "" {
		out.ReportDefinitions = []curtypes.ReportDefinition{{
			ReportName: aws.String("daily"), S3Bucket: aws.String(t.CURBucket), S3Prefix: aws.String(strings.TrimSuffix(t.CURPrefix, "/")),
		}}
	}
	return out, nil
}

func (c *fakeClient) DescribeServices(context.Context, *pricing.DescribeServicesInput, ...func(*pricing.Options)) (*pricing.DescribeServicesOutput, error) {
	c.f.record("pricing:DescribeServices@" + c.region)
	return &pricing.DescribeServicesOutput{}, call(c.f.PricingFunc)
}

func (c *fakeClient) GetModelInvocationLoggingConfiguration(context.Context, *bedrock.GetModelInvocationLoggingConfigurationInput, ...func(*bedrock.Options)) (*bedrock.GetModelInvocationLoggingConfigurationOutput, error) {
	c.f.record("bedrock:GetModelInvocationLoggingConfiguration@" + c.region)
	if c.f.BedrockFunc != nil {
		return c.f.BedrockFunc(c.region)
	}
	return &bedrock.GetModelInvocationLoggingConfigurationOutput{LoggingConfig: &bedrocktypes.LoggingConfig{
		CloudWatchConfig: &bedrocktypes.CloudWatchConfig{LogGroupName: aws.String("/aws/bedrock/invocations")},
	}}, nil
}

func (c *fakeClient) ListMetrics(context.Context, *cloudwatch.ListMetricsInput, ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	c.f.record("cloudwatch:ListMetrics@" + c.region)
	return &cloudwatch.ListMetricsOutput{}, call(c.f.CloudWatchFunc)
}

func (c *fakeClient) DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error) {
	c.f.record("logs:DescribeLogGroups@" + c.region)
	return &cloudwatchlogs.DescribeLogGroupsOutput{}, call(c.f.LogsFunc)
}

func (c *fakeClient) LookupEvents(context.Context, *cloudtrail.LookupEventsInput, ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	c.f.record("cloudtrail:LookupEvents@" + c.region)
	return &cloudtrail.LookupEventsOutput{}, call(c.f.LookupEventsFunc)
}

func (c *fakeClient) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	c.f.record("organizations:DescribeOrganization@" + c.region)
	return &organizations.DescribeOrganizationOutput{}, call(c.f.OrganizationsFunc)
}

func (c *fakeClient) ListRoles(context.Context, *iam.ListRolesInput, ...func(*iam.Options)) (*iam.ListRolesOutput, error) {
	c.f.record("iam:ListRoles@" + c.region)
	return &iam.ListRolesOutput{}, call(c.f.ListRolesFunc)
}

func (f *fakeAWS) inline() map[string]string {
	if f.InlinePolicies != nil {
		return f.InlinePolicies
	}
	out := map[string]string{}
	for _, p := range permissions.Policies(f.target) {
		b, _ := json.Marshal(p.Document)
		out[p.Name] = url.QueryEscape(string(b))
	}
	return out
}

func (c *fakeClient) ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	c.f.record("iam:ListRolePolicies@" + c.region)
	if err := call(c.f.ListRolePoliciesFunc); err != nil {
		return nil, err
	}
	out := &iam.ListRolePoliciesOutput{}
	for name := range c.f.inline() {
		out.PolicyNames = append(out.PolicyNames, name)
	}
	return out, nil
}

func (c *fakeClient) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	c.f.record("iam:GetRolePolicy@" + c.region)
	name := aws.ToString(in.PolicyName)
	if c.f.GetRolePolicyFunc != nil {
		if err := c.f.GetRolePolicyFunc(name); err != nil {
			return nil, err
		}
	}
	return &iam.GetRolePolicyOutput{PolicyName: in.PolicyName, PolicyDocument: aws.String(c.f.inline()[name])}, nil
}

func (c *fakeClient) ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	c.f.record("iam:ListAttachedRolePolicies@" + c.region)
	if c.f.ListAttachedFunc != nil {
		if err := c.f.ListAttachedFunc(); err != nil {
			return nil, err
		}
	}
	out := &iam.ListAttachedRolePoliciesOutput{}
	for arn := range c.f.AttachedPolicies {
		out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(arn)})
	}
	return out, nil
}

func (c *fakeClient) GetPolicy(_ context.Context, in *iam.GetPolicyInput, _ ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	c.f.record("iam:GetPolicy@" + c.region)
	if c.f.GetPolicyFunc != nil {
		if err := c.f.GetPolicyFunc(aws.ToString(in.PolicyArn)); err != nil {
			return nil, err
		}
	}
	return &iam.GetPolicyOutput{Policy: &iamtypes.Policy{Arn: in.PolicyArn, DefaultVersionId: aws.String("v3")}}, nil
}

func (c *fakeClient) GetPolicyVersion(_ context.Context, in *iam.GetPolicyVersionInput, _ ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	c.f.record("iam:GetPolicyVersion@" + c.region)
	if aws.ToString(in.VersionId) != "v3" {
		return nil, apiError(http.StatusNotFound, "NoSuchEntity", "no such version")
	}
	return &iam.GetPolicyVersionOutput{PolicyVersion: &iamtypes.PolicyVersion{
		Document: aws.String(c.f.AttachedPolicies[aws.ToString(in.PolicyArn)]), VersionId: in.VersionId,
	}}, nil
}

func (c *fakeClient) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	c.f.record("iam:SimulatePrincipalPolicy@" + c.region)
	if c.f.SimulateFunc != nil {
		return c.f.SimulateFunc(in)
	}
	return simulate(in, nil), nil
}

// simulate answers with every action implicitly denied except those in
// allowed.
func simulate(in *iam.SimulatePrincipalPolicyInput, allowed map[string]bool) *iam.SimulatePrincipalPolicyOutput {
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		d := iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		if allowed[a] {
			d = iamtypes.PolicyEvaluationDecisionTypeAllowed
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: d})
	}
	return out
}

func call(fn func() error) error {
	if fn == nil {
		return nil
	}
	return fn()
}

// apiError returns an error as the SDK returns one: an API error with a
// code inside an HTTP response error with a status.
func apiError(status int, code, message string) error {
	return &smithy.OperationError{
		ServiceID: "Fake", OperationName: "Op",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
				Err:      &smithy.GenericAPIError{Code: code, Message: message},
			},
		},
	}
}

// httpError returns an error with an HTTP status and no API error code.
func httpError(status int, header http.Header) error {
	if header == nil {
		header = http.Header{}
	}
	return &smithy.OperationError{
		ServiceID: "Fake", OperationName: "Op",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
				Err:      errors.New("http error"),
			},
		},
	}
}

// clock is a fake clock that sleeping advances.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// testEngine returns an engine whose clients are f and whose clock is c.
func testEngine(f *fakeAWS, c *clock, opts Options) *Engine {
	opts.Now = c.Now
	if opts.Regions == nil {
		opts.Regions = []string{"us-east-1"}
	}
	e := newEngine(aws.Config{Region: "us-east-1"}, opts, f.builders())
	e.sleep = c.sleep
	e.lookupEvents.sleep = c.sleep
	return e
}

// listErr makes every ListObjectsV2 fail with err.
func listErr(err error) func(string, *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
	return func(string, *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) { return nil, err }
}
