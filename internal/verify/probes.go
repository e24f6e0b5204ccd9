package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bcmdataexports"
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

	"github.com/rolecall/rolecall/internal/permissions"
)

// CostExplorerRequestUSD is what AWS charges for one Cost Explorer API
// request (AWS Cost Management pricing: $0.01 per request).
const CostExplorerRequestUSD = 0.01

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
	// paid is true for a call AWS charges for (Cost Explorer: $0.01 per
	// request). A role with NoPaidProbes gets its grant proven by IAM's
	// policy simulator instead, which is free.
	paid bool
}

// probeTable lists the probes, at least one per service the catalog can
// grant (probes_test.go fails otherwise), in the order they run.
var probeTable = []probeSpec{
	{
		service: "organizations", action: "DescribeOrganization", iamAction: "organizations:DescribeOrganization",
		call: func(ctx context.Context, v *run, p *Probe) error {
			out, err := v.s.organizations(p.Region).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
			if err == nil && out.Organization != nil {
				org := &Organization{ID: aws.ToString(out.Organization.Id), ManagementAccountID: aws.ToString(out.Organization.MasterAccountId)}
				v.mu.Lock()
				v.rep.Organization = org
				v.mu.Unlock()
			}
			return err
		},
	},
	{
		service: "iam", action: "GetRole", iamAction: "iam:GetRole",
		call: probeRole,
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
		paid: true,
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
		// Data Exports answers in the partition's home region.
		service: "bcm-data-exports", action: "ListExports", iamAction: "bcm-data-exports:ListExports",
		call: probeDataExports,
	},
	{
		service: "s3", action: "ListObjectsV2", iamAction: "s3:ListBucket",
		applies: Role.CURHolder,
		call:    probeCURBucket,
	},
	{
		service: "s3", action: "GetObject", iamAction: "s3:GetObject",
		applies: Role.CURHolder,
		call:    probeCURRead,
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
				v.mu.Lock()
				v.facts.bedrockLoggingOff = append(v.facts.bedrockLoggingOff, p.Region)
				v.mu.Unlock()
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

// probeReportDefinitions lists the account's legacy Cost & Usage Report
// definitions. In the management account it also notes which deliver
// under the organization's CUR bucket and prefix, and where the others go.
func probeReportDefinitions(ctx context.Context, v *run, p *Probe) error {
	out, err := v.s.cur(p.Region).DescribeReportDefinitions(ctx, &costandusagereportservice.DescribeReportDefinitionsInput{
		MaxResults: aws.Int32(5),
	})
	if err != nil || !v.role.Management || v.role.CURBucket == "" {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, d := range out.ReportDefinitions {
		path := joinPath(aws.ToString(d.S3Prefix), aws.ToString(d.ReportName))
		v.facts.cur.see("Cost & Usage Report "+aws.ToString(d.ReportName), aws.ToString(d.S3Bucket), path, v.role, &v.facts.cur.legacy)
	}
	// Only a complete list proves what delivers where.
	v.facts.cur.legacyComplete = out.NextToken == nil
	return nil
}

// maxExports bounds the exports whose destination the CUR 2.0 probe reads
// (one GetExport each; Data Exports calls are free of charge).
const maxExports = 20

// probeDataExports lists the account's CUR 2.0 data exports. In the
// management account it reads each export's destination, as for the
// legacy reports.
func probeDataExports(ctx context.Context, v *run, p *Probe) error {
	out, err := v.s.exports(p.Region).ListExports(ctx, &bcmdataexports.ListExportsInput{MaxResults: aws.Int32(maxExports)})
	if err != nil || !v.role.Management || v.role.CURBucket == "" {
		return err
	}
	// Each export's destination is read at once (the probe already holds
	// one of the account's call slots; these take more).
	got := make([]*bcmdataexports.GetExportOutput, len(out.Exports))
	errs := make([]error, len(out.Exports))
	var wg sync.WaitGroup
	for i, ref := range out.Exports {
		wg.Go(func() {
			errs[i] = v.do(ctx, func() error {
				var err error
				got[i], err = v.s.exports(p.Region).GetExport(ctx, &bcmdataexports.GetExportInput{ExportArn: ref.ExportArn})
				return err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, ref := range out.Exports {
		g := got[i]
		if g.Export == nil || g.Export.DestinationConfigurations == nil || g.Export.DestinationConfigurations.S3Destination == nil {
			return fmt.Errorf("export %s has no S3 destination in GetExport's answer", aws.ToString(ref.ExportName))
		}
		d := g.Export.DestinationConfigurations.S3Destination
		// CUR 2.0 writes under <prefix>/<export name>/data/.
		path := joinPath(aws.ToString(d.S3Prefix), aws.ToString(g.Export.Name))
		v.facts.cur.see("data export "+aws.ToString(g.Export.Name), aws.ToString(d.S3Bucket), path, v.role, &v.facts.cur.exports)
	}
	v.facts.cur.exportsComplete = out.NextToken == nil
	return nil
}

// joinPath is "prefix/name/" with single slashes, or "name/".
func joinPath(prefix, name string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return prefix + name + "/"
}

// curSources are the CUR reports and exports the management account's role
// found, by where they deliver.
type curSources struct {
	legacy, exports                 []string
	elsewhere                       []string
	legacyComplete, exportsComplete bool
}

// see records one report or export: a match if it delivers to the role's
// bucket under its prefix (or the prefix lies inside its path), else where
// it delivers.
func (c *curSources) see(name, bucket, path string, r Role, matches *[]string) {
	if bucket == r.CURBucket && (strings.HasPrefix(path, r.CURPrefix) || strings.HasPrefix(r.CURPrefix, path)) {
		*matches = append(*matches, name)
		return
	}
	c.elsewhere = append(c.elsewhere, name+" (s3://"+bucket+"/"+path+")")
}

// probeCURBucket lists at most one object under the CUR prefix, insisting
// that the bucket belongs to the role's own account. It asks the bucket's
// region when it is known; a bucket elsewhere answers with a redirect
// naming its region, which the probe follows once.
func probeCURBucket(ctx context.Context, v *run, p *Probe) error {
	if v.role.CURRegion != "" {
		p.Region = v.role.CURRegion
	}
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
	v.facts.curRegion = p.Region
	if len(out.Contents) == 0 {
		v.facts.curEmpty = true
		p.Message = fmt.Sprintf("no object under s3://%s/%s", v.role.CURBucket, v.role.CURPrefix)
		return nil
	}
	v.facts.curKey = aws.ToString(out.Contents[0].Key)
	return nil
}

// probeCURRead reads the first byte of the object the listing found: the
// proof that the report files are readable, SSE-KMS decryption included.
// It is not made when the prefix is empty (cur_prefix_empty says why).
func probeCURRead(ctx context.Context, v *run, p *Probe) error {
	if v.facts.curKey == "" {
		return errNotMade
	}
	p.Region = v.facts.curRegion
	out, err := v.s.s3(p.Region).GetObject(ctx, &s3.GetObjectInput{
		Bucket:              aws.String(v.role.CURBucket),
		Key:                 aws.String(v.facts.curKey),
		Range:               aws.String("bytes=0-0"),
		ExpectedBucketOwner: aws.String(v.role.AccountID),
	})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(out.Body, 1024))
	_ = out.Body.Close()
	p.Message = "read s3://" + v.role.CURBucket + "/" + v.facts.curKey
	if key := aws.ToString(out.SSEKMSKeyId); key != "" {
		p.Message += " (SSE-KMS)"
		if v.role.CURKMSKey == "" || !sameKey(key, v.role.CURKMSKey) {
			v.facts.curKMSKey = key
		}
	}
	return nil
}

// sameKey compares key ARNs, or a key ARN with the bare key id S3 may name.
func sameKey(a, b string) bool {
	id := func(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
	return a == b || id(a) == id(b)
}

// errNotMade is returned by a probe that had nothing to check; the
// probe is left out of the report.
var errNotMade = errors.New("probe not made")

// probeRole reads the role itself and compares what the stack set on it:
// its permissions boundary and its tags (its path is in its ARN).
func probeRole(ctx context.Context, v *run, p *Probe) error {
	out, err := v.s.iam(p.Region).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(v.arn.Name)})
	if err != nil {
		return err
	}
	if out.Role == nil {
		return errors.New("GetRole returned no role")
	}
	if b := out.Role.PermissionsBoundary; b != nil {
		v.facts.boundary = aws.ToString(b.PermissionsBoundaryArn)
	}
	if got := aws.ToString(out.Role.Path); got != v.arn.Path {
		v.facts.roleDiffers = append(v.facts.roleDiffers, fmt.Sprintf("its path is %s, not %s", got, v.arn.Path))
	}
	e := v.role.Expect
	if e == nil {
		return nil
	}
	boundary := ""
	if b := out.Role.PermissionsBoundary; b != nil {
		boundary = aws.ToString(b.PermissionsBoundaryArn)
	}
	want := ""
	if e.Boundary != "" {
		want = "arn:" + v.arn.Partition + ":iam::" + v.arn.AccountID + ":policy/" + e.Boundary
	}
	switch {
	case boundary == want:
	case want == "":
		v.facts.roleDiffers = append(v.facts.roleDiffers, "it has the permissions boundary "+boundary+", which the stack did not set")
	case boundary == "":
		v.facts.roleDiffers = append(v.facts.roleDiffers, "it has no permissions boundary, not "+want)
	default:
		v.facts.roleDiffers = append(v.facts.roleDiffers, "its permissions boundary is "+boundary+", not "+want)
	}
	tags := map[string]string{}
	for _, t := range out.Role.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	keys := slices.Sorted(maps.Keys(e.Tags))
	for _, k := range keys {
		got, ok := tags[k]
		switch {
		case !ok:
			v.facts.roleDiffers = append(v.facts.roleDiffers, "it lacks the tag "+k)
		case got != e.Tags[k]:
			v.facts.roleDiffers = append(v.facts.roleDiffers, fmt.Sprintf("its tag %s is %q, not %q", k, got, e.Tags[k]))
		}
	}
	if len(v.facts.roleDiffers) == 0 {
		p.Message = "path, permissions boundary and tags as the stack set them"
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

// proveFromDocuments decides a paid probe without making the call (AWS
// charges for it) from the role's policies as the write-safety check read
// them back: granted when an Allow statement without conditions names the
// action on every resource and no Deny names it. Anything less, or policies
// that could not be read, is a denied probe, as the call itself would have
// been if refused: a gap, never a pass. It does not see service control
// policies or a permissions boundary; the stack's own verifications, which
// make the call, do.
func proveFromDocuments(p Probe, iamAction string, read bool, docs []permissions.Document) Probe {
	action := strings.ToLower(iamAction)
	p.Outcome = OutcomeDenied
	if !read {
		p.Code, p.Message = "Unproven", "not called, as AWS charges for it, and the role's policies could not be read to prove the grant"
		return p
	}
	allowed := false
	for _, d := range docs {
		for _, s := range d.Statement {
			names := anyMatch(s.Action, action, true) || len(s.NotAction) > 0 && !anyMatch(s.NotAction, action, true)
			if !names {
				continue
			}
			switch {
			case s.Effect == "Deny":
				p.Code, p.Message = "ExplicitDeny", "not called, as AWS charges for it: a Deny in the role's policies names it"
				return p
			case s.Effect == "Allow" && len(s.Condition) == 0 && len(s.NotResource) == 0 && anyMatch(s.Resource, "*", false):
				allowed = true
			}
		}
	}
	if !allowed {
		p.Code, p.Message = "ImplicitDeny", "not called, as AWS charges for it: no unconditional Allow in the role's policies grants it"
		return p
	}
	p.Outcome, p.Message = OutcomeOK, "granted by the role's policies as read back; not called, as AWS charges for it"
	return p
}
