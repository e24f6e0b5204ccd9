package synth

import (
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/tags"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
)

// Logical IDs and output names other packages rely on.
const (
	// RoleLogicalID is the role in the role template.
	RoleLogicalID = "Role"
	// OutputRoleARN is the role template's and the management stack's
	// output with the role's ARN.
	OutputRoleARN = params.OutputRoleARN

	paramVerifierRoleARN = "VerifierRoleArn"
)

// roleTemplateParams are the role template's parameters: the customer
// inputs the role depends on, plus the verifier role the parent passes in.
// CUR parameters are optional here: only the account that owns the bucket
// gets S3 access.
func roleTemplateParams() []params.Param {
	cur, prefix := params.CURBucketName, params.CURReportPrefix
	cur.Required = false
	cur.Pattern = "^(" + cur.Pattern[1:len(cur.Pattern)-1] + ")?$"
	cur.Rule = "empty, or " + cur.Rule
	cur.Description = "The CUR bucket. Only the role in the account that owns it (CurBucketAccountId, or this account when that is empty) gets the report reads."
	prefix.Description = "The CUR report prefix."
	account := params.CURBucketAccountID
	account.Description = "The account that owns the CUR bucket; empty means this account."
	verifier := params.Param{
		Name: paramVerifierRoleARN, Required: true,
		Description: "The onboarding function's role. It may assume this role, with the external ID, to verify it.",
		Pattern:     `^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@/_-]{1,512}$`,
		Rule:        "an IAM role ARN",
	}
	return []params.Param{
		params.ExternalID, params.PreviousExternalID,
		cur, prefix, account, params.CURKMSKeyARN,
		params.EnableBedrockAccess, params.LogGroupNames,
		params.AdditionalVerifierPrincipalARNs, verifier,
		params.RolePath, params.PermissionsBoundaryName, params.ResourceTags,
	}
}

// roleTemplate builds templates/member-role.yaml. It is plain CloudFormation
// (a service-managed StackSet refuses transforms).
func roleTemplate(p *profile.Profile, partition string) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Description = fmt.Sprintf("rolecall: read-only cross-account role for %s (permission set %s). Deployed to member accounts by a service-managed StackSet and to the management account by the onboarding stack.", p.Name, permissions.Version)
	for _, prm := range roleTemplateParams() {
		t.Parameters[prm.Name] = parameter(prm)
	}
	t.Conditions[condHasPreviousExternalID] = notEmpty(cloudformation.Ref(params.PreviousExternalID.Name))
	t.Conditions[condHasAdditional] = notEmpty(cloudformation.Join("", cloudformation.Ref(params.AdditionalVerifierPrincipalARNs.Name)))
	t.Conditions[condBedrock] = cloudformation.Equals(cloudformation.Ref(params.EnableBedrockAccess.Name), "true")
	// This role reads the CUR bucket when one is named and this account
	// owns it. (goformation cannot write {"Condition": ...} inside Fn::And,
	// so the KMS condition repeats the expression.)
	holdsCUR := []string{
		notEmpty(cloudformation.Ref(params.CURBucketName.Name)),
		cloudformation.Or([]string{
			cloudformation.Equals(cloudformation.Ref(params.CURBucketAccountID.Name), ""),
			cloudformation.Equals(cloudformation.Ref(params.CURBucketAccountID.Name), cloudformation.Ref("AWS::AccountId")),
		}),
	}
	t.Conditions[condHasCURBucket] = cloudformation.And(holdsCUR)
	t.Conditions[condHasCURPrefix] = notEmpty(cloudformation.Ref(params.CURReportPrefix.Name))
	t.Conditions[condHasKMSKey] = cloudformation.And(append(holdsCUR, notEmpty(cloudformation.Ref(params.CURKMSKeyARN.Name))))
	t.Conditions[condHasBoundary] = notEmpty(cloudformation.Ref(params.PermissionsBoundaryName.Name))
	for i := range params.MaxLogGroups {
		t.Conditions[condHasLogGroup(i)] = notEmpty(logGroupName(i))
	}
	addTagConditions(t)

	t.Resources[RoleLogicalID] = withProperties{
		Resource: &iam.Role{
			RoleName: str(p.RoleName),
			Path:     str(cloudformation.Ref(params.RolePath.Name)),
			// IAM takes a boundary from the role's own account.
			PermissionsBoundary: str(cloudformation.If(condHasBoundary,
				cloudformation.Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${"+params.PermissionsBoundaryName.Name+"}"), noValue)),
			Description:              str(fmt.Sprintf("Read-only access for %s, permission set %s. Created by rolecall; remove it by deleting the onboarding stack.", p.Name, permissions.Version)),
			AssumeRolePolicyDocument: trustPolicy(p.Principal(partition)),
			MaxSessionDuration:       num(3600),
		},
		extra: map[string]any{"Tags": tagList(roleTags(p))},
	}
	for id, res := range policyResources(p.RoleName, partition) {
		t.Resources[id] = res
	}
	t.Outputs[OutputRoleARN] = cloudformation.Output{
		Value:       cloudformation.GetAtt(RoleLogicalID, "Arn"),
		Description: str("ARN of the read-only role in this account."),
	}
	return t
}

// roleTags are the tags every role carries, before the customer's.
func roleTags(p *profile.Profile) []tags.Tag {
	return []tags.Tag{
		{Key: "rolecall:vendor", Value: p.ID},
		{Key: "rolecall:permission-set", Value: permissions.Version},
	}
}

func notEmpty(v string) string {
	return cloudformation.Not([]string{cloudformation.Equals(v, "")})
}

// parameter turns a params.Param into a template parameter.
func parameter(p params.Param) cloudformation.Parameter {
	out := cloudformation.Parameter{
		Type:        p.CFNType(),
		Description: str(p.Description),
	}
	if !p.Required {
		out.Default = p.Default
	}
	if p.NoEcho {
		out.NoEcho = yes()
	}
	if allowed := p.Allowed(); len(allowed) > 0 {
		for _, a := range allowed {
			out.AllowedValues = append(out.AllowedValues, a)
		}
	} else if p.Pattern != "" {
		out.AllowedPattern = str(p.Pattern)
	}
	if p.MinLength > 0 {
		out.MinLength = num(p.MinLength)
	}
	if p.MaxLength > 0 {
		out.MaxLength = num(p.MaxLength)
	}
	if p.Rule != "" {
		out.ConstraintDescription = str("Must be " + p.Rule + ".")
	}
	return out
}
