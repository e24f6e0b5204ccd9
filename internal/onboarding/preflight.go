package onboarding

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
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
}

// bucketAPI is the part of *s3.Client the preflight uses.
type bucketAPI interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// preflight checks, before anything is created, what would otherwise fail
// late or silently, and resolves where the StackSet deploys.
func (s *Service) preflight(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	cfg, err := ParsePreflight(req.Properties)
	if err != nil {
		return customresource.Result{}, customresource.Fail(err)
	}
	account := accountOfARN(req.StackID)
	customresource.SetPhase(ctx, "checking the CUR bucket")
	if err := s.checkCURBucket(ctx, cfg.CURBucket, account); err != nil {
		return customresource.Result{}, err
	}
	data := map[string]any{params.DataDeploymentTargets: "none"}
	if !cfg.DeployToOrg {
		return customresource.Result{Data: data}, nil
	}
	customresource.SetPhase(ctx, "checking the organization")
	org, err := s.Org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		if code(err) == "AWSOrganizationsNotInUseException" {
			return customresource.Result{}, customresource.Failf("this account is not in an AWS Organization: set DeployToOrganization to false to onboard this account only")
		}
		return customresource.Result{}, customresource.Failf("read the organization: %v", err)
	}
	orgID := aws.ToString(org.Organization.Id)
	mgmt := aws.ToString(org.Organization.MasterAccountId)
	switch cfg.CallAs {
	case "DELEGATED_ADMIN":
		if err := s.checkDelegatedAdmin(ctx, account); err != nil {
			return customresource.Result{}, err
		}
	default:
		if account != mgmt {
			return customresource.Result{}, customresource.Failf("deploy this stack in the management account %s of organization %s (this is %s), or set StackSetCallAs to DELEGATED_ADMIN if this account is a registered delegated administrator for CloudFormation StackSets", mgmt, orgID, account)
		}
		if err := s.checkTrustedAccess(ctx); err != nil {
			return customresource.Result{}, err
		}
	}
	targets, err := s.deploymentTargets(ctx, cfg.OrganizationalUnits, orgID)
	if err != nil {
		return customresource.Result{}, err
	}
	data[params.DataDeploymentTargets] = strings.Join(targets, ",")
	data[params.DataOrganizationID] = orgID
	data[params.DataManagementAccountID] = mgmt
	return customresource.Result{Data: data}, nil
}

func (s *Service) checkCURBucket(ctx context.Context, bucket, account string) error {
	_, err := s.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket), ExpectedBucketOwner: aws.String(account)})
	if err == nil {
		return nil
	}
	switch status(err) {
	case 404:
		return customresource.Failf("CurBucketName %q: no such bucket; give the bucket your Cost & Usage Reports are delivered to", bucket)
	case 403:
		return customresource.Failf("CurBucketName %q is owned by another account or not readable here: the CUR bucket must be in this account (%s); check the bucket name", bucket, account)
	}
	return customresource.Failf("CurBucketName %q: could not check the bucket: %v", bucket, err)
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
