package onboarding

import (
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

type fakeBucket struct{ status int }

func (f fakeBucket) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	if f.status == 0 {
		return &s3.HeadBucketOutput{}, nil
	}
	return nil, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: f.status}}, Err: errors.New("head")}}
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
	otherStack := strings.Replace(stackID, mgmtAccount, "222222222222", 1)
	tests := []struct {
		name       string
		org        fakeOrg
		bucket     fakeBucket
		stack      string
		props      map[string]any
		wantErr    string
		wantTarget string
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
