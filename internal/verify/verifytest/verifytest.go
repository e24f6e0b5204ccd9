// Package verifytest deploys a rolecall onboarding into a local AWS
// (package emulator) for the tests of the verification engine and the
// verify command: the real generated role template, through a
// service-managed StackSet into member accounts and as a stack in the
// management account, with a customer identity trusted to verify.
package verifytest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
	"github.com/rolecall/rolecall/internal/verify"
)

// Config returns a copy of an emulator config fit for this package's
// callers: with three attempts, the SDK's default, where the emulator's
// configs make one.
func Config(cfg aws.Config) aws.Config {
	c := cfg.Copy()
	c.RetryMaxAttempts = 3
	return c
}

// Names of what Deploy creates.
const (
	ExternalID   = "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"
	StackName    = "acme-onboarding"
	StackSetName = StackName + "-roles"
	VerifierUser = "verifier"
	CURBucket    = "acme-cur"
	CURPrefix    = "cur/"
)

// Spec says what to deploy. The zero value deploys two member accounts,
// Bedrock on, no log groups, and a CUR bucket holding one report file
// under CURPrefix.
type Spec struct {
	// Members is the number of member accounts; zero means 2.
	Members int
	// NoBedrock deploys with EnableBedrockAccess=false.
	NoBedrock bool
	// LogGroups are the LogGroupNames.
	LogGroups []string
	// CURBucket is the bucket the management role is given; empty means
	// CURBucket.
	CURBucket string
	// SkipBucket leaves the CUR bucket uncreated.
	SkipBucket bool
	// CURObjectKey is the object put into the bucket; empty means
	// CURPrefix + "acme/20260101-20260201/acme-00001.csv.gz". "-" puts none.
	CURObjectKey string
	// RolePath, Boundary and Tags are the RolePath, PermissionsBoundaryName
	// and ResourceTags. A boundary is created in every account, allowing
	// BoundaryAllows (every action when empty).
	RolePath       string
	Boundary       string
	BoundaryAllows []string
	Tags           map[string]string
}

// Onboarding is a deployed onboarding.
type Onboarding struct {
	// Admin is the management account's administrator config.
	Admin aws.Config
	// Verifier is the config of the customer identity (an IAM user in the
	// management account) that the roles trust, allowed sts:AssumeRole
	// and the CloudFormation reads discovery needs.
	Verifier    aws.Config
	VerifierARN string
	Org         *emulator.Org
	RoleName    string
	// Management is the management account's role; Members the member
	// accounts' roles, in account order.
	Management verify.Role
	Members    []verify.Role
	StackSetID string
}

// Roles returns every role, the management account's first.
func (o *Onboarding) Roles() []verify.Role {
	return append([]verify.Role{o.Management}, o.Members...)
}

// Deploy deploys an onboarding into srv. Configs are those of srv; use
// RecordedFakes.Through to send them through a recorded-response front.
func Deploy(t testing.TB, srv *emulator.Server, spec Spec) *Onboarding {
	t.Helper()
	ctx := t.Context()
	if spec.Members == 0 {
		spec.Members = 2
	}
	bucket := spec.CURBucket
	if bucket == "" {
		bucket = CURBucket
	}
	// Any vendor profile will do; the first, so no Go source names one.
	profiles, err := filepath.Glob(filepath.Join(moduleRoot(t), "vendors", "*.yaml"))
	if err != nil || len(profiles) == 0 {
		t.Fatalf("no vendor profile in vendors/: %v", err)
	}
	p, err := profile.Load(profiles[0])
	if err != nil {
		t.Fatal(err)
	}
	files, err := synth.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	// The role template as the StackSet carries it (compact JSON, within
	// CloudFormation's 51,200-byte TemplateBody).
	body, err := synth.StackSetTemplateBody(files)
	if err != nil {
		t.Fatal(err)
	}

	admin := Config(srv.Config())
	org, err := emulator.SeedOrganization(ctx, admin, emulator.OrgSpec{
		OUs:               []emulator.OUSpec{{Name: "Workloads", Accounts: spec.Members}},
		ServicePrincipals: []string{emulator.StackSetsServicePrincipal},
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := emulator.CreateUser(ctx, admin, VerifierUser, emulator.AllowPolicy(
		"sts:AssumeRole", "cloudformation:DescribeStacks", "cloudformation:DescribeStackSet", "cloudformation:ListStackInstances"))
	if err != nil {
		t.Fatal(err)
	}
	verifierARN := "arn:aws:iam::" + emulator.DefaultAccountID + ":user/" + VerifierUser
	functionRole, err := emulator.CreateRole(ctx, admin, "OnboardingFunctionRole",
		emulator.TrustPolicy("arn:aws:iam::"+emulator.DefaultAccountID+":user/"+emulator.AdminUserName),
		emulator.AllowPolicy("sts:AssumeRole"))
	if err != nil {
		t.Fatal(err)
	}

	path := spec.RolePath
	if path == "" {
		path = "/"
	}
	var tags []string
	for _, k := range slices.Sorted(maps.Keys(spec.Tags)) {
		tags = append(tags, k+"="+spec.Tags[k])
	}
	if spec.Boundary != "" {
		allows := spec.BoundaryAllows
		if len(allows) == 0 {
			allows = []string{"*"}
		}
		accounts := []string{emulator.DefaultAccountID}
		for _, a := range org.Accounts {
			accounts = append(accounts, a.ID)
		}
		for _, id := range accounts {
			cfg, err := srv.AccountConfig(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			dir, name := "/", spec.Boundary
			if i := strings.LastIndexByte(name, '/'); i >= 0 {
				dir, name = "/"+name[:i+1], name[i+1:]
			}
			if _, err := iam.NewFromConfig(Config(cfg)).CreatePolicy(ctx, &iam.CreatePolicyInput{
				PolicyName: aws.String(name), Path: aws.String(dir), PolicyDocument: aws.String(emulator.AllowPolicy(allows...)),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	common := map[string]string{
		params.RolePath.Name:                        path,
		params.PermissionsBoundaryName.Name:         spec.Boundary,
		params.ResourceTags.Name:                    strings.Join(tags, ","),
		params.ExternalID.Name:                      ExternalID,
		"VerifierRoleArn":                           functionRole,
		params.AdditionalVerifierPrincipalARNs.Name: verifierARN,
		params.EnableBedrockAccess.Name:             fmt.Sprint(!spec.NoBedrock),
		params.LogGroupNames.Name:                   strings.Join(spec.LogGroups, ","),
	}
	workloads, _ := org.OUByPath("Root/Workloads")
	dep, err := emulator.DeployStackSet(ctx, admin, emulator.StackSetSpec{
		Name:                  StackSetName,
		TemplateBody:          body,
		Parameters:            common,
		OrganizationalUnitIDs: []string{workloads.ID},
	})
	if err != nil {
		t.Fatal(err)
	}

	mgmtParams := map[string]string{params.CURBucketName.Name: bucket, params.CURReportPrefix.Name: CURPrefix}
	for k, v := range common {
		mgmtParams[k] = v
	}
	if _, err := cloudformation.NewFromConfig(admin).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(StackName + "-management-role"),
		TemplateBody: aws.String(body),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
		Parameters:   cfnParams(mgmtParams),
	}); err != nil {
		t.Fatal(err)
	}
	if !spec.SkipBucket {
		if err := emulator.CreateBucket(ctx, admin, bucket); err != nil {
			t.Fatal(err)
		}
		key := spec.CURObjectKey
		if key == "" {
			key = CURPrefix + "acme/20260101-20260201/acme-00001.csv.gz"
		}
		if key != "-" {
			if _, err := emulator.S3Client(admin).PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("identity/LineItemId\n"),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	o := &Onboarding{
		Admin:       admin,
		Verifier:    verifier,
		VerifierARN: verifierARN,
		Org:         org,
		RoleName:    p.RoleName,
		StackSetID:  dep.StackSetID,
		Management: verify.Role{
			AccountID:  emulator.DefaultAccountID,
			RoleARN:    "arn:aws:iam::" + emulator.DefaultAccountID + ":role" + path + p.RoleName,
			Expect:     &verify.Settings{Boundary: spec.Boundary, Tags: spec.Tags},
			ExternalID: ExternalID,
			Management: true,
			CURBucket:  bucket,
			CURPrefix:  CURPrefix,
			Bedrock:    !spec.NoBedrock,
			LogGroups:  spec.LogGroups,
			Regions:    []string{emulator.DefaultRegion},
		},
	}
	for _, a := range org.AccountsUnder(workloads.ID) {
		o.Members = append(o.Members, verify.Role{
			AccountID:  a.ID,
			RoleARN:    "arn:aws:iam::" + a.ID + ":role" + path + p.RoleName,
			Expect:     &verify.Settings{Boundary: spec.Boundary, Tags: spec.Tags},
			ExternalID: ExternalID,
			Bedrock:    !spec.NoBedrock,
			LogGroups:  spec.LogGroups,
			Regions:    []string{emulator.DefaultRegion},
		})
	}
	return o
}

// StandInStackTemplate is a stand-in for the onboarding stack (template.yaml),
// which moto cannot deploy (SAM transform, the StackSet resource type,
// Lambda-backed custom resources): the same parameter names as the real
// template, and the RoleArn and StackSetId outputs, which here echo
// parameters. InventoryRegions and LogGroupNames are CommaDelimitedList
// parameters in the real template; here they are Strings, because moto's
// DescribeStacks writes a list parameter's value as a Python list
// ("['a', 'b']") where AWS writes "a,b" (pinned in internal/emulator,
// TestMotoWritesListParametersAsPythonLists).
const StandInStackTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Description: Stand-in for the rolecall onboarding stack in tests (same parameters and outputs).
Parameters:
  ExternalId: {Type: String, NoEcho: true}
  CurBucketName: {Type: String}
  CurReportPrefix: {Type: String, Default: ""}
  EnableBedrockAccess: {Type: String, Default: "true"}
  InventoryRegions: {Type: String, Default: ""}
  LogGroupNames: {Type: String, Default: ""}
  StackSetCallAs: {Type: String, Default: SELF}
  DeployToOrganization: {Type: String, Default: "true"}
  ManagementRoleArn: {Type: String}
  MemberStackSetId: {Type: String}
Resources:
  Marker:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: onboarding, Name: {"Fn::Sub": "${AWS::StackName}-marker"}}
Outputs:
  RoleArn: {Value: {Ref: ManagementRoleArn}}
  StackSetId: {Value: {Ref: MemberStackSetId}}
`

// CreateStandInStack creates the stand-in onboarding stack StackName that
// points at o's roles, for discovery by stack name.
func (o *Onboarding) CreateStandInStack(ctx context.Context, regions []string) error {
	b := o.Management
	_, err := cloudformation.NewFromConfig(o.Admin).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(StackName),
		TemplateBody: aws.String(StandInStackTemplate),
		Parameters: cfnParams(map[string]string{
			params.ExternalID.Name:          ExternalID,
			params.CURBucketName.Name:       b.CURBucket,
			params.CURReportPrefix.Name:     b.CURPrefix,
			params.EnableBedrockAccess.Name: fmt.Sprint(b.Bedrock),
			params.InventoryRegions.Name:    strings.Join(regions, ","),
			params.LogGroupNames.Name:       strings.Join(b.LogGroups, ","),
			"ManagementRoleArn":             b.RoleARN,
			"MemberStackSetId":              o.StackSetID,
		}),
	})
	if err != nil {
		return fmt.Errorf("create stand-in onboarding stack: %w", err)
	}
	return nil
}

// RoleAdmin returns an administrator config for the account of role r,
// to change the role behind the verifier's back.
func RoleAdmin(t testing.TB, srv *emulator.Server, r verify.Role) aws.Config {
	t.Helper()
	cfg, err := srv.AccountConfig(t.Context(), r.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	return Config(cfg)
}

// RoleNameOf returns the name at the end of a role ARN.
func RoleNameOf(r verify.Role) string {
	return r.RoleARN[strings.LastIndexByte(r.RoleARN, '/')+1:]
}

// DeleteInlinePolicy removes one of the role's inline policies, as drift
// after onboarding would.
func DeleteInlinePolicy(t testing.TB, srv *emulator.Server, r verify.Role, policy string) {
	t.Helper()
	if _, err := iam.NewFromConfig(RoleAdmin(t, srv, r)).DeleteRolePolicy(t.Context(), &iam.DeleteRolePolicyInput{
		RoleName: aws.String(RoleNameOf(r)), PolicyName: aws.String(policy),
	}); err != nil {
		t.Fatal(err)
	}
}

// PutInlinePolicy adds an inline policy to the role.
func PutInlinePolicy(t testing.TB, srv *emulator.Server, r verify.Role, name, document string) {
	t.Helper()
	if _, err := iam.NewFromConfig(RoleAdmin(t, srv, r)).PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{
		RoleName: aws.String(RoleNameOf(r)), PolicyName: aws.String(name), PolicyDocument: aws.String(document),
	}); err != nil {
		t.Fatal(err)
	}
}

// AttachNewManagedPolicy creates a customer-managed policy in the role's
// account and attaches it to the role, and returns its ARN.
func AttachNewManagedPolicy(t testing.TB, srv *emulator.Server, r verify.Role, name, document string) string {
	t.Helper()
	client := iam.NewFromConfig(RoleAdmin(t, srv, r))
	out, err := client.CreatePolicy(t.Context(), &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(document)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AttachRolePolicy(t.Context(), &iam.AttachRolePolicyInput{
		RoleName: aws.String(RoleNameOf(r)), PolicyArn: out.Policy.Arn,
	}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Policy.Arn)
}

func cfnParams(m map[string]string) []cftypes.Parameter {
	var out []cftypes.Parameter
	for k, v := range m {
		out = append(out, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	return out
}

// moduleRoot finds the directory holding go.mod above the working
// directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
