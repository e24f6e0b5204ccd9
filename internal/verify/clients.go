package verify

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bcmdataexports"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// The parts of the AWS clients the engine uses. Production passes the SDK's
// clients; unit tests pass hand-written fakes.

// stsAPI is the part of *sts.Client that assumes roles.
type stsAPI interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// costAPI is the part of *costexplorer.Client the cost probe uses.
type costAPI interface {
	GetCostAndUsage(context.Context, *costexplorer.GetCostAndUsageInput, ...func(*costexplorer.Options)) (*costexplorer.GetCostAndUsageOutput, error)
}

// s3API is the part of *s3.Client the CUR bucket probes use.
type s3API interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// exportsAPI is the part of *bcmdataexports.Client the CUR 2.0 probe uses.
type exportsAPI interface {
	ListExports(context.Context, *bcmdataexports.ListExportsInput, ...func(*bcmdataexports.Options)) (*bcmdataexports.ListExportsOutput, error)
	GetExport(context.Context, *bcmdataexports.GetExportInput, ...func(*bcmdataexports.Options)) (*bcmdataexports.GetExportOutput, error)
}

// curAPI is the part of *costandusagereportservice.Client the report
// definitions probe uses.
type curAPI interface {
	DescribeReportDefinitions(context.Context, *costandusagereportservice.DescribeReportDefinitionsInput, ...func(*costandusagereportservice.Options)) (*costandusagereportservice.DescribeReportDefinitionsOutput, error)
}

// pricingAPI is the part of *pricing.Client the price list probe uses.
type pricingAPI interface {
	DescribeServices(context.Context, *pricing.DescribeServicesInput, ...func(*pricing.Options)) (*pricing.DescribeServicesOutput, error)
}

// bedrockAPI is the part of *bedrock.Client the Bedrock probe uses.
type bedrockAPI interface {
	GetModelInvocationLoggingConfiguration(context.Context, *bedrock.GetModelInvocationLoggingConfigurationInput, ...func(*bedrock.Options)) (*bedrock.GetModelInvocationLoggingConfigurationOutput, error)
}

// cloudwatchAPI is the part of *cloudwatch.Client the metrics probe uses.
type cloudwatchAPI interface {
	ListMetrics(context.Context, *cloudwatch.ListMetricsInput, ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error)
}

// logsAPI is the part of *cloudwatchlogs.Client the log groups probe uses.
type logsAPI interface {
	DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
}

// cloudtrailAPI is the part of *cloudtrail.Client the API activity probe
// uses.
type cloudtrailAPI interface {
	LookupEvents(context.Context, *cloudtrail.LookupEventsInput, ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

// organizationsAPI is the part of *organizations.Client the organization
// probe uses.
type organizationsAPI interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
}

// iamAPI is the part of *iam.Client the identity probe and the write-safety
// checks use: reading the role's own policies and simulating them.
type iamAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRoles(context.Context, *iam.ListRolesInput, ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(context.Context, *iam.GetPolicyVersionInput, ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// builders make the clients of one session from a config whose Region is
// already set. Unit tests replace them with fakes.
type builders struct {
	sts           func(aws.Config) stsAPI
	cost          func(aws.Config) costAPI
	s3            func(aws.Config) s3API
	cur           func(aws.Config) curAPI
	exports       func(aws.Config) exportsAPI
	pricing       func(aws.Config) pricingAPI
	bedrock       func(aws.Config) bedrockAPI
	cloudwatch    func(aws.Config) cloudwatchAPI
	logs          func(aws.Config) logsAPI
	cloudtrail    func(aws.Config) cloudtrailAPI
	organizations func(aws.Config) organizationsAPI
	iam           func(aws.Config) iamAPI
}

// sdkBuilders return the SDK's clients.
func sdkBuilders(s3PathStyle bool) builders {
	return builders{
		sts:  func(c aws.Config) stsAPI { return sts.NewFromConfig(c) },
		cost: func(c aws.Config) costAPI { return costexplorer.NewFromConfig(c) },
		s3: func(c aws.Config) s3API {
			return s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = s3PathStyle })
		},
		cur:     func(c aws.Config) curAPI { return costandusagereportservice.NewFromConfig(c) },
		exports: func(c aws.Config) exportsAPI { return bcmdataexports.NewFromConfig(c) },
		pricing: func(c aws.Config) pricingAPI { return pricing.NewFromConfig(c) },
		// Bedrock's calls are bodiless GETs. Signing their payload hash
		// header, as S3 requests always do, is allowed by SigV4 and lets
		// a local emulator (moto) check their signature, which it cannot
		// otherwise.
		bedrock: func(c aws.Config) bedrockAPI {
			return bedrock.NewFromConfig(c, func(o *bedrock.Options) {
				o.APIOptions = append(o.APIOptions, signPayloadHash)
			})
		},
		cloudwatch:    func(c aws.Config) cloudwatchAPI { return cloudwatch.NewFromConfig(c) },
		logs:          func(c aws.Config) logsAPI { return cloudwatchlogs.NewFromConfig(c) },
		cloudtrail:    func(c aws.Config) cloudtrailAPI { return cloudtrail.NewFromConfig(c) },
		organizations: func(c aws.Config) organizationsAPI { return organizations.NewFromConfig(c) },
		iam:           func(c aws.Config) iamAPI { return iam.NewFromConfig(c) },
	}
}

// signPayloadHash adds the signed X-Amz-Content-Sha256 header, once.
func signPayloadHash(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get((*v4.ContentSHA256Header)(nil).ID()); ok {
		return nil
	}
	return v4.AddContentSHA256HeaderMiddleware(stack)
}

// session holds one assumed role's config and makes each client once per
// region, on first use.
type session struct {
	cfg   aws.Config
	build *builders

	mu      sync.Mutex
	clients map[sessionKey]any
}

type sessionKey struct{ service, region string }

func client[T any](s *session, service, region string, build func(aws.Config) T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sessionKey{service, region}
	if c, ok := s.clients[k]; ok {
		return c.(T)
	}
	cfg := s.cfg.Copy()
	cfg.Region = region
	c := build(cfg)
	if s.clients == nil {
		s.clients = map[sessionKey]any{}
	}
	s.clients[k] = c
	return c
}

func (s *session) cost(region string) costAPI { return client(s, "ce", region, s.build.cost) }
func (s *session) s3(region string) s3API     { return client(s, "s3", region, s.build.s3) }
func (s *session) cur(region string) curAPI   { return client(s, "cur", region, s.build.cur) }
func (s *session) exports(region string) exportsAPI {
	return client(s, "bcm-data-exports", region, s.build.exports)
}
func (s *session) pricing(region string) pricingAPI {
	return client(s, "pricing", region, s.build.pricing)
}
func (s *session) bedrock(region string) bedrockAPI {
	return client(s, "bedrock", region, s.build.bedrock)
}
func (s *session) cloudwatch(region string) cloudwatchAPI {
	return client(s, "cloudwatch", region, s.build.cloudwatch)
}
func (s *session) logs(region string) logsAPI { return client(s, "logs", region, s.build.logs) }
func (s *session) cloudtrail(region string) cloudtrailAPI {
	return client(s, "cloudtrail", region, s.build.cloudtrail)
}
func (s *session) organizations(region string) organizationsAPI {
	return client(s, "organizations", region, s.build.organizations)
}
func (s *session) iam(region string) iamAPI { return client(s, "iam", region, s.build.iam) }
