package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/costandusagereportservice"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer"
	cetypes "github.com/aws/aws-sdk-go-v2/service/costexplorer/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// probeSpec is one read call that proves a granted service works. Each
// is the cheapest call that needs the grant: a small page, a one-day
// window, and never anything that changes state or returns data contents.
type probeSpec struct {
	// service is the IAM service prefix the catalog grants.
	service string
	// action is the API operation called.
	action string
	// iamAction is the IAM action that authorises the call.
	iamAction string
	// regional probes run once per inventory region; the others once, in
	// the partition's home region.
	regional bool
	// applies, if set, says whether the probe runs for a role whose
	// catalog grants the service.
	applies func(Role) bool
	// call makes the call. It may refine p.Message and p.Region, and
	// record what it saw in v.facts.
	call func(ctx context.Context, v *run, p *Probe) error
}

// probeTable lists the probes, at least one per service the catalog can
// grant (probes_test.go fails otherwise), in the order they run.
var probeTable = []probeSpec{
	{
		service: "organizations", action: "DescribeOrganization", iamAction: "organizations:DescribeOrganization",
		call: func(ctx context.Context, v *run, p *Probe) error {
			_, err := v.s.organizations(p.Region).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
			return err
		},
	},
	{
		service: "iam", action: "ListRoles", iamAction: "iam:ListRoles",
		call: func(ctx context.Context, v *run, p *Probe) error {
			_, err := v.s.iam(p.Region).ListRoles(ctx, &iam.ListRolesInput{MaxItems: aws.Int32(1)})
			return err
		},
	},
	{
		// Cost Explorer charges per request; one day of one metric is the
		// smallest question it answers.
		service: "ce", action: "GetCostAndUsage", iamAction: "ce:GetCostAndUsage",
		call: func(ctx context.Context, v *run, p *Probe) error {
			day := v.e.now().UTC().Truncate(24 * time.Hour)
			_, err := v.s.cost(p.Region).GetCostAndUsage(ctx, &costexplorer.GetCostAndUsageInput{
				TimePeriod: &cetypes.DateInterval{
					Start: aws.String(day.AddDate(0, 0, -1).Format(time.DateOnly)),
					End:   aws.String(day.Format(time.DateOnly)),
				},
				Granularity: cetypes.GranularityDaily,
				Metrics:     []string{"UnblendedCost"},
			})
			return err
		},
	},
	{
		service: "cur", action: "DescribeReportDefinitions", iamAction: "cur:DescribeReportDefinitions",
		call: probeReportDefinitions,
	},
	{
		service: "pricing", action: "DescribeServices", iamAction: "pricing:DescribeServices",
		call: func(ctx context.Context, v *run, p *Probe) error {
			_, err := v.s.pricing(p.Region).DescribeServices(ctx, &pricing.DescribeServicesInput{MaxResults: aws.Int32(1)})
			return err
		},
	},
	{
		service: "s3", action: "ListObjectsV2", iamAction: "s3:ListBucket",
		applies: func(r Role) bool { return r.Management && r.CURBucket != "" },
		call:    probeCURBucket,
	},
	{
		// The logging configuration proves the grant and feeds the
		// "invocation logging off" diagnosis. ListFoundationModels would
		// prove the grant too, but returns the whole public model
		// catalogue, says nothing about the account, and has no page size.
		service: "bedrock", action: "GetModelInvocationLoggingConfiguration", iamAction: "bedrock:GetModelInvocationLoggingConfiguration",
		regional: true,
		call: func(ctx context.Context, v *run, p *Probe) error {
			out, err := v.s.bedrock(p.Region).GetModelInvocationLoggingConfiguration(ctx, &bedrock.GetModelInvocationLoggingConfigurationInput{})
			if err != nil {
				return err
			}
			if c := out.LoggingConfig; c == nil || c.S3Config == nil && c.CloudWatchConfig == nil {
				v.facts.bedrockLoggingOff = append(v.facts.bedrockLoggingOff, p.Region)
				p.Message = "model invocation logging is off"
			}
			return nil
		},
	},
	{
		// ListMetrics has no page size; one namespace keeps the answer small.
		service: "cloudwatch", action: "ListMetrics", iamAction: "cloudwatch:ListMetrics",
		regional: true,
		call: func(ctx context.Context, v *run, p *Probe) error {
			_, err := v.s.cloudwatch(p.Region).ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("AWS/Usage")})
			return err
		},
	},
	{
		service: "logs", action: "DescribeLogGroups", iamAction: "logs:DescribeLogGroups",
		regional: true,
		call: func(ctx context.Context, v *run, p *Probe) error {
			_, err := v.s.logs(p.Region).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1)})
			return err
		},
	},
	{
		// LookupEvents allows two calls a second per account and region.
		service: "cloudtrail", action: "LookupEvents", iamAction: "cloudtrail:LookupEvents",
		regional: true,
		call: func(ctx context.Context, v *run, p *Probe) error {
			if err := v.e.lookupEvents.wait(ctx, v.role.AccountID+"/"+p.Region); err != nil {
				return err
			}
			_, err := v.s.cloudtrail(p.Region).LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
			return err
		},
	},
}

// probeReportDefinitions lists the account's Cost & Usage Report
// definitions. In the management account it also notes where they deliver
// if none delivers under the configured bucket and prefix.
func probeReportDefinitions(ctx context.Context, v *run, p *Probe) error {
	out, err := v.s.cur(p.Region).DescribeReportDefinitions(ctx, &costandusagereportservice.DescribeReportDefinitionsInput{
		MaxResults: aws.Int32(5),
	})
	if err != nil || !v.role.Management {
		return err
	}
	var elsewhere []string
	for _, d := range out.ReportDefinitions {
		path := strings.Trim(aws.ToString(d.S3Prefix), "/")
		if path != "" {
			path += "/"
		}
		path += aws.ToString(d.ReportName) + "/"
		if aws.ToString(d.S3Bucket) == v.role.CURBucket && strings.HasPrefix(path, v.role.CURPrefix) {
			return nil
		}
		elsewhere = append(elsewhere, "s3://"+aws.ToString(d.S3Bucket)+"/"+path)
	}
	// Only a complete list proves that no report delivers to the bucket;
	// CUR 2.0 data exports are not listed at all, so an empty list proves
	// nothing either.
	if len(elsewhere) > 0 && out.NextToken == nil {
		v.facts.curReportsElsewhere = elsewhere
	}
	return nil
}

// probeCURBucket lists at most one object under the CUR prefix, insisting
// that the bucket belongs to the role's own account. A bucket in another
// region answers with a redirect naming its region; the probe follows it
// once.
func probeCURBucket(ctx context.Context, v *run, p *Probe) error {
	in := &s3.ListObjectsV2Input{
		Bucket:              aws.String(v.role.CURBucket),
		Prefix:              aws.String(v.role.CURPrefix),
		MaxKeys:             aws.Int32(1),
		ExpectedBucketOwner: aws.String(v.role.AccountID),
	}
	out, err := v.s.s3(p.Region).ListObjectsV2(ctx, in)
	if region := bucketRegion(err); region != "" && region != p.Region {
		p.Region = region
		out, err = v.s.s3(region).ListObjectsV2(ctx, in)
	}
	if err != nil {
		return err
	}
	if aws.ToInt32(out.KeyCount) == 0 && len(out.Contents) == 0 {
		v.facts.curEmpty = true
		p.Message = fmt.Sprintf("no object under s3://%s/%s", v.role.CURBucket, v.role.CURPrefix)
	}
	return nil
}

// bucketRegion returns the region S3 names in a redirect or wrong-region
// answer (the x-amz-bucket-region header), or "".
func bucketRegion(err error) string {
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.Response == nil {
		return ""
	}
	switch respErr.HTTPStatusCode() {
	case http.StatusMovedPermanently, http.StatusBadRequest:
		return respErr.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// probesFor returns the probes that apply to r, each once per region it
// runs in, in the table's order.
func probesFor(r Role, granted []string, home string, regions []string) []Probe {
	var out []Probe
	for _, spec := range probeTable {
		if !slices.Contains(granted, spec.service) || spec.applies != nil && !spec.applies(r) {
			continue
		}
		if !spec.regional {
			out = append(out, Probe{Service: spec.service, Action: spec.action, Region: home})
			continue
		}
		for _, region := range regions {
			out = append(out, Probe{Service: spec.service, Action: spec.action, Region: region})
		}
	}
	return out
}

// specOf returns the table entry of a probe.
func specOf(p Probe) (probeSpec, bool) {
	for _, s := range probeTable {
		if s.service == p.Service && s.action == p.Action {
			return s, true
		}
	}
	return probeSpec{}, false
}
