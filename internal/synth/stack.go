package synth

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	cfn "github.com/awslabs/goformation/v7/cloudformation/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
	"github.com/awslabs/goformation/v7/cloudformation/secretsmanager"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
)

// Logical IDs, custom resource types and outputs of the management stack.
const (
	FunctionLogicalID        = "OnboardingFunction"
	FunctionRoleLogicalID    = "OnboardingFunctionRole"
	LogGroupLogicalID        = "OnboardingFunctionLogs"
	SecretLogicalID          = "OnboardingSecret"
	PreflightLogicalID       = "Preflight"
	ManagementRoleLogicalID  = "ManagementRole"
	StackSetLogicalID        = "MemberRoleStackSet"
	VerificationLogicalID    = "RoleVerification"
	EventRuleLogicalID       = "StackInstanceEvents"
	StateTableLogicalID      = "StateTable"
	EventPermissionLogicalID = "StackInstanceEventsPermission"

	OutputGrantedPermissions = "GrantedPermissions"
	OutputVerificationStatus = "VerificationStatus"
	OutputStackSetID         = params.OutputStackSetID
	OutputCallbackStatus     = "CallbackStatus"
	OutputMemberRoleARN      = "MemberRoleArnPattern"

	// RoleTemplatePath is where the role template is written, relative to
	// the management template; the nested stack refers to it by this path.
	RoleTemplatePath = "templates/member-role.yaml"

	// FunctionTimeoutSeconds bounds one invocation. The custom resources'
	// ServiceTimeout is a little above it, so CloudFormation gives up on a
	// silent function within minutes, not the default hour; the function's
	// own deadline guard answers well before either.
	FunctionTimeoutSeconds = 600
	ServiceTimeoutSeconds  = FunctionTimeoutSeconds + 60
)

const (
	condDeployToOrg = "DeployToOrganization"
)

// stackSetName is unique per stack, so a customer can run two onboardings
// (two vendors) side by side.
var stackSetName = cloudformation.Sub("${AWS::StackName}-roles")

func ref(name string) string { return cloudformation.Ref(name) }

func joined(name string) string { return cloudformation.Join(",", cloudformation.Ref(name)) }

// managementTemplate builds template.yaml. With a nil Artifacts the code
// and the role template are local paths, for sam build and sam deploy; with
// Artifacts they are the vendor's published S3 objects, for Launch Stack.
func managementTemplate(p *profile.Profile, roleBody string, a *Artifacts) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Transform = &cloudformation.Transform{String: str("AWS::Serverless-2016-10-31")}
	t.Description = fmt.Sprintf("rolecall: connect this AWS organization to %s with a read-only role in every account, verified before the stack completes (permission set %s).", p.Name, permissions.Version)
	t.Metadata["AWS::CloudFormation::Interface"] = consoleInterface()
	for _, prm := range params.All() {
		t.Parameters[prm.Name] = parameter(prm)
	}
	t.Conditions[condDeployToOrg] = cloudformation.Equals(ref(params.DeployToOrganization.Name), "true")
	t.Conditions[condBedrock] = cloudformation.Equals(ref(params.EnableBedrockAccess.Name), "true")

	t.Resources[SecretLogicalID] = &secretsmanager.Secret{
		Description: str(fmt.Sprintf("rolecall: the external ID and the callback signing secret %s issued for this organization.", p.Name)),
		SecretString: str(cloudformation.Sub(fmt.Sprintf(`{"externalId":"${%s}","previousExternalId":"${%s}","callbackSecret":"${%s}"}`,
			params.ExternalID.Name, params.PreviousExternalID.Name, params.CallbackSecret.Name))),
	}
	t.Resources[LogGroupLogicalID] = &logs.LogGroup{RetentionInDays: num(90)}
	t.Resources[StateTableLogicalID] = stateTable()
	t.Resources[FunctionRoleLogicalID] = functionRole(p)
	t.Resources[FunctionLogicalID] = function(p, a)

	token := cloudformation.GetAtt(FunctionLogicalID, "Arn")
	t.Resources[PreflightLogicalID] = customResource{
		typ: params.PreflightType,
		properties: map[string]any{
			"ServiceToken":                    token,
			"ServiceTimeout":                  ServiceTimeoutSeconds,
			params.CURBucketName.Name:         ref(params.CURBucketName.Name),
			params.DeployToOrganization.Name:  ref(params.DeployToOrganization.Name),
			params.OrganizationalUnitIDs.Name: ref(params.OrganizationalUnitIDs.Name),
			params.StackSetCallAs.Name:        ref(params.StackSetCallAs.Name),
		},
	}

	nested := roleParameters()
	nested[params.CURBucketName.Name] = ref(params.CURBucketName.Name)
	nested[params.CURReportPrefix.Name] = ref(params.CURReportPrefix.Name)
	roleURL := RoleTemplatePath
	if a != nil {
		roleURL = a.URL(a.RoleTemplateKey())
	}
	t.Resources[ManagementRoleLogicalID] = &cfn.Stack{
		TemplateURL:                roleURL,
		Parameters:                 nested,
		AWSCloudFormationDependsOn: []string{PreflightLogicalID},
	}

	var stackSetParams []cfn.StackSet_Parameter
	for _, k := range sortedKeys(roleParameters()) {
		stackSetParams = append(stackSetParams, cfn.StackSet_Parameter{ParameterKey: k, ParameterValue: roleParameters()[k]})
	}
	t.Resources[StackSetLogicalID] = withProperties{
		Resource: &cfn.StackSet{
			StackSetName:     stackSetName,
			Description:      str(fmt.Sprintf("rolecall: the %s read-only role in every member account of the chosen organizational units.", p.Name)),
			PermissionModel:  "SERVICE_MANAGED",
			AutoDeployment:   &cfn.StackSet_AutoDeployment{Enabled: yes(), RetainStacksOnAccountRemoval: no()},
			CallAs:           str(ref(params.StackSetCallAs.Name)),
			Capabilities:     []string{"CAPABILITY_NAMED_IAM"},
			ManagedExecution: &cfn.StackSet_ManagedExecution{Active: yes()},
			OperationPreferences: &cfn.StackSet_OperationPreferences{
				// Accounts are independent: deploy to many at once, and let a
				// few fail (an SCP, a suspended account) without rolling back
				// the rest; verification reports each failed account.
				MaxConcurrentPercentage:    num(50),
				FailureTolerancePercentage: num(10),
				RegionConcurrencyType:      str("PARALLEL"),
			},
			Parameters:                 stackSetParams,
			TemplateBody:               str(roleBody),
			AWSCloudFormationCondition: condDeployToOrg,
		},
		extra: map[string]any{
			// IAM is global: one region only, or every account would be
			// registered once per region.
			"StackInstancesGroup": []any{map[string]any{
				"DeploymentTargets": map[string]any{
					"OrganizationalUnitIds": cloudformation.Split(",", cloudformation.GetAtt(PreflightLogicalID, params.DataDeploymentTargets)),
				},
				"Regions": []string{ref("AWS::Region")},
			}},
		},
	}

	t.Resources[VerificationLogicalID] = customResource{
		typ:        params.VerificationType,
		properties: verificationProperties(),
	}

	t.Resources[EventRuleLogicalID] = &events.Rule{
		Description: str("rolecall: verify a member account's role when its StackSet instance changes, and tell the vendor."),
		EventPattern: map[string]any{
			"source":      []string{"aws.cloudformation"},
			"detail-type": []string{params.StackInstanceEventType},
			"detail": map[string]any{
				"stack-set-arn": []string{cloudformation.SubVars(
					"arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stackset/${Id}",
					map[string]any{"Id": cloudformation.GetAtt(StackSetLogicalID, "StackSetId")})},
			},
		},
		Targets:                    []events.Rule_Target{{Arn: token, Id: FunctionLogicalID}},
		AWSCloudFormationCondition: condDeployToOrg,
	}
	t.Resources[EventPermissionLogicalID] = &lambda.Permission{
		Action:                     "lambda:InvokeFunction",
		FunctionName:               ref(FunctionLogicalID),
		Principal:                  "events.amazonaws.com",
		SourceArn:                  str(cloudformation.GetAtt(EventRuleLogicalID, "Arn")),
		AWSCloudFormationCondition: condDeployToOrg,
	}

	t.Outputs[OutputRoleARN] = cloudformation.Output{
		Value:       cloudformation.GetAtt(ManagementRoleLogicalID, "Outputs."+OutputRoleARN),
		Description: str(fmt.Sprintf("The read-only role %s assumes in this account.", p.Name)),
	}
	t.Outputs[OutputMemberRoleARN] = cloudformation.Output{
		Value:       cloudformation.Sub(fmt.Sprintf("arn:${AWS::Partition}:iam::<member-account-id>:role/%s", p.RoleName)),
		Description: str("The role's ARN in each member account."),
	}
	t.Outputs[OutputGrantedPermissions] = cloudformation.Output{
		Value:       cloudformation.If(condBedrock, oneLine(permissions.Summary(true)), oneLine(permissions.Summary(false))),
		Description: str("What the role may do, in plain words. Keep it for audit."),
	}
	t.Outputs[OutputVerificationStatus] = cloudformation.Output{
		Value:       cloudformation.GetAtt(VerificationLogicalID, params.DataVerificationStatus),
		Description: str("verified, or gaps with the accounts and probes to look at."),
	}
	t.Outputs[OutputCallbackStatus] = cloudformation.Output{
		Value:       cloudformation.GetAtt(VerificationLogicalID, params.DataCallbackStatus),
		Description: str(fmt.Sprintf("Whether %s received the role ARNs and the verification report.", p.Name)),
	}
	t.Outputs[OutputStackSetID] = cloudformation.Output{
		Value:       cloudformation.If(condDeployToOrg, cloudformation.GetAtt(StackSetLogicalID, "StackSetId"), "none: DeployToOrganization is false"),
		Description: str("The StackSet that creates the role in member accounts."),
	}
	return t
}

// roleParameters are the role template's parameter values, shared by the
// nested management-account stack and the StackSet.
func roleParameters() map[string]string {
	return map[string]string{
		params.ExternalID.Name:                      ref(params.ExternalID.Name),
		params.PreviousExternalID.Name:              ref(params.PreviousExternalID.Name),
		params.EnableBedrockAccess.Name:             ref(params.EnableBedrockAccess.Name),
		params.LogGroupNames.Name:                   joined(params.LogGroupNames.Name),
		params.AdditionalVerifierPrincipalARNs.Name: joined(params.AdditionalVerifierPrincipalARNs.Name),
		paramVerifierRoleARN:                        cloudformation.GetAtt(FunctionRoleLogicalID, "Arn"),
	}
}

// verificationProperties are the customer's choices, and the wiring that
// orders the resource after the roles and re-verifies on a release with
// another permission set. The function checks the wiring against its own
// environment and build; the vendor's settings reach it only through the
// environment.
func verificationProperties() map[string]any {
	props := map[string]any{
		"ServiceToken":                 cloudformation.GetAtt(FunctionLogicalID, "Arn"),
		"ServiceTimeout":               ServiceTimeoutSeconds,
		params.PropManagementRoleARN:   cloudformation.GetAtt(ManagementRoleLogicalID, "Outputs."+OutputRoleARN),
		params.PropStackSetID:          cloudformation.If(condDeployToOrg, cloudformation.GetAtt(StackSetLogicalID, "StackSetId"), noValue),
		params.PropPermissionSetDigest: permissions.Digest(),
	}
	// Every customer input except the callback secret, which stays in
	// Secrets Manager. The external IDs are here so that rotating one
	// updates the resource, which re-verifies every role.
	for _, prm := range params.All() {
		if prm.Name == params.CallbackSecret.Name {
			continue
		}
		props[prm.Name] = ref(prm.Name)
	}
	return props
}

// stateTable keeps each account's last verification (package state):
// on demand, so an idle onboarding costs nothing; encrypted at rest by
// DynamoDB's default key; deleted with the stack.
func stateTable() cloudformation.Resource {
	key := func(name, typ string) dynamodb.Table_KeySchema {
		return dynamodb.Table_KeySchema{AttributeName: name, KeyType: typ}
	}
	return &dynamodb.Table{
		BillingMode: str("PAY_PER_REQUEST"),
		AttributeDefinitions: []dynamodb.Table_AttributeDefinition{
			{AttributeName: "pk", AttributeType: "S"},
			{AttributeName: "sk", AttributeType: "S"},
		},
		KeySchema:                            []dynamodb.Table_KeySchema{key("pk", "HASH"), key("sk", "RANGE")},
		SSESpecification:                     &dynamodb.Table_SSESpecification{SSEEnabled: false},
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Delete"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Delete"),
	}
}

func function(p *profile.Profile, a *Artifacts) cloudformation.Resource {
	env := map[string]string{
		params.EnvVendorName:   p.Name,
		params.EnvRoleName:     p.RoleName,
		params.EnvStackSetName: stackSetName,
		params.EnvStackID:      ref("AWS::StackId"),
		params.EnvSecretARN:    ref(SecretLogicalID),
		params.EnvCallbackURL:  p.Callback.URL,
		params.EnvAudience:     p.Callback.Audience,
		params.EnvCURBucket:    ref(params.CURBucketName.Name),
		params.EnvCURPrefix:    ref(params.CURReportPrefix.Name),
		params.EnvRegions:      joined(params.InventoryRegions.Name),
		params.EnvBedrock:      ref(params.EnableBedrockAccess.Name),
		params.EnvLogGroups:    joined(params.LogGroupNames.Name),
		params.EnvDeployToOrg:  ref(params.DeployToOrganization.Name),
		params.EnvCallAs:       ref(params.StackSetCallAs.Name),
		params.EnvStateTable:   ref(StateTableLogicalID),
	}
	return withProperties{
		Resource: &serverless.Function{
			Description:   str(fmt.Sprintf("rolecall: verifies the %s roles and reports them to %s.", p.Name, p.Name)),
			CodeUri:       codeURI(a),
			Handler:       str("bootstrap"),
			Runtime:       str("provided.al2023"),
			Architectures: []string{"arm64"},
			MemorySize:    num(512),
			Timeout:       num(FunctionTimeoutSeconds),
			Role:          str(cloudformation.GetAtt(FunctionRoleLogicalID, "Arn")),
			Environment:   &serverless.Function_FunctionEnvironment{Variables: env},
			AWSCloudFormationMetadata: map[string]any{
				// sam build runs `make build-OnboardingFunction`.
				"BuildMethod": "makefile",
			},
		},
		extra: map[string]any{
			"LoggingConfig": &lambda.Function_LoggingConfig{
				LogFormat: str("JSON"),
				LogGroup:  str(ref(LogGroupLogicalID)),
			},
		},
	}
}

func codeURI(a *Artifacts) *serverless.Function_CodeUri {
	if a == nil {
		return &serverless.Function_CodeUri{String: str(".")}
	}
	return &serverless.Function_CodeUri{S3Location: &serverless.Function_S3Location{Bucket: a.Bucket, Key: a.FunctionKey()}}
}

func functionRole(p *profile.Profile) cloudformation.Resource {
	stmt := func(sid string, actions []string, resources ...string) map[string]any {
		return map[string]any{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			stmt("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"},
				cloudformation.GetAtt(LogGroupLogicalID, "Arn")),
			stmt("AssumeTheVendorRoleToVerifyIt", []string{"sts:AssumeRole"},
				cloudformation.Sub("arn:${AWS::Partition}:iam::*:role/"+p.RoleName)),
			stmt("ReadOwnSecret", []string{"secretsmanager:GetSecretValue"},
				ref(SecretLogicalID)),
			stmt("ListOwnStackSetInstances", []string{"cloudformation:ListStackInstances"},
				cloudformation.Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stackset/${AWS::StackName}-roles:*")),
			// To tell an update's rollback, when a failed answer would leave
			// the stack in UPDATE_ROLLBACK_FAILED, and to confirm that a
			// Delete is a real deletion before telling the vendor.
			stmt("ReadOwnStackStatus", []string{"cloudformation:DescribeStackResource", "cloudformation:DescribeStacks"},
				cloudformation.Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*")),
			stmt("KeepOwnState", []string{"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"},
				cloudformation.GetAtt(StateTableLogicalID, "Arn")),
			stmt("ReadOrganization", []string{
				"organizations:DescribeOrganization",
				"organizations:DescribeOrganizationalUnit",
				"organizations:ListAWSServiceAccessForOrganization",
				"organizations:ListDelegatedAdministrators",
				"organizations:ListRoots",
			}, "*"),
			stmt("CheckCurBucketOwner", []string{"s3:ListBucket"},
				cloudformation.Sub("arn:${AWS::Partition}:s3:::${"+params.CURBucketName.Name+"}")),
		},
	}
	return &iam.Role{
		Description: str("rolecall onboarding function: assumes the read-only roles to verify them, reads its secret and the StackSet's instances."),
		AssumeRolePolicyDocument: map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "lambda.amazonaws.com"},
				"Action":    "sts:AssumeRole",
			}},
		},
		Policies: []iam.Role_Policy{{PolicyName: "onboarding-function", PolicyDocument: doc}},
	}
}

func consoleInterface() map[string]any {
	var groups []any
	labels := map[string]any{}
	for _, g := range params.Groups() {
		var names []string
		for _, p := range params.All() {
			if p.Group == g {
				names = append(names, p.Name)
				labels[p.Name] = map[string]any{"default": p.Label}
			}
		}
		groups = append(groups, map[string]any{"Label": map[string]any{"default": g}, "Parameters": names})
	}
	return map[string]any{"ParameterGroups": groups, "ParameterLabels": labels}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
