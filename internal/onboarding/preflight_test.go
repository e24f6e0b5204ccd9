package onboarding

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
)

const (
	mgmtAccount = "111111111111"
	stackID     = "arn:aws:cloudformation:us-east-1:" + mgmtAccount + ":stack/onboarding/1234"
)

// fakeOrg answers like an organization whose management account is
// mgmtAccount, with trusted access for StackSets as configured.
type fakeOrg struct {
	orgErr        error
	trusted       bool
	delegated     []string
	knownOUs      map[string]bool
	accessListErr error
	// accounts are the member accounts by id, with their state and the
	// OU (or root) they sit in.
	accounts map[string]fakeAccount
}

type fakeAccount struct {
	state  orgtypes.AccountState
	parent string
}

func (f fakeOrg) DescribeAccount(_ context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	a, ok := f.accounts[aws.ToString(in.AccountId)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AccountNotFoundException", Message: "not found"}
	}
	return &organizations.DescribeAccountOutput{Account: &orgtypes.Account{Id: in.AccountId, State: a.state}}, nil
}

func (f fakeOrg) ListParents(_ context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	id := aws.ToString(in.ChildId)
	if a, ok := f.accounts[id]; ok {
		typ := orgtypes.ParentTypeOrganizationalUnit
		if strings.HasPrefix(a.parent, "r-") {
			typ = orgtypes.ParentTypeRoot
		}
		return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String(a.parent), Type: typ}}}, nil
	}
	if strings.HasPrefix(id, "ou-") {
		return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String("r-ab12"), Type: orgtypes.ParentTypeRoot}}}, nil
	}
	return nil, &smithy.GenericAPIError{Code: "ChildNotFoundException", Message: "not found"}
}

func (f fakeOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	if f.orgErr != nil {
		return nil, f.orgErr
	}
	return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String("o-abc123defg"), MasterAccountId: aws.String(mgmtAccount)}}, nil
}

func (f fakeOrg) ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return &organizations.ListRootsOutput{Roots: []orgtypes.Root{{Id: aws.String("r-ab12")}}}, nil
}

func (f fakeOrg) DescribeOrganizationalUnit(_ context.Context, in *organizations.DescribeOrganizationalUnitInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	if !f.knownOUs[aws.ToString(in.OrganizationalUnitId)] {
		return nil, &smithy.GenericAPIError{Code: "OrganizationalUnitNotFoundException", Message: "not found"}
	}
	return &organizations.DescribeOrganizationalUnitOutput{}, nil
}

func (f fakeOrg) ListAWSServiceAccessForOrganization(context.Context, *organizations.ListAWSServiceAccessForOrganizationInput, ...func(*organizations.Options)) (*organizations.ListAWSServiceAccessForOrganizationOutput, error) {
	if f.accessListErr != nil {
		return nil, f.accessListErr
	}
	out := &organizations.ListAWSServiceAccessForOrganizationOutput{EnabledServicePrincipals: []orgtypes.EnabledServicePrincipal{{ServicePrincipal: aws.String("config.amazonaws.com")}}}
	if f.trusted {
		out.EnabledServicePrincipals = append(out.EnabledServicePrincipals, orgtypes.EnabledServicePrincipal{ServicePrincipal: aws.String(StackSetsServicePrincipal)})
	}
	return out, nil
}

func (f fakeOrg) ListDelegatedAdministrators(context.Context, *organizations.ListDelegatedAdministratorsInput, ...func(*organizations.Options)) (*organizations.ListDelegatedAdministratorsOutput, error) {
	out := &organizations.ListDelegatedAdministratorsOutput{}
	for _, id := range f.delegated {
		out.DelegatedAdministrators = append(out.DelegatedAdministrators, orgtypes.DelegatedAdministrator{Id: aws.String(id)})
	}
	return out, nil
}

// fakeBucket answers HeadBucket as S3 does for a bucket in region (default
// us-east-1): from another region a 301 naming the bucket's region, else
// status (0 for 200), always with the region header.
type fakeBucket struct {
	status int
	region string
	asked  *[]string
}

func (f fakeBucket) HeadBucket(_ context.Context, _ *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	o := s3.Options{Region: "us-east-1"}
	for _, fn := range optFns {
		fn(&o)
	}
	if f.asked != nil {
		*f.asked = append(*f.asked, o.Region)
	}
	home := cmp.Or(f.region, "us-east-1")
	status := f.status
	if o.Region != home && status != 404 {
		status = http.StatusMovedPermanently
	}
	if status == 0 {
		return &s3.HeadBucketOutput{BucketRegion: aws.String(home)}, nil
	}
	h := http.Header{}
	if status != 404 {
		h.Set("X-Amz-Bucket-Region", home)
	}
	return nil, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: h}}, Err: errors.New("head")}}
}

func preflightRequest(stack string, props map[string]any) customresource.Request {
	base := map[string]any{
		"ServiceToken":                    functionARN,
		params.CURBucketName.Name:         "acme-cur",
		params.DeployToOrganization.Name:  "true",
		params.OrganizationalUnitIDs.Name: []any{""},
		params.StackSetCallAs.Name:        "SELF",
	}
	for k, v := range props {
		base[k] = v
	}
	return customresource.Request{RequestType: cfn.RequestCreate, ResourceType: params.PreflightType, StackID: stack, Properties: base}
}

func kmsKey(region string) string {
	return "arn:aws:kms:" + region + ":" + mgmtAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
}

func manyOUs(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("ou-ab12-%08d", i)
	}
	return out
}

// ownStack returns a service whose own stack is stack, as the template
// would set its environment.
func ownStack(stack string) *Service {
	return &Service{Settings: Settings{StackID: stack}}
}

func TestPreflight(t *testing.T) {
	good := fakeOrg{trusted: true, knownOUs: map[string]bool{"ou-ab12-11111111": true}}
	members := good
	members.accounts = map[string]fakeAccount{
		mgmtAccount:    {state: orgtypes.AccountStateActive, parent: "r-ab12"},
		"333333333333": {state: orgtypes.AccountStateActive, parent: "ou-ab12-22222222"},
		"444444444444": {state: orgtypes.AccountStateSuspended, parent: "r-ab12"},
	}
	otherStack := strings.Replace(stackID, mgmtAccount, "222222222222", 1)
	tests := []struct {
		name       string
		org        fakeOrg
		bucket     fakeBucket
		stack      string
		props      map[string]any
		wantErr    string
		wantTarget string
		wantRegion string
		wantHolder string
	}{
		{name: "whole organization deploys to the root", org: good, wantTarget: "r-ab12"},
		{name: "chosen OUs", org: good, props: map[string]any{params.OrganizationalUnitIDs.Name: []any{"ou-ab12-11111111"}}, wantTarget: "ou-ab12-11111111"},
		{name: "single account needs no organization", org: fakeOrg{orgErr: errors.New("unused")}, props: map[string]any{params.DeployToOrganization.Name: "false"}, wantTarget: "none"},
		{name: "unknown OU", org: good, props: map[string]any{params.OrganizationalUnitIDs.Name: []any{"ou-ab12-99999999"}}, wantErr: "ou-ab12-99999999 not found in organization o-abc123defg"},
		{name: "another organization's root", org: good, props: map[string]any{params.OrganizationalUnitIDs.Name: "r-zz99"}, wantErr: "r-zz99 is not the root"},
		{name: "bad OU id", org: good, props: map[string]any{params.OrganizationalUnitIDs.Name: []any{"ou-AB"}}, wantErr: "OrganizationalUnitIds value \"ou-AB\" is not allowed"},
		{name: "no trusted access", org: fakeOrg{trusted: false}, wantErr: "trusted access for CloudFormation StackSets is not enabled"},
		{name: "not the management account", org: good, stack: otherStack, wantErr: "deploy this stack in the management account 111111111111"},
		{name: "delegated admin that is registered", org: fakeOrg{delegated: []string{"222222222222"}}, stack: otherStack, props: map[string]any{params.StackSetCallAs.Name: "DELEGATED_ADMIN"}, wantTarget: "r-ab12"},
		{name: "delegated admin that is not registered", org: good, stack: otherStack, props: map[string]any{params.StackSetCallAs.Name: "DELEGATED_ADMIN"}, wantErr: "not a registered delegated administrator"},
		{name: "not in an organization", org: fakeOrg{orgErr: &smithy.GenericAPIError{Code: "AWSOrganizationsNotInUseException"}}, wantErr: "not in an AWS Organization: set DeployToOrganization to false"},
		{name: "CUR bucket missing", org: good, bucket: fakeBucket{status: 404}, wantErr: `CurBucketName "acme-cur": no such bucket`},
		{name: "CUR bucket of another account", org: good, bucket: fakeBucket{status: 403}, wantErr: "owned by another account"},
		{name: "bad bucket name", org: good, props: map[string]any{params.CURBucketName.Name: "Acme_CUR"}, wantErr: "CurBucketName \"Acme_CUR\" is not allowed"},
		{name: "six log groups, counted before any role exists", org: good, props: map[string]any{params.LogGroupNames.Name: []any{"a", "b", "c", "d", "e", "f"}}, wantErr: "LogGroupNames has 6 values; at most 5"},
		{name: "six extra verifiers", org: good, props: map[string]any{params.AdditionalVerifierPrincipalARNs.Name: []any{
			"arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b", "arn:aws:iam::123456789012:role/c",
			"arn:aws:iam::123456789012:role/d", "arn:aws:iam::123456789012:role/e", "arn:aws:iam::123456789012:role/f"}}, wantErr: "AdditionalVerifierPrincipalArns has 6 values; at most 5"},
		{name: "51 OUs", org: good, props: map[string]any{params.OrganizationalUnitIDs.Name: manyOUs(51)}, wantErr: "OrganizationalUnitIds has 51 values; at most 50"},
		{name: "CUR bucket in another region is found there", org: good, bucket: fakeBucket{region: "eu-west-1"}, wantTarget: "r-ab12", wantRegion: "eu-west-1", wantHolder: mgmtAccount},
		{name: "CUR bucket region given wrong", org: good, bucket: fakeBucket{region: "eu-west-1"}, props: map[string]any{params.CURBucketRegion.Name: "us-west-2"}, wantErr: "is in eu-west-1, not in us-west-2 (CurBucketRegion)"},
		{name: "KMS key of another region than the bucket's", org: good, bucket: fakeBucket{region: "eu-west-1"}, props: map[string]any{params.CURKMSKeyARN.Name: kmsKey("us-east-1")}, wantErr: "is in eu-west-1, not in us-east-1 (the region of CurKmsKeyArn)"},
		{name: "KMS key and region that disagree", org: good, props: map[string]any{params.CURBucketRegion.Name: "eu-west-1", params.CURKMSKeyARN.Name: kmsKey("us-east-1")}, wantErr: "CurKmsKeyArn is a key in us-east-1 but CurBucketRegion is eu-west-1"},
		{name: "CUR bucket in a member account", org: members, bucket: fakeBucket{status: 403, region: "eu-west-1"}, props: map[string]any{params.CURBucketAccountID.Name: "333333333333"}, wantTarget: "r-ab12", wantRegion: "eu-west-1", wantHolder: "333333333333"},
		{name: "CUR account outside the organization", org: members, props: map[string]any{params.CURBucketAccountID.Name: "999999999999"}, wantErr: "account 999999999999 is not in organization o-abc123defg"},
		{name: "CUR account suspended", org: members, props: map[string]any{params.CURBucketAccountID.Name: "444444444444"}, wantErr: "account 444444444444 is suspended, not ACTIVE"},
		{name: "CUR account outside the chosen OUs", org: members, props: map[string]any{params.CURBucketAccountID.Name: "333333333333", params.OrganizationalUnitIDs.Name: []any{"ou-ab12-11111111"}}, wantErr: "333333333333 is not in the organizational units the StackSet deploys to (ou-ab12-11111111)"},
		{name: "CUR account excluded by the filter", org: members, props: map[string]any{params.CURBucketAccountID.Name: "333333333333", params.AccountFilterType.Name: "DIFFERENCE", params.AccountFilterIDs.Name: []any{"333333333333"}}, wantErr: "excluded by AccountFilterIds"},
		{name: "CUR account is the management account", org: members, props: map[string]any{params.CURBucketAccountID.Name: mgmtAccount}, wantErr: "leave CurBucketAccountId empty"},
		{name: "CUR account without the StackSet", org: members, props: map[string]any{params.CURBucketAccountID.Name: "333333333333", params.DeployToOrganization.Name: "false"}, wantErr: "DeployToOrganization=false does not create"},
		{name: "account filter without ids", org: members, props: map[string]any{params.AccountFilterType.Name: "INTERSECTION"}, wantErr: "AccountFilterType is INTERSECTION but AccountFilterIds is empty"},
		{name: "account ids without a filter", org: members, props: map[string]any{params.AccountFilterIDs.Name: []any{"333333333333"}}, wantErr: "AccountFilterIds is set but AccountFilterType is NONE"},
		{name: "filtered account not in the organization", org: members, props: map[string]any{params.AccountFilterType.Name: "DIFFERENCE", params.AccountFilterIDs.Name: []any{"999999999999"}}, wantErr: "AccountFilterIds: account 999999999999 is not in organization"},
		{name: "filter to the management account", org: members, props: map[string]any{params.AccountFilterType.Name: "INTERSECTION", params.AccountFilterIDs.Name: []any{mgmtAccount}}, wantErr: "is the management account, where a service-managed StackSet never deploys"},
		{name: "a filter that works", org: members, props: map[string]any{params.AccountFilterType.Name: "INTERSECTION", params.AccountFilterIDs.Name: []any{"333333333333"}}, wantTarget: "r-ab12"},
		{name: "delegated admin without the StackSet", org: fakeOrg{delegated: []string{"222222222222"}}, stack: otherStack, props: map[string]any{params.StackSetCallAs.Name: "DELEGATED_ADMIN", params.DeployToOrganization.Name: "false"}, wantErr: "a delegated administrator's stack creates roles only through the StackSet"},
		{name: "delegated admin names the management account's CUR", org: fakeOrg{delegated: []string{"222222222222"}}, bucket: fakeBucket{status: 403}, stack: otherStack, props: map[string]any{params.StackSetCallAs.Name: "DELEGATED_ADMIN"}, wantTarget: "r-ab12", wantHolder: mgmtAccount, wantRegion: "us-east-1"},
		{name: "a tag key given twice", org: good, props: map[string]any{params.ResourceTags.Name: []any{"team=a", "team=b"}}, wantErr: `the key "team" is given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stack := stackID
			if tt.stack != "" {
				stack = tt.stack
			}
			s := ownStack(stack)
			s.Org, s.S3 = tt.org, tt.bucket
			res, err := s.Create(fnCtx(t), preflightRequest(stack, tt.props))
			if tt.wantErr != "" {
				var re *customresource.ReasonError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want a reason containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Data[params.DataDeploymentTargets]; got != tt.wantTarget {
				t.Errorf("DeploymentTargets = %v, want %s", got, tt.wantTarget)
			}
			if got := res.Data[params.DataCURRegion]; got != cmp.Or(tt.wantRegion, "us-east-1") {
				t.Errorf("CurBucketRegion = %v, want %s", got, cmp.Or(tt.wantRegion, "us-east-1"))
			}
			if got := res.Data[params.DataCURHolder]; tt.wantHolder != "" && got != tt.wantHolder {
				t.Errorf("CurHolderAccountId = %v, want %s", got, tt.wantHolder)
			}
			if got, _ := res.Data[params.DataAccounts].(string); !strings.Contains(got, "CUR bucket acme-cur read by the role in") {
				t.Errorf("Accounts = %q", got)
			}
		})
	}
}

func TestPreflightDeleteDoesNothing(t *testing.T) {
	s := ownStack(stackID)
	req := preflightRequest(stackID, nil)
	req.RequestType = cfn.RequestDelete
	if _, err := s.Delete(fnCtx(t), req); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownResourceTypeFailsWithAReason(t *testing.T) {
	s := ownStack(stackID)
	_, err := s.Create(fnCtx(t), customresource.Request{RequestType: cfn.RequestCreate, ResourceType: "Custom::Other", StackID: stackID, Properties: map[string]any{"ServiceToken": functionARN}})
	var re *customresource.ReasonError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "Custom::Other") {
		t.Fatalf("error %v", err)
	}
}
