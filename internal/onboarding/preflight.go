package onboarding

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
)

// StackSetsServicePrincipal is the service principal that trusted access
// for CloudFormation StackSets enables in an organization.
const StackSetsServicePrincipal = "member.org.stacksets.cloudformation.amazonaws.com"

// orgAPI is the part of *organizations.Client the onboarding uses.
type orgAPI interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	DescribeOrganizationalUnit(context.Context, *organizations.DescribeOrganizationalUnitInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
	ListAWSServiceAccessForOrganization(context.Context, *organizations.ListAWSServiceAccessForOrganizationInput, ...func(*organizations.Options)) (*organizations.ListAWSServiceAccessForOrganizationOutput, error)
	ListDelegatedAdministrators(context.Context, *organizations.ListDelegatedAdministratorsInput, ...func(*organizations.Options)) (*organizations.ListDelegatedAdministratorsOutput, error)
	DescribeAccount(context.Context, *organizations.DescribeAccountInput, ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	ListParents(context.Context, *organizations.ListParentsInput, ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
}

// bucketAPI is the part of *s3.Client the preflight uses.
type bucketAPI interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// preflight checks, before anything is created, what would otherwise fail
// late or silently, resolves where the StackSet deploys, and names which
// account is which: the management account, the delegated administrator
// running the stack, the account whose role reads the CUR bucket.
func (s *Service) preflight(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	cfg, err := ParsePreflight(req.Properties)
	if err != nil {
		return customresource.Result{}, customresource.Fail(err)
	}
	account := accountOfARN(req.StackID)
	if err := cfg.consistent(); err != nil {
		return customresource.Result{}, customresource.Fail(err)
	}
	// A stack for this account only needs no organization; this account
	// is then its own management account.
	o := orgFacts{id: "none", management: account}
	if cfg.DeployToOrg || cfg.CURAccount != "" {
		customresource.SetPhase(ctx, "checking the organization")
		if o, err = s.organization(ctx); err != nil {
			return customresource.Result{}, err
		}
	}
	data := map[string]any{
		params.DataDeploymentTargets:   "none",
		params.DataOrganizationID:      o.id,
		params.DataManagementAccountID: o.management,
	}
	var targets []string
	if cfg.DeployToOrg {
		switch cfg.CallAs {
		case "DELEGATED_ADMIN":
			if account == o.management {
				return customresource.Result{}, customresource.Failf("StackSetCallAs is DELEGATED_ADMIN but this is the management account %s: set StackSetCallAs to SELF here", account)
			}
			if err := s.checkDelegatedAdmin(ctx, account); err != nil {
				return customresource.Result{}, err
			}
		default:
			if account != o.management {
				return customresource.Result{}, customresource.Failf("deploy this stack in the management account %s of organization %s (this is %s), or set StackSetCallAs to DELEGATED_ADMIN if this account is a registered delegated administrator for CloudFormation StackSets", o.management, o.id, account)
			}
			if err := s.checkTrustedAccess(ctx); err != nil {
				return customresource.Result{}, err
			}
		}
		if targets, err = s.deploymentTargets(ctx, cfg.OrganizationalUnits, o.id); err != nil {
			return customresource.Result{}, err
		}
		data[params.DataDeploymentTargets] = strings.Join(targets, ",")
		if err := s.checkAccountFilter(ctx, cfg, o); err != nil {
			return customresource.Result{}, err
		}
	}
	holder := account
	if cfg.CURAccount != "" {
		holder = cfg.CURAccount
		if err := s.checkCURAccount(ctx, cfg, o, account, targets); err != nil {
			return customresource.Result{}, err
		}
	} else if cfg.CallAs == "DELEGATED_ADMIN" && cfg.DeployToOrg {
		holder = o.management
	}
	customresource.SetPhase(ctx, "checking the CUR bucket")
	region, err := s.checkCURBucket(ctx, cfg, holder == account, account)
	if err != nil {
		return customresource.Result{}, err
	}
	data[params.DataCURRegion] = region
	data[params.DataCURHolder] = holder
	data[params.DataAccounts] = o.describe(account, holder, cfg)
	return customresource.Result{Data: data}, nil
}

// consistent checks the parameters that must agree with each other.
func (c PreflightConfig) consistent() error {
	var errs []error
	if c.CallAs == "DELEGATED_ADMIN" && !c.DeployToOrg {
		errs = append(errs, errors.New("StackSetCallAs is DELEGATED_ADMIN but DeployToOrganization is false: a delegated administrator's stack creates roles only through the StackSet. Set DeployToOrganization to true here; the management account's own role comes from this template deployed there with StackSetCallAs SELF and DeployToOrganization false"))
	}
	if c.CURAccount != "" && !c.DeployToOrg {
		errs = append(errs, fmt.Errorf("CurBucketAccountId %s: the role of that account comes from the StackSet, which DeployToOrganization=false does not create; leave CurBucketAccountId empty for a bucket in this account", c.CURAccount))
	}
	switch {
	case c.AccountFilter == "NONE" && len(c.FilterAccounts) > 0:
		errs = append(errs, errors.New("AccountFilterIds is set but AccountFilterType is NONE: set AccountFilterType to INTERSECTION (only these accounts) or DIFFERENCE (all but these), or clear AccountFilterIds"))
	case c.AccountFilter != "NONE" && len(c.FilterAccounts) == 0:
		errs = append(errs, fmt.Errorf("AccountFilterType is %s but AccountFilterIds is empty: list the accounts to include or exclude, or set AccountFilterType to NONE", c.AccountFilter))
	}
	if c.AccountFilter != "NONE" && !c.DeployToOrg {
		errs = append(errs, errors.New("AccountFilterType applies to the StackSet, which DeployToOrganization=false does not create: set it to NONE"))
	}
	if c.CURKMSKey != "" {
		keyRegion := strings.Split(c.CURKMSKey, ":")[3]
		if c.CURRegion != "" && keyRegion != c.CURRegion {
			errs = append(errs, fmt.Errorf("CurKmsKeyArn is a key in %s but CurBucketRegion is %s: S3 encrypts with keys of the bucket's own region only; give the bucket's key", keyRegion, c.CURRegion))
		}
	}
	return errors.Join(errs...)
}

// orgFacts are what the preflight learned about the organization.
type orgFacts struct {
	id, management string
}

func (s *Service) organization(ctx context.Context) (orgFacts, error) {
	org, err := s.Org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		if code(err) == "AWSOrganizationsNotInUseException" {
			return orgFacts{}, customresource.Failf("this account is not in an AWS Organization: set DeployToOrganization to false to onboard this account only")
		}
		return orgFacts{}, customresource.Failf("read the organization: %v", err)
	}
	return orgFacts{id: aws.ToString(org.Organization.Id), management: aws.ToString(org.Organization.MasterAccountId)}, nil
}

// describe says in one line which account is which.
func (o orgFacts) describe(account, holder string, c PreflightConfig) string {
	var parts []string
	switch {
	case !c.DeployToOrg:
		parts = append(parts, "this account "+account+" only")
	case c.CallAs == "DELEGATED_ADMIN":
		parts = append(parts,
			"management account "+o.management+" (its role comes from a second stack deployed there with DeployToOrganization=false)",
			"delegated administrator "+account+" (this stack; its role comes from the StackSet)")
	default:
		parts = append(parts, "management account "+account+" (this stack)")
	}
	if c.CURBucket != "" {
		parts = append(parts, "CUR bucket "+c.CURBucket+" read by the role in "+holder)
	}
	return strings.Join(parts, "; ")
}

// checkAccountFilter checks that every account of AccountFilterIds is in
// the organization, and not the management account, where a
// service-managed StackSet never deploys.
func (s *Service) checkAccountFilter(ctx context.Context, c PreflightConfig, o orgFacts) error {
	for _, id := range c.FilterAccounts {
		if id == o.management && c.AccountFilter == "INTERSECTION" {
			return customresource.Failf("AccountFilterIds: %s is the management account, where a service-managed StackSet never deploys; its role is this stack's own", id)
		}
		if _, err := s.describeAccount(ctx, id, "AccountFilterIds", o); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) describeAccount(ctx context.Context, id, param string, o orgFacts) (*orgtypes.Account, error) {
	out, err := s.Org.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
	if err != nil {
		if code(err) == "AccountNotFoundException" {
			return nil, customresource.Failf("%s: account %s is not in organization %s; check the id", param, id, o.id)
		}
		return nil, customresource.Failf("%s: check account %s: %v", param, id, err)
	}
	return out.Account, nil
}

// checkCURAccount checks that the account named to hold the CUR bucket is
// an active member the StackSet deploys to: only then does its role exist.
func (s *Service) checkCURAccount(ctx context.Context, c PreflightConfig, o orgFacts, account string, targets []string) error {
	id := c.CURAccount
	if id == o.management {
		if c.CallAs == "DELEGATED_ADMIN" {
			return customresource.Failf("CurBucketAccountId %s is the management account: leave CurBucketAccountId empty and give the bucket to the management account's own stack (StackSetCallAs SELF, DeployToOrganization false)", id)
		}
		return customresource.Failf("CurBucketAccountId %s is this management account: leave CurBucketAccountId empty for a bucket in this account", id)
	}
	acct, err := s.describeAccount(ctx, id, "CurBucketAccountId", o)
	if err != nil {
		return err
	}
	if st := acct.State; st != "" && st != orgtypes.AccountStateActive {
		return customresource.Failf("CurBucketAccountId: account %s is %s, not ACTIVE; its role could not be created", id, strings.ToLower(string(st)))
	}
	if acct.State == "" && acct.Status != orgtypes.AccountStatusActive {
		return customresource.Failf("CurBucketAccountId: account %s is %s, not ACTIVE; its role could not be created", id, strings.ToLower(string(acct.Status)))
	}
	switch c.AccountFilter {
	case "INTERSECTION":
		if !slices.Contains(c.FilterAccounts, id) {
			return customresource.Failf("CurBucketAccountId %s is not among AccountFilterIds, so the StackSet creates no role there to read the bucket: add it", id)
		}
	case "DIFFERENCE":
		if slices.Contains(c.FilterAccounts, id) {
			return customresource.Failf("CurBucketAccountId %s is excluded by AccountFilterIds, so the StackSet creates no role there to read the bucket: remove it from the list", id)
		}
	}
	in, err := s.underAny(ctx, id, targets)
	if err != nil {
		return customresource.Failf("CurBucketAccountId: find the organizational units of account %s: %v", id, err)
	}
	if !in {
		return customresource.Failf("CurBucketAccountId %s is not in the organizational units the StackSet deploys to (%s), so no role there could read the bucket: add its OU to OrganizationalUnitIds", id, strings.Join(targets, ", "))
	}
	return nil
}

// underAny reports whether account sits under one of targets (OU or root
// ids), walking up its parents.
func (s *Service) underAny(ctx context.Context, account string, targets []string) (bool, error) {
	child := account
	for range 6 { // an organization nests OUs five deep at most
		out, err := s.Org.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
		if err != nil {
			return false, err
		}
		if len(out.Parents) == 0 {
			return false, nil
		}
		parent := aws.ToString(out.Parents[0].Id)
		if slices.Contains(targets, parent) {
			return true, nil
		}
		if out.Parents[0].Type == orgtypes.ParentTypeRoot {
			return false, nil
		}
		child = parent
	}
	return false, nil
}

// checkCURBucket finds the bucket's region and, for a bucket of this
// account, that this account owns it. S3 answers HeadBucket with the
// bucket's region (x-amz-bucket-region) also from another region (301) or
// when the caller may not read the bucket (403), so the region is found
// for a bucket in any account.
func (s *Service) checkCURBucket(ctx context.Context, c PreflightConfig, own bool, account string) (string, error) {
	if c.CURBucket == "" {
		return "", nil
	}
	in := &s3.HeadBucketInput{Bucket: aws.String(c.CURBucket)}
	if own {
		in.ExpectedBucketOwner = aws.String(account)
	}
	region := c.CURRegion
	if region == "" && c.CURKMSKey != "" {
		region = strings.Split(c.CURKMSKey, ":")[3]
	}
	inRegion := func(o *s3.Options) {
		if region != "" {
			o.Region = region
		}
	}
	out, err := s.S3.HeadBucket(ctx, in, inRegion)
	if got := bucketRegion(err); got != "" && got != region && status(err) != 404 {
		if region != "" && (c.CURRegion != "" || c.CURKMSKey != "") {
			return "", customresource.Failf("CurBucketName %q is in %s, not in %s (%s): give the bucket's region, and a KMS key of that region", c.CURBucket, got, region, regionSource(c))
		}
		region = got
		out, err = s.S3.HeadBucket(ctx, in, inRegion)
	}
	if err == nil {
		if got := aws.ToString(out.BucketRegion); got != "" {
			if region != "" && got != region {
				return "", customresource.Failf("CurBucketName %q is in %s, not in %s (%s)", c.CURBucket, got, region, regionSource(c))
			}
			region = got
		}
		return region, nil
	}
	switch status(err) {
	case 404:
		return "", customresource.Failf("CurBucketName %q: no such bucket; give the bucket your Cost & Usage Reports are delivered to", c.CURBucket)
	case 403:
		if !own {
			// Another account's bucket: this function may not read it;
			// its own role there is verified later.
			if got := bucketRegion(err); got != "" {
				region = got
			}
			return region, nil
		}
		return "", customresource.Failf("CurBucketName %q is owned by another account or not readable here: a bucket in another account of the organization needs CurBucketAccountId; otherwise check the bucket name", c.CURBucket)
	}
	return "", customresource.Failf("CurBucketName %q: could not check the bucket: %v", c.CURBucket, err)
}

func regionSource(c PreflightConfig) string {
	if c.CURRegion != "" {
		return "CurBucketRegion"
	}
	return "the region of CurKmsKeyArn"
}

// bucketRegion returns the region S3 names in its answer's
// x-amz-bucket-region header, or "".
func bucketRegion(err error) string {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	return re.Response.Header.Get("X-Amz-Bucket-Region")
}

func (s *Service) checkTrustedAccess(ctx context.Context) error {
	p := organizations.NewListAWSServiceAccessForOrganizationPaginator(s.Org, &organizations.ListAWSServiceAccessForOrganizationInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return customresource.Failf("check trusted access for CloudFormation StackSets: %v", err)
		}
		for _, sp := range page.EnabledServicePrincipals {
			if aws.ToString(sp.ServicePrincipal) == StackSetsServicePrincipal {
				return nil
			}
		}
	}
	return customresource.Failf("trusted access for CloudFormation StackSets is not enabled in your organization: in the CloudFormation console open StackSets and choose Enable trusted access (or run: aws organizations enable-aws-service-access --service-principal %s), then create the stack again", StackSetsServicePrincipal)
}

func (s *Service) checkDelegatedAdmin(ctx context.Context, account string) error {
	p := organizations.NewListDelegatedAdministratorsPaginator(s.Org, &organizations.ListDelegatedAdministratorsInput{ServicePrincipal: aws.String(StackSetsServicePrincipal)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return customresource.Failf("check that this account is a delegated administrator for CloudFormation StackSets: %v", err)
		}
		for _, a := range page.DelegatedAdministrators {
			if aws.ToString(a.Id) == account {
				return nil
			}
		}
	}
	return customresource.Failf("StackSetCallAs is DELEGATED_ADMIN but account %s is not a registered delegated administrator for CloudFormation StackSets: register it from the management account, or deploy there with StackSetCallAs SELF", account)
}

// deploymentTargets checks every OU id and returns the StackSet's targets:
// the OUs given, or the organization's root.
func (s *Service) deploymentTargets(ctx context.Context, ous []string, orgID string) ([]string, error) {
	roots, err := s.Org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) == 0 {
		return nil, customresource.Failf("list the organization's root: %v", err)
	}
	root := aws.ToString(roots.Roots[0].Id)
	if len(ous) == 0 {
		return []string{root}, nil
	}
	for _, ou := range ous {
		if strings.HasPrefix(ou, "r-") {
			if ou != root {
				return nil, customresource.Failf("OrganizationalUnitIds: %s is not the root of organization %s (its root is %s)", ou, orgID, root)
			}
			continue
		}
		if _, err := s.Org.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(ou)}); err != nil {
			if c := code(err); c == "OrganizationalUnitNotFoundException" || c == "ChildNotFoundException" {
				return nil, customresource.Failf("OrganizationalUnitIds: %s not found in organization %s; check the OU ids in the AWS Organizations console", ou, orgID)
			}
			return nil, customresource.Failf("check organizational unit %s: %v", ou, err)
		}
	}
	return slices.Clone(ous), nil
}

// accountOfARN returns the account field of an ARN.
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
