package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/params"
)

// Instance is one StackSet instance: where the member role should exist,
// and whether CloudFormation managed to create it.
type Instance struct {
	AccountID            string `json:"account_id"`
	Region               string `json:"region"`
	OrganizationalUnitID string `json:"organizational_unit_id,omitempty"`
	StackID              string `json:"stack_id,omitempty"`
	// Status is CURRENT, OUTDATED or INOPERABLE.
	Status string `json:"status"`
	// DetailedStatus is SUCCEEDED, FAILED, CANCELLED, PENDING, RUNNING,
	// SKIPPED_SUSPENDED_ACCOUNT, FAILED_IMPORT or INOPERABLE.
	DetailedStatus string `json:"detailed_status,omitempty"`
	// StatusReason is CloudFormation's explanation, if any.
	StatusReason string `json:"status_reason,omitempty"`
}

// Problem returns "" if the instance is deployed (CURRENT), or else says
// in plain words why its role may be missing and what to do.
func (i Instance) Problem() string {
	if i.Status == string(cftypes.StackInstanceStatusCurrent) {
		return ""
	}
	what := i.Status
	if i.DetailedStatus != "" && i.DetailedStatus != i.Status {
		what += " (" + i.DetailedStatus + ")"
	}
	msg := fmt.Sprintf("the StackSet instance in account %s, %s, is %s", i.AccountID, i.Region, what)
	if i.StatusReason != "" {
		msg += ": " + i.StatusReason
	}
	switch cftypes.StackInstanceDetailedStatus(i.DetailedStatus) {
	case cftypes.StackInstanceDetailedStatusPending, cftypes.StackInstanceDetailedStatusRunning:
		return msg + ". The role is still being deployed: verify again when the StackSet operation has finished."
	case cftypes.StackInstanceDetailedStatusSkippedSuspendedAccount:
		return msg + ". The account is suspended; CloudFormation skips it."
	}
	return msg + ". Fix the cause CloudFormation gives, then retry the StackSet operation (update the onboarding stack)."
}

// Instances lists every instance of a StackSet, following pagination.
// callAs is SELF in the management account and DELEGATED_ADMIN in a
// registered delegated administrator; empty means SELF. Every instance is
// returned, failed ones included, with its status and reason.
func Instances(ctx context.Context, api cloudformation.ListStackInstancesAPIClient, stackSetName string, callAs cftypes.CallAs) ([]Instance, error) {
	if stackSetName == "" {
		return nil, errors.New("list StackSet instances: no StackSet name")
	}
	in := &cloudformation.ListStackInstancesInput{StackSetName: aws.String(stackSetName)}
	if callAs != "" {
		in.CallAs = callAs
	}
	var out []Instance
	pages := cloudformation.NewListStackInstancesPaginator(api, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list instances of StackSet %s: %w%s", stackSetName, err, hint(err, "StackSet"))
		}
		for _, s := range page.Summaries {
			i := Instance{
				AccountID:            aws.ToString(s.Account),
				Region:               aws.ToString(s.Region),
				OrganizationalUnitID: aws.ToString(s.OrganizationalUnitId),
				StackID:              aws.ToString(s.StackId),
				Status:               string(s.Status),
				StatusReason:         aws.ToString(s.StatusReason),
			}
			if s.StackInstanceStatus != nil {
				i.DetailedStatus = string(s.StackInstanceStatus.DetailedStatus)
			}
			out = append(out, i)
		}
	}
	return out, nil
}

// ByAccount keeps one instance per account: IAM is global, so an account
// with instances in several regions has one role. A deployed instance is
// preferred. The result is sorted by account.
func ByAccount(instances []Instance) []Instance {
	best := map[string]Instance{}
	for _, i := range instances {
		if b, ok := best[i.AccountID]; !ok || b.Problem() != "" && i.Problem() == "" {
			best[i.AccountID] = i
		}
	}
	out := make([]Instance, 0, len(best))
	for _, i := range best {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out
}

// Onboarding is what the management account's onboarding stack says about
// its roles.
type Onboarding struct {
	StackName   string `json:"stack_name"`
	StackID     string `json:"stack_id"`
	StackStatus string `json:"stack_status"`
	// Region is the stack's region, where its StackSet lives.
	Region string `json:"region"`
	// RoleARN is the management account's role (output RoleArn).
	RoleARN string `json:"role_arn"`
	// StackSetID is the member-role StackSet (output StackSetId), or empty
	// when the onboarding covers the management account only.
	StackSetID string `json:"stack_set_id,omitempty"`
	// CallAs is how the StackSet must be addressed: SELF or
	// DELEGATED_ADMIN (parameter StackSetCallAs).
	CallAs cftypes.CallAs `json:"call_as"`
	// MemberRolePattern is the output naming the role in member accounts,
	// arn:<partition>:iam::<member-account-id>:role<path><name>.
	MemberRolePattern string `json:"member_role_pattern,omitempty"`
	// Roles are the settings every role of the onboarding shares.
	Roles   RoleSettings `json:"roles"`
	Bedrock bool         `json:"bedrock"`
	// Regions are the inventory regions; the stack's region if none was
	// given.
	Regions   []string `json:"regions"`
	LogGroups []string `json:"log_groups,omitempty"`
}

// RoleSettings are the stack's (or StackSet's) parameters that say where
// each role is and what it reads besides the catalog's grants.
type RoleSettings struct {
	// Path is the roles' IAM path, "/" by default.
	Path     string            `json:"path"`
	Boundary string            `json:"permissions_boundary,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	// CURBucket and the rest locate the Cost & Usage Reports; CURAccount
	// owns the bucket (empty: the management account).
	CURBucket  string `json:"cur_bucket"`
	CURPrefix  string `json:"cur_prefix"`
	CURAccount string `json:"cur_account_id,omitempty"`
	CURRegion  string `json:"cur_region,omitempty"`
	CURKMSKey  string `json:"cur_kms_key,omitempty"`
}

// read takes one parameter; it reports whether the parameter was one of
// the settings.
func (r *RoleSettings) read(key, v string) bool {
	switch key {
	case params.RolePath.Name:
		r.Path = v
	case params.PermissionsBoundaryName.Name:
		r.Boundary = v
	case params.ResourceTags.Name:
		for _, kv := range params.SplitList(v) {
			k, val, _ := strings.Cut(kv, "=")
			if r.Tags == nil {
				r.Tags = map[string]string{}
			}
			r.Tags[k] = val
		}
	case params.CURBucketName.Name:
		r.CURBucket = v
	case params.CURReportPrefix.Name:
		r.CURPrefix = v
	case params.CURBucketAccountID.Name:
		r.CURAccount = v
	case params.CURBucketRegion.Name:
		r.CURRegion = v
	case params.CURKMSKeyARN.Name:
		r.CURKMSKey = v
	default:
		return false
	}
	return true
}

// RoleARN returns the role's ARN in an account.
func (r RoleSettings) RoleARN(partition, account, roleName string) string {
	return RoleARN(partition, account, r.Path, roleName)
}

// RoleName returns the name of the role, the same in every account.
func (o Onboarding) RoleName() string {
	arn := o.RoleARN
	if arn == "" {
		arn = o.MemberRolePattern
	}
	_, name, _ := strings.Cut(arn, ":role/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// ManagementAccountID returns the account of the management role.
func (o Onboarding) ManagementAccountID() string { return arnField(o.RoleARN, 4) }

// MemberRoleARN returns the role's ARN in a member account:
// arn:<partition>:iam::<account>:role/<name>.
func (o Onboarding) MemberRoleARN(accountID string) string {
	arn := o.RoleARN
	if arn == "" {
		arn = o.MemberRolePattern
	}
	return o.Roles.RoleARN(arnField(arn, 1), accountID, o.RoleName())
}

// MemberRoleARN returns arn:<partition>:iam::<account>:role/<name>, a
// role without a path.
func MemberRoleARN(partition, accountID, roleName string) string {
	return RoleARN(partition, accountID, "/", roleName)
}

// RoleARN returns arn:<partition>:iam::<account>:role<path><name>; an
// empty path is "/".
func RoleARN(partition, accountID, path, roleName string) string {
	if partition == "" {
		partition = "aws"
	}
	if path == "" {
		path = "/"
	}
	return "arn:" + partition + ":iam::" + accountID + ":role" + path + roleName
}

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[i]
}

// FromStack reads the onboarding stack's outputs and parameters.
func FromStack(ctx context.Context, api cloudformation.DescribeStacksAPIClient, stackName string) (Onboarding, error) {
	if stackName == "" {
		return Onboarding{}, errors.New("describe onboarding stack: no stack name")
	}
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackName)})
	if err != nil {
		return Onboarding{}, fmt.Errorf("describe onboarding stack %s: %w%s", stackName, err, hint(err, "stack"))
	}
	if len(out.Stacks) != 1 {
		return Onboarding{}, fmt.Errorf("describe onboarding stack %s: CloudFormation returned %d stacks, want 1", stackName, len(out.Stacks))
	}
	s := out.Stacks[0]
	o := Onboarding{
		StackName:   aws.ToString(s.StackName),
		StackID:     aws.ToString(s.StackId),
		StackStatus: string(s.StackStatus),
		Region:      arnField(aws.ToString(s.StackId), 3),
		CallAs:      cftypes.CallAsSelf,
		Bedrock:     true, // EnableBedrockAccess defaults to true
	}
	for _, p := range s.Parameters {
		v := aws.ToString(p.ParameterValue)
		if p.ResolvedValue != nil {
			v = aws.ToString(p.ResolvedValue)
		}
		if o.Roles.read(aws.ToString(p.ParameterKey), v) {
			continue
		}
		switch aws.ToString(p.ParameterKey) {
		case params.EnableBedrockAccess.Name:
			o.Bedrock = v != "false"
		case params.InventoryRegions.Name:
			o.Regions = params.SplitList(v)
		case params.LogGroupNames.Name:
			o.LogGroups = params.SplitList(v)
		case params.StackSetCallAs.Name:
			if v != "" {
				o.CallAs = cftypes.CallAs(v)
			}
		}
	}
	for _, out := range s.Outputs {
		v := aws.ToString(out.OutputValue)
		switch aws.ToString(out.OutputKey) {
		case params.OutputRoleARN:
			// A delegated administrator's stack has no role of its own:
			// the output says so in words.
			if strings.HasPrefix(v, "arn:") {
				o.RoleARN = v
			}
		case params.OutputMemberRoleARN:
			o.MemberRolePattern = v
		case params.OutputStackSetID:
			// "none: DeployToOrganization is false" when there is none.
			if strings.Contains(v, ":") && !strings.HasPrefix(v, "none") {
				o.StackSetID = v
			}
		}
	}
	if o.RoleARN == "" && (o.CallAs != cftypes.CallAsDelegatedAdmin || o.StackSetID == "") {
		return Onboarding{}, fmt.Errorf("onboarding stack %s (status %s) has no %s output: is it a rolecall onboarding stack, and has it finished creating?", stackName, o.StackStatus, params.OutputRoleARN)
	}
	if len(o.Regions) == 0 && o.Region != "" {
		o.Regions = []string{o.Region}
	}
	return o, nil
}

// describeStackSetAPI is the part of *cloudformation.Client that StackSet
// uses.
type describeStackSetAPI interface {
	DescribeStackSet(context.Context, *cloudformation.DescribeStackSetInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackSetOutput, error)
}

// StackSetConfig is what a member-role StackSet's parameters say about
// the roles it creates.
type StackSetConfig struct {
	Name      string       `json:"name"`
	ID        string       `json:"id"`
	Bedrock   bool         `json:"bedrock"`
	LogGroups []string     `json:"log_groups,omitempty"`
	Roles     RoleSettings `json:"roles"`
}

// StackSet reads a member-role StackSet's parameters.
func StackSet(ctx context.Context, api describeStackSetAPI, stackSetName string, callAs cftypes.CallAs) (StackSetConfig, error) {
	in := &cloudformation.DescribeStackSetInput{StackSetName: aws.String(stackSetName)}
	if callAs != "" {
		in.CallAs = callAs
	}
	out, err := api.DescribeStackSet(ctx, in)
	if err != nil {
		return StackSetConfig{}, fmt.Errorf("describe StackSet %s: %w%s", stackSetName, err, hint(err, "StackSet"))
	}
	if out.StackSet == nil {
		return StackSetConfig{}, fmt.Errorf("describe StackSet %s: the answer has no StackSet", stackSetName)
	}
	c := StackSetConfig{Name: aws.ToString(out.StackSet.StackSetName), ID: aws.ToString(out.StackSet.StackSetId), Bedrock: true}
	for _, p := range out.StackSet.Parameters {
		v := aws.ToString(p.ParameterValue)
		if c.Roles.read(aws.ToString(p.ParameterKey), v) {
			continue
		}
		switch aws.ToString(p.ParameterKey) {
		case params.EnableBedrockAccess.Name:
			c.Bedrock = v != "false"
		case params.LogGroupNames.Name:
			c.LogGroups = params.SplitList(v)
		}
	}
	return c, nil
}

// hint adds what to do for the errors a wrong name or region causes.
func hint(err error, what string) string {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	switch apiErr.ErrorCode() {
	case "ValidationError", "StackSetNotFoundException":
		return fmt.Sprintf(" (check the %s name and the region: CloudFormation looks in the region of your AWS configuration)", what)
	case "AccessDenied", "AccessDeniedException":
		return " (your identity needs cloudformation:DescribeStacks, cloudformation:DescribeStackSet and cloudformation:ListStackInstances)"
	}
	return ""
}
