package synth

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	cfn "github.com/awslabs/goformation/v7/cloudformation/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
	"github.com/awslabs/goformation/v7/cloudformation/scheduler"
	"github.com/awslabs/goformation/v7/cloudformation/secretsmanager"
	"github.com/awslabs/goformation/v7/cloudformation/sqs"
	"github.com/awslabs/goformation/v7/cloudformation/tags"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/profile"
)

// Logical IDs, custom resource types and outputs of the management stack.
const (
	FunctionLogicalID         = "OnboardingFunction"
	FunctionRoleLogicalID     = "OnboardingFunctionRole"
	LogGroupLogicalID         = "OnboardingFunctionLogs"
	SecretLogicalID           = "OnboardingSecret"
	PreflightLogicalID        = "Preflight"
	ManagementRoleLogicalID   = "ManagementRole"
	StackSetLogicalID         = "MemberRoleStackSet"
	VerificationLogicalID     = "RoleVerification"
	EventRuleLogicalID        = "StackInstanceEvents"
	StateTableLogicalID       = "StateTable"
	EventPermissionLogicalID  = "StackInstanceEventsPermission"
	DeadLetterLogicalID       = "UnprocessedEvents"
	DeadLetterPolicyLogicalID = "UnprocessedEventsPolicy"
	InvokeConfigLogicalID     = "OnboardingFunctionInvokeConfig"
	ScheduleLogicalID         = "ReverificationSchedule"
	ScheduleRoleLogicalID     = "ReverificationScheduleRole"
	AlarmLogicalID            = "VerificationAlarm"

	OutputGrantedPermissions = "GrantedPermissions"
	OutputVerificationStatus = "VerificationStatus"
	OutputStackSetID         = params.OutputStackSetID
	OutputCallbackStatus     = "CallbackStatus"
	OutputMemberRoleARN      = params.OutputMemberRoleARN
	OutputVerifierRoleARN    = "VerifierRoleArn"
	OutputUnprocessedEvents  = "UnprocessedEventsQueue"
	OutputVerificationAlarm  = "VerificationAlarm"

	// FunctionCodeDir is the function's source, for sam build.
	FunctionCodeDir = "lambda"

	// RoleTemplatePath is where the role template is written, relative to
	// the management template; the nested stack refers to it by this path.
	RoleTemplatePath = "templates/member-role.yaml"

	// FunctionTimeoutSeconds bounds one invocation. The custom resources'
	// ServiceTimeout is a little above it, so CloudFormation gives up on a
	// silent function within minutes, not the default hour; the function's
	// own deadline guard answers well before either.
	FunctionTimeoutSeconds = params.FunctionTimeoutSeconds
	ServiceTimeoutSeconds  = FunctionTimeoutSeconds + 60
)

const (
	condDeployToOrg = "DeployToOrganization"
	// condManagementRole: StackSetCallAs is SELF, so the stack runs in
	// the management account and creates its role. Otherwise
	// (DELEGATED_ADMIN) it runs in a delegated administrator account and
	// creates no role of its own: the StackSet creates that account's
	// role like any member's, and the management account gets its role
	// from a second stack.
	condManagementRole   = "CreatesManagementRole"
	condHasAccountFilter = "HasAccountFilter"
	condRetainRoles      = "RetainRolesOnAccountRemoval"
	condHasCURAccount    = "CurBucketInAnotherAccount"
	// condEventPath: StackSet instance events reach this stack. AWS puts
	// a service-managed StackSet in the management account even when a
	// delegated administrator creates it, and its events carry that
	// account (AWS does not say on which bus they land; we infer the
	// management account's), so only a SELF stack hears them.
	condEventPath = "HearsInstanceEvents"
	// condSchedule: VerificationSchedule is not off.
	condSchedule = "ReverifiesOnSchedule"
)

// StackSetPolicyLogicalID grants the function ListStackInstances on the
// StackSet, once Preflight has named the account that owns it.
const StackSetPolicyLogicalID = "OnboardingFunctionStackSetAccess"

// packagedByDeploy is the Metadata of a resource whose local path sam
// deploy uploads: cfn-lint warns that such a path needs packaging, which
// sam deploy does.
var packagedByDeploy = map[string]any{
	"cfn-lint": map[string]any{"config": map[string]any{"ignore_checks": []string{"W3002"}}},
}

// stackSetName is unique per stack, so a customer can run two onboardings
// (two vendors) side by side.
var stackSetName = cloudformation.Sub("${AWS::StackName}-roles")

func ref(name string) string { return cloudformation.Ref(name) }

func joined(name string) string { return cloudformation.Join(",", cloudformation.Ref(name)) }

// managementTemplate builds template.yaml. With a nil Artifacts the code
// and the role template are local paths, for sam build and sam deploy; with
// Artifacts they are the vendor's published S3 objects, for Launch Stack.
// It is plain CloudFormation: no transform, so a Launch Stack link needs
// no CAPABILITY_AUTO_EXPAND.
func managementTemplate(p *profile.Profile, roleBody string, a *Artifacts, partition string) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Description = fmt.Sprintf("rolecall: connect this AWS organization to %s with a read-only role in every account, verified before the stack completes (permission set %s).", p.Name, permissions.Version)
	t.Metadata["AWS::CloudFormation::Interface"] = consoleInterface()
	// W1030: cfn-lint checks the StackSet's Accounts against
	// AccountFilterIds' empty default, which Fn::If leaves out (with no
	// filter); Preflight requires ids whenever a filter is set. cfn-lint
	// reports it at the template level, so it is silenced here.
	t.Metadata["cfn-lint"] = map[string]any{"config": map[string]any{"ignore_checks": []string{"W1030"}}}
	for _, prm := range params.All() {
		t.Parameters[prm.Name] = parameter(prm)
	}
	t.Conditions[condDeployToOrg] = cloudformation.Equals(ref(params.DeployToOrganization.Name), "true")
	t.Conditions[condBedrock] = cloudformation.Equals(ref(params.EnableBedrockAccess.Name), "true")
	t.Conditions[condManagementRole] = cloudformation.Equals(ref(params.StackSetCallAs.Name), "SELF")
	t.Conditions[condHasAccountFilter] = cloudformation.Not([]string{cloudformation.Equals(ref(params.AccountFilterType.Name), "NONE")})
	t.Conditions[condRetainRoles] = cloudformation.Equals(ref(params.RetainRolesOnAccountRemoval.Name), "true")
	t.Conditions[condHasCURAccount] = notEmpty(ref(params.CURBucketAccountID.Name))
	t.Conditions[condSchedule] = cloudformation.Not([]string{cloudformation.Equals(ref(params.VerificationSchedule.Name), "off")})
	t.Conditions[condEventPath] = cloudformation.And([]string{
		cloudformation.Equals(ref(params.DeployToOrganization.Name), "true"),
		cloudformation.Equals(ref(params.StackSetCallAs.Name), "SELF"),
	})
	addTagConditions(t)
	stackTags := stackTagList([]tags.Tag{{Key: "rolecall:vendor", Value: p.ID}})

	t.Resources[SecretLogicalID] = withProperties{
		Resource: &secretsmanager.Secret{
			Description: str(fmt.Sprintf("rolecall: the external ID and the callback signing secret %s issued for this organization.", p.Name)),
			SecretString: str(cloudformation.Sub(fmt.Sprintf(`{"externalId":"${%s}","previousExternalId":"${%s}","callbackSecret":"${%s}"}`,
				params.ExternalID.Name, params.PreviousExternalID.Name, params.CallbackSecret.Name))),
		},
		extra: map[string]any{"Tags": stackTags},
	}
	t.Resources[LogGroupLogicalID] = withProperties{
		Resource: &logs.LogGroup{RetentionInDays: num(90)},
		extra:    map[string]any{"Tags": stackTags},
	}
	t.Resources[StateTableLogicalID] = withProperties{Resource: stateTable(), extra: map[string]any{"Tags": stackTags}}
	t.Resources[FunctionRoleLogicalID] = withProperties{Resource: functionRole(p), extra: map[string]any{"Tags": stackTags}}
	t.Resources[FunctionLogicalID] = function(p, a, stackTags)
	addSchedule(t, p, stackTags)
	t.Resources[AlarmLogicalID] = withProperties{Resource: alarm(p), extra: map[string]any{"Tags": stackTags}}

	token := cloudformation.GetAtt(FunctionLogicalID, "Arn")
	preflight := map[string]any{
		"ServiceToken":   token,
		"ServiceTimeout": ServiceTimeoutSeconds,
	}
	for _, prm := range params.Preflight() {
		preflight[prm.Name] = ref(prm.Name)
	}
	t.Resources[PreflightLogicalID] = customResource{typ: params.PreflightType, properties: preflight}

	nested := roleParameters()
	nested[params.CURBucketName.Name] = ref(params.CURBucketName.Name)
	nested[params.CURReportPrefix.Name] = ref(params.CURReportPrefix.Name)
	nested[params.CURBucketAccountID.Name] = ref(params.CURBucketAccountID.Name)
	nested[params.CURKMSKeyARN.Name] = ref(params.CURKMSKeyARN.Name)
	roleURL := RoleTemplatePath
	if a != nil {
		roleURL = a.URL(a.RoleTemplateKey())
	}
	nestedStack := &cfn.Stack{
		TemplateURL:                roleURL,
		Parameters:                 nested,
		AWSCloudFormationDependsOn: []string{PreflightLogicalID},
		AWSCloudFormationCondition: condManagementRole,
	}
	if a == nil {
		nestedStack.AWSCloudFormationMetadata = packagedByDeploy
	}
	t.Resources[ManagementRoleLogicalID] = nestedStack

	// Member accounts get the CUR parameters only when the bucket is in
	// one of them; each role template then decides whether it is the one.
	members := roleParameters()
	members[params.CURBucketName.Name] = cloudformation.If(condHasCURAccount, ref(params.CURBucketName.Name), "")
	members[params.CURReportPrefix.Name] = cloudformation.If(condHasCURAccount, ref(params.CURReportPrefix.Name), "")
	members[params.CURBucketAccountID.Name] = ref(params.CURBucketAccountID.Name)
	members[params.CURKMSKeyARN.Name] = cloudformation.If(condHasCURAccount, ref(params.CURKMSKeyARN.Name), "")
	var stackSetParams []cfn.StackSet_Parameter
	for _, k := range sortedKeys(members) {
		stackSetParams = append(stackSetParams, cfn.StackSet_Parameter{ParameterKey: k, ParameterValue: members[k]})
	}
	targets := map[string]any{
		"OrganizationalUnitIds": cloudformation.Split(",", cloudformation.GetAtt(PreflightLogicalID, params.DataDeploymentTargets)),
		"AccountFilterType":     cloudformation.If(condHasAccountFilter, ref(params.AccountFilterType.Name), noValue),
		"Accounts":              cloudformation.If(condHasAccountFilter, ref(params.AccountFilterIDs.Name), noValue),
	}
	t.Resources[StackSetLogicalID] = withProperties{
		Resource: &cfn.StackSet{
			StackSetName:               stackSetName,
			Description:                str(fmt.Sprintf("rolecall: the %s read-only role in every member account of the chosen organizational units.", p.Name)),
			PermissionModel:            "SERVICE_MANAGED",
			CallAs:                     str(ref(params.StackSetCallAs.Name)),
			Capabilities:               []string{"CAPABILITY_NAMED_IAM"},
			ManagedExecution:           &cfn.StackSet_ManagedExecution{Active: yes()},
			Parameters:                 stackSetParams,
			TemplateBody:               str(roleBody),
			AWSCloudFormationCondition: condDeployToOrg,
		},
		extra: map[string]any{
			"AutoDeployment": map[string]any{
				"Enabled":                      true,
				"RetainStacksOnAccountRemoval": cloudformation.If(condRetainRoles, true, false),
			},
			// Accounts are independent: deploy to all of them at once and
			// let any fail (an SCP, a suspended account) without stopping
			// or rolling back the rest. Soft failure tolerance keeps the
			// concurrency when some fail; verification then reports each
			// failed account with CloudFormation's reason.
			"OperationPreferences": map[string]any{
				"ConcurrencyMode":            "SOFT_FAILURE_TOLERANCE",
				"MaxConcurrentPercentage":    100,
				"FailureTolerancePercentage": 100,
				"RegionConcurrencyType":      "PARALLEL",
			},
			// IAM is global: one region only, or every account would be
			// registered once per region.
			"StackInstancesGroup": []any{map[string]any{
				"DeploymentTargets": targets,
				"Regions":           []string{ref("AWS::Region")},
			}},
		},
	}

	// The StackSet belongs to the management account, also when a
	// delegated administrator creates it; Preflight names that account.
	// A policy of its own, since the function's role exists before
	// Preflight runs.
	t.Resources[StackSetPolicyLogicalID] = &iam.Policy{
		PolicyName: "onboarding-function-stackset",
		PolicyDocument: map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid":    "ListOwnStackSetInstances",
				"Effect": "Allow",
				"Action": []string{"cloudformation:ListStackInstances"},
				"Resource": cloudformation.SubVars("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${Owner}:stackset/${AWS::StackName}-roles:*",
					map[string]any{"Owner": cloudformation.GetAtt(PreflightLogicalID, params.DataManagementAccountID)}),
			}},
		},
		// Always there (harmless without a StackSet), so the verification
		// can depend on it.
		Roles: []string{ref(FunctionRoleLogicalID)},
	}

	t.Resources[VerificationLogicalID] = customResource{
		typ:        params.VerificationType,
		properties: verificationProperties(),
		dependsOn:  []string{StackSetPolicyLogicalID},
	}

	addEventPath(t, token, stackTags)

	t.Outputs[OutputRoleARN] = cloudformation.Output{
		Value: cloudformation.If(condManagementRole,
			cloudformation.GetAtt(ManagementRoleLogicalID, "Outputs."+OutputRoleARN),
			"none in this delegated administrator account: the StackSet creates its role; deploy this template in the management account with DeployToOrganization=false for the management account's role"),
		Description: str(fmt.Sprintf("The read-only role %s assumes in this account.", p.Name)),
	}
	t.Outputs[OutputMemberRoleARN] = cloudformation.Output{
		Value:       cloudformation.Sub(fmt.Sprintf("arn:${AWS::Partition}:iam::<member-account-id>:role${%s}%s", params.RolePath.Name, p.RoleName)),
		Description: str("The role's ARN in each member account."),
	}
	t.Outputs[OutputVerifierRoleARN] = cloudformation.Output{
		Value:       cloudformation.GetAtt(FunctionRoleLogicalID, "Arn"),
		Description: str("The onboarding function's role. With StackSetCallAs=DELEGATED_ADMIN, list it in AdditionalVerifierPrincipalArns of the management account's stack so this stack verifies that role too."),
	}
	t.Outputs[OutputGrantedPermissions] = cloudformation.Output{
		Value:       cloudformation.If(condBedrock, oneLine(permissions.SummaryIn(partition, true)), oneLine(permissions.SummaryIn(partition, false))),
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
	t.Outputs[OutputVerificationAlarm] = cloudformation.Output{
		Value:       ref(AlarmLogicalID),
		Description: str("The CloudWatch alarm that goes off when a verification finds an account in finding, unverifiable or unreachable. Add your own alarm action (an SNS topic) to be told."),
	}
	t.Outputs[OutputUnprocessedEvents] = cloudformation.Output{
		Value:       cloudformation.If(condEventPath, ref(DeadLetterLogicalID), "none: no StackSet instance events reach this stack"),
		Description: str("The queue that keeps StackSet instance events the function could not process; the customer guide (Replaying unprocessed events) says how to replay them."),
	}
	return t
}

// addEventPath adds what verifies a member account when its StackSet
// instance changes: the EventBridge rule, its permission to invoke the
// function, and the dead-letter queue where an event lands, with a record,
// when EventBridge cannot deliver it or the function fails it after
// Lambda's retries.
func addEventPath(t *cloudformation.Template, token string, stackTags any) {
	queueARN := cloudformation.GetAtt(DeadLetterLogicalID, "Arn")
	ruleARN := cloudformation.GetAtt(EventRuleLogicalID, "Arn")
	t.Resources[DeadLetterLogicalID] = withProperties{
		Resource: &sqs.Queue{
			MessageRetentionPeriod:     num(14 * 24 * 3600), // SQS's maximum
			SqsManagedSseEnabled:       yes(),
			AWSCloudFormationCondition: condEventPath,
		},
		extra: map[string]any{"Tags": stackTags},
	}
	t.Resources[DeadLetterPolicyLogicalID] = &sqs.QueuePolicy{
		Queues: []string{ref(DeadLetterLogicalID)},
		PolicyDocument: map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid":       "EventBridgeDeadLetters",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "events.amazonaws.com"},
				"Action":    "sqs:SendMessage",
				"Resource":  queueARN,
				"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ruleARN}},
			}},
		},
		AWSCloudFormationCondition: condEventPath,
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
		Targets: []events.Rule_Target{{
			Arn: token, Id: FunctionLogicalID,
			// EventBridge retries a failed delivery for a day, then keeps
			// the event in the queue.
			RetryPolicy:      &events.Rule_RetryPolicy{MaximumEventAgeInSeconds: num(24 * 3600), MaximumRetryAttempts: num(185)},
			DeadLetterConfig: &events.Rule_DeadLetterConfig{Arn: str(queueARN)},
		}},
		AWSCloudFormationCondition: condEventPath,
	}
	t.Resources[EventPermissionLogicalID] = &lambda.Permission{
		Action:                     "lambda:InvokeFunction",
		FunctionName:               ref(FunctionLogicalID),
		Principal:                  "events.amazonaws.com",
		SourceArn:                  str(ruleARN),
		AWSCloudFormationCondition: condEventPath,
	}
	// Lambda retries a failed asynchronous invocation twice; then the
	// event goes to the queue with the error, instead of being dropped.
	t.Resources[InvokeConfigLogicalID] = &lambda.EventInvokeConfig{
		FunctionName:             ref(FunctionLogicalID),
		Qualifier:                "$LATEST",
		MaximumRetryAttempts:     num(2),
		MaximumEventAgeInSeconds: num(6 * 3600),
		DestinationConfig: &lambda.EventInvokeConfig_DestinationConfig{
			OnFailure: &lambda.EventInvokeConfig_OnFailure{Destination: queueARN},
		},
		AWSCloudFormationCondition: condEventPath,
	}
}

// alarm watches the metric the function writes after every verification
// (the stack's creation and updates, and each scheduled run): it goes off
// when any account is in finding, unverifiable or unreachable, and clears
// when a verification finds none. Between verifications there is no data,
// and the alarm keeps its state.
func alarm(p *profile.Profile) *cloudwatch.Alarm {
	return &cloudwatch.Alarm{
		AlarmDescription:   str(fmt.Sprintf("rolecall: an account's %s role can write, cannot be proven read-only, or cannot be assumed. The VerificationStatus output and the function's log say which; the customer guide (Continuous assurance) says what to do.", p.Name)),
		Namespace:          str(params.MetricNamespace),
		MetricName:         str(params.MetricNeedsAttention),
		Dimensions:         []cloudwatch.Alarm_Dimension{{Name: params.MetricDimension, Value: ref("AWS::StackName")}},
		Statistic:          str("Maximum"),
		Period:             num(3600),
		EvaluationPeriods:  1,
		Threshold:          float(1),
		ComparisonOperator: "GreaterThanOrEqualToThreshold",
		TreatMissingData:   str("ignore"),
	}
}

// ScheduleInput is the event the schedule sends the function, filled by
// EventBridge Scheduler's context attributes (onboarding.ScheduledEvent).
const ScheduleInput = `{"source":"rolecall.schedule","execution_id":"<aws.scheduler.execution-id>","scheduled_time":"<aws.scheduler.scheduled-time>","heartbeat":"${Heartbeat}"}`

// addSchedule adds the scheduled re-verification: an EventBridge Scheduler
// schedule that invokes the function at the customer's rate, and the role
// it invokes the function as (scheduler.amazonaws.com, for this account's
// schedules only). A flexible window of 15 minutes spreads the runs of
// many customers; a firing that fails is retried twice within the hour.
func addSchedule(t *cloudformation.Template, p *profile.Profile, stackTags any) {
	t.Resources[ScheduleRoleLogicalID] = withProperties{
		Resource: &iam.Role{
			Description: str("rolecall: lets the re-verification schedule invoke the onboarding function, and nothing else."),
			AssumeRolePolicyDocument: map[string]any{
				"Version": "2012-10-17",
				"Statement": []any{map[string]any{
					"Effect":    "Allow",
					"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
					"Action":    "sts:AssumeRole",
					"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": ref("AWS::AccountId")}},
				}},
			},
			Policies: []iam.Role_Policy{{PolicyName: "invoke-onboarding-function", PolicyDocument: map[string]any{
				"Version": "2012-10-17",
				"Statement": []any{map[string]any{
					"Sid": "InvokeTheOnboardingFunction", "Effect": "Allow", "Action": []string{"lambda:InvokeFunction"},
					"Resource": []string{cloudformation.GetAtt(FunctionLogicalID, "Arn")},
				}},
			}}},
			AWSCloudFormationCondition: condSchedule,
		},
		extra: map[string]any{"Tags": stackTags},
	}
	t.Resources[ScheduleLogicalID] = &scheduler.Schedule{
		Description:        str(fmt.Sprintf("rolecall: verify every role again and tell %s what changed.", p.Name)),
		ScheduleExpression: ref(params.VerificationSchedule.Name),
		FlexibleTimeWindow: &scheduler.Schedule_FlexibleTimeWindow{Mode: "FLEXIBLE", MaximumWindowInMinutes: float(15)},
		State:              str("ENABLED"),
		Target: &scheduler.Schedule_Target{
			Arn:         cloudformation.GetAtt(FunctionLogicalID, "Arn"),
			RoleArn:     cloudformation.GetAtt(ScheduleRoleLogicalID, "Arn"),
			Input:       str(cloudformation.Sub(ScheduleInput)),
			RetryPolicy: &scheduler.Schedule_RetryPolicy{MaximumRetryAttempts: float(2), MaximumEventAgeInSeconds: float(3600)},
		},
		AWSCloudFormationCondition: condSchedule,
	}
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
		params.RolePath.Name:                        ref(params.RolePath.Name),
		params.PermissionsBoundaryName.Name:         ref(params.PermissionsBoundaryName.Name),
		params.ResourceTags.Name:                    joined(params.ResourceTags.Name),
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
		params.PropManagementRoleARN:   cloudformation.If(condManagementRole, cloudformation.GetAtt(ManagementRoleLogicalID, "Outputs."+OutputRoleARN), noValue),
		params.PropStackSetID:          cloudformation.If(condDeployToOrg, cloudformation.GetAtt(StackSetLogicalID, "StackSetId"), noValue),
		params.PropPermissionSetDigest: permissions.Digest(),
		params.PropCURRegion:           cloudformation.GetAtt(PreflightLogicalID, params.DataCURRegion),
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

// function is the onboarding function. Its environment is the wiring and
// the vendor's settings only: the customer's choices reach it as the
// custom resources' properties, and for instance events through the
// stack's own parameters (DescribeStacks), since Lambda bounds the whole
// environment at 4 KB.
func function(p *profile.Profile, a *Artifacts, stackTags any) cloudformation.Resource {
	env := map[string]string{
		params.EnvVendorName:   p.Name,
		params.EnvRoleName:     p.RoleName,
		params.EnvStackSetName: stackSetName,
		params.EnvStackID:      ref("AWS::StackId"),
		params.EnvSecretARN:    ref(SecretLogicalID),
		params.EnvCallbackURL:  p.Callback.URL,
		params.EnvAudience:     p.Callback.Audience,
		params.EnvStateTable:   ref(StateTableLogicalID),
		params.EnvDeadLetters:  cloudformation.If(condEventPath, ref(DeadLetterLogicalID), ""),
		// No collection while the runtime initialises the packages: the
		// collector would run twice over a heap of a few megabytes, about a
		// quarter of the cold start. The function sets its own pacing as
		// soon as main runs (verify.TuneRuntime).
		params.EnvGOGC: "off",
	}
	fn := &lambda.Function{
		Description:   str(fmt.Sprintf("rolecall: verifies the %s roles and reports them to %s.", p.Name, p.Name)),
		Handler:       str("bootstrap"),
		Runtime:       str("provided.al2023"),
		Architectures: []string{"arm64"},
		MemorySize:    num(params.FunctionMemoryMB),
		Timeout:       num(FunctionTimeoutSeconds),
		Role:          cloudformation.GetAtt(FunctionRoleLogicalID, "Arn"),
		Environment:   &lambda.Function_Environment{Variables: env},
		LoggingConfig: &lambda.Function_LoggingConfig{
			LogFormat: str("JSON"),
			LogGroup:  str(ref(LogGroupLogicalID)),
		},
	}
	extra := map[string]any{"Tags": stackTags}
	if a == nil {
		// A local directory: sam build runs `make build-OnboardingFunction`
		// in it (BuildMethod makefile, in source, see samconfig.toml), and
		// sam deploy uploads what it built.
		extra["Code"] = FunctionCodeDir
		fn.AWSCloudFormationMetadata = map[string]any{
			"BuildMethod": "makefile",
			"cfn-lint":    packagedByDeploy["cfn-lint"],
		}
	} else {
		fn.Code = &lambda.Function_Code{S3Bucket: str(a.Bucket), S3Key: str(a.FunctionKey())}
	}
	return withProperties{Resource: fn, extra: extra}
}

func functionRole(p *profile.Profile) cloudformation.Resource {
	stmt := func(sid string, actions []string, resources ...string) map[string]any {
		return map[string]any{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
	}
	statements := []any{
		stmt("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			cloudformation.GetAtt(LogGroupLogicalID, "Arn")),
		stmt("AssumeTheVendorRoleToVerifyIt", []string{"sts:AssumeRole"},
			cloudformation.Sub("arn:${AWS::Partition}:iam::*:role${"+params.RolePath.Name+"}"+p.RoleName)),
		stmt("ReadOwnSecret", []string{"secretsmanager:GetSecretValue"},
			ref(SecretLogicalID)),
		// To tell an update's rollback, when a failed answer would leave
		// the stack in UPDATE_ROLLBACK_FAILED; to confirm that a Delete is
		// a real deletion before telling the vendor; and to read the
		// stack's parameters when an instance event arrives.
		stmt("ReadOwnStackStatus", []string{"cloudformation:DescribeStackResource", "cloudformation:DescribeStacks"},
			cloudformation.Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*")),
		stmt("KeepOwnState", []string{"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"},
			cloudformation.GetAtt(StateTableLogicalID, "Arn")),
		stmt("ReadOrganization", []string{
			"organizations:DescribeAccount",
			"organizations:DescribeOrganization",
			"organizations:DescribeOrganizationalUnit",
			"organizations:ListAWSServiceAccessForOrganization",
			"organizations:ListDelegatedAdministrators",
			"organizations:ListParents",
			"organizations:ListRoots",
		}, "*"),
		stmt("CheckCurBucketOwner", []string{"s3:ListBucket"},
			cloudformation.Sub("arn:${AWS::Partition}:s3:::${"+params.CURBucketName.Name+"}")),
	}
	// The dead-letter queue exists only with the StackSet: Lambda sends
	// failed events there as the function's role, and the function counts
	// what waits there.
	statements = append(statements, cloudformation.If(condEventPath,
		stmt("KeepUnprocessedEvents", []string{"sqs:GetQueueAttributes", "sqs:SendMessage"},
			cloudformation.GetAtt(DeadLetterLogicalID, "Arn")),
		noValue))
	doc := map[string]any{"Version": "2012-10-17", "Statement": statements}
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
