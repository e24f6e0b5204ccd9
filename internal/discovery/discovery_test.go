package discovery_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/verify/verifytest"
)

// The real role template, deployed through a service-managed StackSet in
// moto, is found by the StackSet's name and by its ID, every instance with
// its account and status; and the onboarding stack's outputs and
// parameters lead to it.
func TestDiscoveryAgainstMoto(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ob := verifytest.Deploy(t, srv, verifytest.Spec{Members: 3, NoBedrock: true, LogGroups: []string{"app", "/aws/bedrock/invocations"}})
	if err := ob.CreateStandInStack(t.Context(), []string{"us-east-1", "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	cfn := cloudformation.NewFromConfig(ob.Verifier)
	var wantAccounts []string
	for _, m := range ob.Members {
		wantAccounts = append(wantAccounts, m.AccountID)
	}
	slices.Sort(wantAccounts)

	for _, name := range []string{verifytest.StackSetName, ob.StackSetID} {
		t.Run("instances of "+name, func(t *testing.T) {
			instances, err := discovery.Instances(t.Context(), cfn, name, cftypes.CallAsSelf)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, in := range instances {
				got = append(got, in.AccountID)
				if in.Problem() != "" || in.Region != emulator.DefaultRegion {
					t.Errorf("instance %+v: problem %q", in, in.Problem())
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, wantAccounts) {
				t.Errorf("accounts %v, want %v", got, wantAccounts)
			}
		})
	}

	t.Run("onboarding stack", func(t *testing.T) {
		o, err := discovery.FromStack(t.Context(), cfn, verifytest.StackName)
		if err != nil {
			t.Fatal(err)
		}
		want := discovery.Onboarding{
			StackName: verifytest.StackName, StackID: o.StackID, StackStatus: "CREATE_COMPLETE", Region: "us-east-1",
			RoleARN: ob.Management.RoleARN, StackSetID: ob.StackSetID, CallAs: cftypes.CallAsSelf,
			Roles: discovery.RoleSettings{CURBucket: verifytest.CURBucket, CURPrefix: verifytest.CURPrefix}, Bedrock: false,
			Regions: []string{"us-east-1", "eu-west-1"}, LogGroups: []string{"app", "/aws/bedrock/invocations"},
		}
		if !sameOnboarding(o, want) {
			t.Errorf("FromStack\n%+v\nwant\n%+v", o, want)
		}
		if got := o.MemberRoleARN(ob.Members[0].AccountID); got != ob.Members[0].RoleARN {
			t.Errorf("MemberRoleARN = %s, want %s", got, ob.Members[0].RoleARN)
		}
		if o.ManagementAccountID() != emulator.DefaultAccountID || o.RoleName() != ob.RoleName {
			t.Errorf("management account %s role %s", o.ManagementAccountID(), o.RoleName())
		}
	})

	t.Run("StackSet parameters", func(t *testing.T) {
		c, err := discovery.StackSet(t.Context(), cfn, verifytest.StackSetName, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Bedrock || !slices.Equal(c.LogGroups, []string{"app", "/aws/bedrock/invocations"}) || c.ID != ob.StackSetID {
			t.Errorf("StackSet config %+v", c)
		}
	})

	t.Run("a stack that does not exist", func(t *testing.T) {
		_, err := discovery.FromStack(t.Context(), cfn, "no-such-stack")
		if err == nil || !strings.Contains(err.Error(), "check the stack name and the region") {
			t.Errorf("err = %v", err)
		}
	})
}

func sameOnboarding(a, b discovery.Onboarding) bool {
	return a.StackName == b.StackName && a.StackID == b.StackID && a.StackStatus == b.StackStatus && a.Region == b.Region &&
		a.RoleARN == b.RoleARN && a.StackSetID == b.StackSetID && a.CallAs == b.CallAs && reflect.DeepEqual(a.Roles, b.Roles) && a.Bedrock == b.Bedrock && slices.Equal(a.Regions, b.Regions) && slices.Equal(a.LogGroups, b.LogGroups)
}

// fakeCFN is a hand-written fake of the CloudFormation calls discovery
// makes.
type fakeCFN struct {
	pages  [][]cftypes.StackInstanceSummary
	inputs []*cloudformation.ListStackInstancesInput
	stack  *cftypes.Stack
	err    error
}

func (f *fakeCFN) ListStackInstances(_ context.Context, in *cloudformation.ListStackInstancesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackInstancesOutput, error) {
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return nil, f.err
	}
	i := 0
	if in.NextToken != nil {
		i = int(aws.ToString(in.NextToken)[0] - '0')
	}
	out := &cloudformation.ListStackInstancesOutput{Summaries: f.pages[i]}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(string(rune('0' + i + 1)))
	}
	return out, nil
}

func (f *fakeCFN) DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{*f.stack}}, nil
}

func summary(account, status, detailed, reason string) cftypes.StackInstanceSummary {
	return cftypes.StackInstanceSummary{
		Account: aws.String(account), Region: aws.String("us-east-1"),
		Status: cftypes.StackInstanceStatus(status), StatusReason: aws.String(reason),
		StackInstanceStatus: &cftypes.StackInstanceComprehensiveStatus{DetailedStatus: cftypes.StackInstanceDetailedStatus(detailed)},
	}
}

func TestInstancesFollowsPagesAndKeepsFailedInstances(t *testing.T) {
	f := &fakeCFN{pages: [][]cftypes.StackInstanceSummary{
		{summary("111111111111", "CURRENT", "SUCCEEDED", "")},
		{summary("222222222222", "OUTDATED", "FAILED", "ResourceLogicalId:Role, ResourceType:AWS::IAM::Role, ResourceStatusReason:Role with name VendorReadOnly already exists.")},
		{summary("333333333333", "OUTDATED", "RUNNING", "")},
	}}
	instances, err := discovery.Instances(t.Context(), f, "acme-roles", cftypes.CallAsDelegatedAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if len(instances) != 3 || len(f.inputs) != 3 {
		t.Fatalf("%d instances from %d calls, want 3 from 3", len(instances), len(f.inputs))
	}
	for _, in := range f.inputs {
		if in.CallAs != cftypes.CallAsDelegatedAdmin || aws.ToString(in.StackSetName) != "acme-roles" {
			t.Errorf("input %+v", in)
		}
	}
	if p := instances[0].Problem(); p != "" {
		t.Errorf("a current instance has a problem: %s", p)
	}
	if p := instances[1].Problem(); !strings.Contains(p, "already exists") || !strings.Contains(p, "FAILED") || !strings.Contains(p, "222222222222") {
		t.Errorf("failed instance: %q", p)
	}
	if p := instances[2].Problem(); !strings.Contains(p, "still being deployed") {
		t.Errorf("running instance: %q", p)
	}
}

func TestInstancesSaysWhatToCheck(t *testing.T) {
	f := &fakeCFN{err: &smithy.OperationError{ServiceID: "CloudFormation", OperationName: "ListStackInstances",
		Err: &smithy.GenericAPIError{Code: "StackSetNotFoundException", Message: "StackSet acme not found"}}}
	_, err := discovery.Instances(t.Context(), f, "acme", "")
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "check the StackSet name and the region") {
		t.Errorf("err = %v", err)
	}
	if _, err := discovery.Instances(t.Context(), f, "", ""); err == nil {
		t.Error("no error for an empty StackSet name")
	}
}

func TestByAccountKeepsOneInstancePerAccount(t *testing.T) {
	in := []discovery.Instance{
		{AccountID: "222222222222", Region: "eu-west-1", Status: "OUTDATED", DetailedStatus: "FAILED"},
		{AccountID: "111111111111", Region: "us-east-1", Status: "CURRENT"},
		{AccountID: "222222222222", Region: "us-east-1", Status: "CURRENT"},
	}
	got := discovery.ByAccount(in)
	if len(got) != 2 || got[0].AccountID != "111111111111" || got[1].Region != "us-east-1" {
		t.Errorf("ByAccount = %+v", got)
	}
}

func TestFromStack(t *testing.T) {
	stack := func(outputs map[string]string, params map[string]string) *cftypes.Stack {
		s := &cftypes.Stack{
			StackName:   aws.String("acme"),
			StackId:     aws.String("arn:aws:cloudformation:eu-west-1:123456789012:stack/acme/0f1e2d3c"),
			StackStatus: cftypes.StackStatusUpdateComplete,
		}
		for k, v := range outputs {
			s.Outputs = append(s.Outputs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
		}
		for k, v := range params {
			s.Parameters = append(s.Parameters, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
		}
		return s
	}
	t.Run("single account onboarding", func(t *testing.T) {
		f := &fakeCFN{stack: stack(
			map[string]string{"RoleArn": "arn:aws:iam::123456789012:role/VendorReadOnly", "StackSetId": "none: DeployToOrganization is false"},
			map[string]string{"CurBucketName": "acme-cur", "ExternalId": "****", "InventoryRegions": "", "StackSetCallAs": "DELEGATED_ADMIN"},
		)}
		o, err := discovery.FromStack(t.Context(), f, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if o.StackSetID != "" || !o.Bedrock || !slices.Equal(o.Regions, []string{"eu-west-1"}) || o.CallAs != cftypes.CallAsDelegatedAdmin || o.Region != "eu-west-1" {
			t.Errorf("onboarding %+v", o)
		}
	})
	t.Run("no RoleArn output", func(t *testing.T) {
		f := &fakeCFN{stack: stack(nil, nil)}
		f.stack.StackStatus = cftypes.StackStatusCreateInProgress
		_, err := discovery.FromStack(t.Context(), f, "acme")
		if err == nil || !strings.Contains(err.Error(), "CREATE_IN_PROGRESS") {
			t.Errorf("err = %v", err)
		}
	})
}
