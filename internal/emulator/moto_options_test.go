package emulator_test

// The parts of AWS the onboarding's options rely on, as tools/moto/server.py
// teaches them to moto (points 13 to 17 of its doc comment). Each test
// states what AWS does, from its documentation, and fails if the emulator
// stops doing it.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

const markerTemplate = `{"Resources":{"Marker":{"Type":"AWS::IAM::Role","Properties":{"RoleName":"Marker","AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}}}}}`

// 13: AWS applies DeploymentTargets' AccountFilterType to the accounts of
// the OUs: INTERSECTION keeps the listed ones, DIFFERENCE drops them
// (CloudFormation API reference, DeploymentTargets).
func TestFixedMotoFiltersStackSetAccounts(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{
		OUs:               []emulator.OUSpec{{Name: "Workloads", Accounts: 3}},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	})
	if err != nil {
		t.Fatal(err)
	}
	ou := org.OUs[0]
	picked := ou.AccountIDs[1]
	for _, tt := range []struct {
		filter cftypes.AccountFilterType
		want   map[string]bool
	}{
		{cftypes.AccountFilterTypeIntersection, map[string]bool{picked: true}},
		{cftypes.AccountFilterTypeDifference, map[string]bool{ou.AccountIDs[0]: true, ou.AccountIDs[2]: true}},
	} {
		name := "set-" + strings.ToLower(string(tt.filter))
		dep, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
			Name: name, TemplateBody: markerTemplate, OrganizationalUnitIDs: []string{ou.ID},
			AccountFilterType: tt.filter, Accounts: []string{picked},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, in := range dep.Instances {
			got[aws.ToString(in.Account)] = true
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: instances in %v, want %v", tt.filter, got, tt.want)
		}
		for a := range tt.want {
			if !got[a] {
				t.Errorf("%s: no instance in %s (got %v)", tt.filter, a, got)
			}
		}
	}
}

// 14: a delegated administrator for StackSets creates service-managed
// StackSets with CallAs DELEGATED_ADMIN; the management account owns them
// (their ARN carries its id), and an account that is not registered is
// refused (CloudFormation User Guide, "Register a delegated
// administrator").
func TestFixedMotoLetsADelegatedAdministratorRunStackSets(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{
		OUs:               []emulator.OUSpec{{Name: "Workloads", Accounts: 2}, {Name: "Infra", Accounts: 1}},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	})
	if err != nil {
		t.Fatal(err)
	}
	daID := org.OUs[1].AccountIDs[0]
	other := org.OUs[0].AccountIDs[0]
	if _, err := organizations.NewFromConfig(admin).RegisterDelegatedAdministrator(ctx, &organizations.RegisterDelegatedAdministratorInput{
		AccountId: aws.String(daID), ServicePrincipal: aws.String(emulator.StackSetsServicePrincipal),
	}); err != nil {
		t.Fatalf("register a delegated administrator for StackSets: %v", err)
	}
	da, err := srv.AccountConfig(ctx, daID)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := emulator.DeployStackSet(ctx, da, emulator.StackSetSpec{
		Name: "delegated", TemplateBody: markerTemplate, OrganizationalUnitIDs: []string{org.RootID}, CallAs: cftypes.CallAsDelegatedAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dep.StackSetID, "delegated") || len(dep.Instances) != 3 {
		t.Errorf("StackSet %s with %d instances, want 3 (every member, the administrator's own account too)", dep.StackSetID, len(dep.Instances))
	}
	desc, err := cloudformation.NewFromConfig(da).DescribeStackSet(ctx, &cloudformation.DescribeStackSetInput{StackSetName: aws.String("delegated"), CallAs: cftypes.CallAsDelegatedAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(desc.StackSet.StackSetARN); !strings.Contains(arn, ":"+org.ManagementAccountID+":stackset/") {
		t.Errorf("StackSet ARN %s: the management account %s owns a delegated administrator's StackSet", arn, org.ManagementAccountID)
	}
	// The management account sees it as its own.
	if _, err := cloudformation.NewFromConfig(admin).DescribeStackSet(ctx, &cloudformation.DescribeStackSetInput{StackSetName: aws.String("delegated")}); err != nil {
		t.Errorf("the management account does not see the StackSet: %v", err)
	}
	// The administrator lists the organization's delegated administrators,
	// as AWS lets a delegated administrator do.
	list, err := organizations.NewFromConfig(da).ListDelegatedAdministrators(ctx, &organizations.ListDelegatedAdministratorsInput{ServicePrincipal: aws.String(emulator.StackSetsServicePrincipal)})
	if err != nil || len(list.DelegatedAdministrators) != 1 || aws.ToString(list.DelegatedAdministrators[0].Id) != daID {
		t.Errorf("the administrator lists %+v, %v; want itself", list, err)
	}
	// An account that is not registered is refused.
	stranger, err := srv.AccountConfig(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cloudformation.NewFromConfig(stranger).DescribeStackSet(ctx, &cloudformation.DescribeStackSetInput{StackSetName: aws.String("delegated"), CallAs: cftypes.CallAsDelegatedAdmin})
	wantErrorCode(t, err, "ValidationError")
}

// 15: S3 answers a request for a bucket only in the bucket's region;
// elsewhere it answers 301 PermanentRedirect with x-amz-bucket-region (S3
// API reference, HeadBucket; the SDK does not follow it).
func TestFixedMotoAnswersABucketInItsRegionOnly(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	if err := emulator.CreateBucketIn(ctx, admin, "far-bucket", "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	inRegion := func(region string) func(*s3.Options) { return func(o *s3.Options) { o.Region = region } }
	client := emulator.S3Client(admin)

	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("far-bucket")}, inRegion("us-east-1"))
	if got := redirectRegion(t, err); got != "eu-west-1" {
		t.Errorf("HeadBucket from us-east-1: region %q, want eu-west-1", got)
	}
	_, err = client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("far-bucket")}, inRegion("us-east-1"))
	if got := redirectRegion(t, err); got != "eu-west-1" {
		t.Errorf("ListObjectsV2 from us-east-1: region %q, want eu-west-1", got)
	}
	head, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("far-bucket")}, inRegion("eu-west-1"))
	if err != nil || aws.ToString(head.BucketRegion) != "eu-west-1" {
		t.Errorf("HeadBucket in eu-west-1: %+v, %v", head, err)
	}
}

func redirectRegion(t *testing.T, err error) string {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusMovedPermanently {
		t.Fatalf("got %v, want 301 PermanentRedirect", err)
	}
	return re.Response.Header.Get("X-Amz-Bucket-Region")
}

// 16: reading an SSE-KMS object needs kms:Decrypt on its key, and a grant
// conditioned on kms:ViaService s3.<region>.amazonaws.com applies to reads
// through S3 in that region (S3 User Guide, "Using server-side encryption
// with AWS KMS keys"; KMS Developer Guide, kms:ViaService).
func TestFixedMotoNeedsKMSDecryptForSSEKMSObjects(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	key := "arn:aws:kms:us-east-1:" + emulator.DefaultAccountID + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	if err := emulator.CreateBucket(ctx, admin, "kms-bucket"); err != nil {
		t.Fatal(err)
	}
	if _, err := emulator.S3Client(admin).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("kms-bucket"), Key: aws.String("cur/r.csv"), Body: strings.NewReader("x"),
		ServerSideEncryption: s3types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(key),
	}); err != nil {
		t.Fatal(err)
	}
	read := `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::kms-bucket/*"}`
	for _, tt := range []struct {
		name, extra string
		allowed     bool
	}{
		{"no kms:Decrypt", "", false},
		{"kms:Decrypt through S3 in the bucket's region", `,{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + key + `","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}`, true},
		{"kms:Decrypt through S3 elsewhere", `,{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + key + `","Condition":{"StringEquals":{"kms:ViaService":"s3.eu-west-1.amazonaws.com"}}}`, false},
		{"kms:Decrypt on another key", `,{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:` + emulator.DefaultAccountID + `:key/other"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			name = strings.NewReplacer(":", "", "'", "").Replace(name)
			user, err := emulator.CreateUser(ctx, admin, name, `{"Version":"2012-10-17","Statement":[`+read+tt.extra+`]}`)
			if err != nil {
				t.Fatal(err)
			}
			_, err = emulator.S3Client(user).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kms-bucket"), Key: aws.String("cur/r.csv")})
			wantAllowed(t, err, tt.allowed)
			if err != nil && !strings.Contains(err.Error(), "kms:Decrypt") {
				t.Errorf("the denial does not name kms:Decrypt: %v", err)
			}
		})
	}
}

// 17: a permissions boundary caps what a role's sessions may do: an
// action needs both the role's policies and the boundary (IAM User Guide,
// "Permissions boundaries for IAM entities").
func TestFixedMotoEnforcesPermissionsBoundaries(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	client := iam.NewFromConfig(admin)
	boundary, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("Boundary"), PolicyDocument: aws.String(emulator.AllowPolicy("iam:ListRoles"))})
	if err != nil {
		t.Fatal(err)
	}
	roleARN, err := emulator.CreateRole(ctx, admin, "bounded", emulator.TrustPolicy(arnOfUser(emulator.AdminUserName)), emulator.AllowPolicy("iam:ListRoles", "iam:ListUsers"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("bounded"), PermissionsBoundary: boundary.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	session, err := emulator.AssumeRole(ctx, admin, roleARN, "", "probe")
	if err != nil {
		t.Fatal(err)
	}
	_, err = iam.NewFromConfig(session).ListRoles(ctx, &iam.ListRolesInput{})
	wantAllowed(t, err, true)
	_, err = iam.NewFromConfig(session).ListUsers(ctx, &iam.ListUsersInput{})
	wantAllowed(t, err, false)
}

// 18: a stack update that changes only parameters updates every resource
// that uses them, also through Fn::Sub, and creates or deletes the
// resources whose Condition they flip (CloudFormation User Guide, "Update
// behaviors of stack resources"; "Conditions").
func TestFixedMotoUpdatesWhatParametersChange(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	admin := srv.Config()
	const tpl = `{"Parameters":{"B":{"Type":"String"}},"Conditions":{"Has":{"Fn::Not":[{"Fn::Equals":[{"Ref":"B"},""]}]}},"Resources":{
"R":{"Type":"AWS::IAM::Role","Properties":{"RoleName":"updated","AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}}},
"P":{"Type":"AWS::IAM::Policy","Condition":"Has","Properties":{"PolicyName":"p","Roles":[{"Ref":"R"}],"PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":{"Fn::Sub":"arn:aws:s3:::${B}"}}]}}}}}`
	cfn := cloudformation.NewFromConfig(admin)
	client := iam.NewFromConfig(admin)
	deploy := func(create bool, value string) {
		t.Helper()
		p := []cftypes.Parameter{{ParameterKey: aws.String("B"), ParameterValue: aws.String(value)}}
		caps := []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam}
		var err error
		if create {
			_, err = cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("params"), TemplateBody: aws.String(tpl), Parameters: p, Capabilities: caps})
		} else {
			_, err = cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("params"), TemplateBody: aws.String(tpl), Parameters: p, Capabilities: caps})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	resource := func() string {
		t.Helper()
		out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("updated"), PolicyName: aws.String("p")})
		if err != nil {
			return ""
		}
		doc, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	deploy(true, "one")
	deploy(false, "two")
	if got := resource(); !strings.Contains(got, "arn:aws:s3:::two") {
		t.Errorf("after the update the policy reads %q, want bucket two", got)
	}
	deploy(false, "")
	if got := resource(); got != "" {
		t.Errorf("the policy whose condition turned false is still there: %q", got)
	}
	deploy(false, "three")
	if got := resource(); !strings.Contains(got, "arn:aws:s3:::three") {
		t.Errorf("the policy whose condition turned true again reads %q, want bucket three", got)
	}
}
