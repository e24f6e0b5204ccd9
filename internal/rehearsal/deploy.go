package rehearsal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/cfnlocal"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/synth"
)

// Deployment is an onboarding stack as CloudFormation would have created it.
type Deployment struct {
	// Admin is an administrator of the stack's account, playing
	// CloudFormation's service role there.
	Admin     aws.Config
	StackName string
	StackID   string
	Region    string
	AccountID string
	Params    map[string]string

	stack *cfnlocal.Stack
	// resources are what CloudFormation knows of the created resources.
	resources map[string]cfnlocal.Resource
	// suffix makes generated physical names unique, as CloudFormation does.
	suffix string
	// managementStack is the nested stack's name.
	managementStack string

	SecretARN         string
	StateTable        string
	FunctionARN       string
	FunctionRoleARN   string
	LogGroupARN       string
	ManagementRoleARN string
	StackSetName      string
	StackSetID        string
	// CallAs is how the StackSet is addressed: empty (SELF) or
	// DELEGATED_ADMIN.
	CallAs cftypes.CallAs
	// DeadLetterQueueURL and ARN locate the queue of unprocessed instance
	// events, when the stack has the event path.
	DeadLetterQueueURL string
	DeadLetterQueueARN string
	// FunctionEnv is the function's environment from the template.
	FunctionEnv map[string]string
	// FunctionActions are the actions its execution role is granted.
	FunctionActions []string
}

// Stack returns the evaluated management template.
func (d *Deployment) Stack() *cfnlocal.Stack { return d.stack }

// newSuffix returns a random upper-case suffix like CloudFormation's.
func newSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// NewExternalID returns a fresh external ID, as a vendor would issue one.
func NewExternalID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "rehearsal-" + hex.EncodeToString(b)
}

// NewCallbackSecret returns a fresh whsec_ signing secret.
func NewCallbackSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// templateFiles returns the generated files by path.
func templateFiles(files []synth.File) (mgmt, role []byte, err error) {
	for _, f := range files {
		switch f.Path {
		case synth.ManagementTemplatePath:
			mgmt = f.Data
		case synth.RoleTemplatePath:
			role = f.Data
		}
	}
	if mgmt == nil || role == nil {
		return nil, nil, fmt.Errorf("synth produced no %s or %s", synth.ManagementTemplatePath, synth.RoleTemplatePath)
	}
	return mgmt, role, nil
}

// deployBase creates what the onboarding function needs before it first
// runs (its secret, log group and execution role), evaluating each from the
// management template as CloudFormation would.
func deployBase(ctx context.Context, admin aws.Config, accountID string, mgmtTemplate []byte, stackName string, values map[string]string) (*Deployment, error) {
	d := &Deployment{
		Admin:     admin,
		resources: map[string]cfnlocal.Resource{},
		StackName: stackName,
		Region:    admin.Region,
		AccountID: accountID,
		Params:    values,
		suffix:    newSuffix(),
	}
	d.StackID = fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", d.Region, d.AccountID, stackName, uuidLike())
	stack, err := cfnlocal.Load(mgmtTemplate, values, map[string]string{
		"AWS::Region":    d.Region,
		"AWS::AccountId": d.AccountID,
		"AWS::StackName": stackName,
		"AWS::StackId":   d.StackID,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", synth.ManagementTemplatePath, err)
	}
	d.stack = stack

	// The secret.
	props, err := stack.Properties(synth.SecretLogicalID)
	if err != nil {
		return nil, err
	}
	sec, err := secretsmanager.NewFromConfig(admin).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(d.physicalName(synth.SecretLogicalID)),
		Description:  aws.String(fmt.Sprint(props["Description"])),
		SecretString: aws.String(fmt.Sprint(props["SecretString"])),
	})
	if err != nil {
		return nil, fmt.Errorf("create the onboarding secret: %w", err)
	}
	d.SecretARN = aws.ToString(sec.ARN)
	d.set(synth.SecretLogicalID, cfnlocal.Resource{Ref: d.SecretARN})

	// The log group.
	logGroup := d.physicalName(synth.LogGroupLogicalID)
	if _, err := cloudwatchlogs.NewFromConfig(admin).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(logGroup)}); err != nil {
		return nil, fmt.Errorf("create the function's log group: %w", err)
	}
	d.LogGroupARN = fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:*", d.Region, d.AccountID, logGroup)
	d.set(synth.LogGroupLogicalID, cfnlocal.Resource{Ref: logGroup, Attrs: map[string]string{"Arn": d.LogGroupARN}})

	// The state table.
	props, err = stack.Properties(synth.StateTableLogicalID)
	if err != nil {
		return nil, err
	}
	table := d.physicalName(synth.StateTableLogicalID)
	if err := createTable(ctx, admin, table, props); err != nil {
		return nil, fmt.Errorf("create the state table: %w", err)
	}
	d.StateTable = table
	d.set(synth.StateTableLogicalID, cfnlocal.Resource{Ref: table, Attrs: map[string]string{"Arn": fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", d.Region, d.AccountID, table)}})

	// The dead-letter queue of the instance-event path, when the template
	// has that path, with its policy for EventBridge.
	if ok, err := stack.HasResource(synth.DeadLetterLogicalID); err != nil {
		return nil, err
	} else if ok {
		if err := d.createDeadLetterQueue(ctx, admin); err != nil {
			return nil, err
		}
	}

	// The execution role, with the template's own policies. Lambda would
	// assume it through the trust on lambda.amazonaws.com; here the
	// emulator's administrator plays the Lambda service.
	props, err = stack.Properties(synth.FunctionRoleLogicalID)
	if err != nil {
		return nil, err
	}
	roleName := d.physicalName(synth.FunctionRoleLogicalID)
	player, err := emulator.PrincipalOf(ctx, admin)
	if err != nil {
		return nil, err
	}
	trust := map[string]any{"Version": "2012-10-17", "Statement": []any{
		props["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)[0],
		map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"AWS": player}},
	}}
	client := iam.NewFromConfig(admin)
	role, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(mustJSON(trust))})
	if err != nil {
		return nil, fmt.Errorf("create the function's execution role: %w", err)
	}
	d.FunctionRoleARN = aws.ToString(role.Role.Arn)
	policies, _ := props["Policies"].([]any)
	for _, p := range policies {
		pm := p.(map[string]any)
		for _, st := range pm["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			for _, a := range st.(map[string]any)["Action"].([]any) {
				d.FunctionActions = append(d.FunctionActions, fmt.Sprint(a))
			}
		}
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName:       aws.String(roleName),
			PolicyName:     aws.String(fmt.Sprint(pm["PolicyName"])),
			PolicyDocument: aws.String(mustJSON(pm["PolicyDocument"])),
		}); err != nil {
			return nil, fmt.Errorf("grant the function's execution role: %w", err)
		}
	}
	d.set(synth.FunctionRoleLogicalID, cfnlocal.Resource{Ref: roleName, Attrs: map[string]string{"Arn": d.FunctionRoleARN}})

	// The function itself runs in-process; what it gets from the template
	// is its environment.
	d.FunctionARN = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", d.Region, d.AccountID, d.physicalName(synth.FunctionLogicalID))
	d.set(synth.FunctionLogicalID, cfnlocal.Resource{Ref: d.physicalName(synth.FunctionLogicalID), Attrs: map[string]string{"Arn": d.FunctionARN}})
	props, err = stack.Properties(synth.FunctionLogicalID)
	if err != nil {
		return nil, err
	}
	d.FunctionEnv = map[string]string{}
	if env, ok := props["Environment"].(map[string]any); ok {
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			d.FunctionEnv[k] = fmt.Sprint(v)
		}
	}
	return d, nil
}

// updateFunctionRole puts the execution role's inline policies again, as
// CloudFormation does when a parameter they name changes (the CUR bucket
// of CheckCurBucketOwner, the role path of AssumeRole).
func (d *Deployment) updateFunctionRole(ctx context.Context, admin aws.Config) error {
	props, err := d.stack.Properties(synth.FunctionRoleLogicalID)
	if err != nil {
		return err
	}
	policies, _ := props["Policies"].([]any)
	for _, p := range policies {
		pm := p.(map[string]any)
		if _, err := iam.NewFromConfig(admin).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName:       aws.String(d.physicalName(synth.FunctionRoleLogicalID)),
			PolicyName:     aws.String(fmt.Sprint(pm["PolicyName"])),
			PolicyDocument: aws.String(mustJSON(pm["PolicyDocument"])),
		}); err != nil {
			return fmt.Errorf("update the function's execution role: %w", err)
		}
	}
	return nil
}

// useFunctionARN gives the function the ARN Lambda (or its emulator) will
// say it has, for every property that names it from now on.
func (d *Deployment) useFunctionARN(arn string) {
	d.FunctionARN = arn
	r := d.resources[synth.FunctionLogicalID]
	d.set(synth.FunctionLogicalID, cfnlocal.Resource{Ref: r.Ref, Attrs: map[string]string{"Arn": arn}})
}

// createInstances deploys the StackSet to an OU's accounts, as automatic
// deployment does when accounts join it.
func (d *Deployment) createInstances(ctx context.Context, ou string) (string, error) {
	out, err := cloudformation.NewFromConfig(d.Admin).CreateStackInstances(ctx, &cloudformation.CreateStackInstancesInput{
		StackSetName: aws.String(d.StackSetName), DeploymentTargets: &cftypes.DeploymentTargets{OrganizationalUnitIds: []string{ou}},
		Regions: []string{d.Region}, CallAs: d.CallAs,
	})
	if err != nil {
		return "", fmt.Errorf("deploy the StackSet to %s: %w", ou, err)
	}
	return aws.ToString(out.OperationId), nil
}

// createDeadLetterQueue creates the queue of unprocessed instance events
// with the template's attributes and its policy for EventBridge.
func (d *Deployment) createDeadLetterQueue(ctx context.Context, admin aws.Config) error {
	props, err := d.stack.Properties(synth.DeadLetterLogicalID)
	if err != nil {
		return err
	}
	client := sqs.NewFromConfig(admin)
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(d.physicalName(synth.DeadLetterLogicalID)),
		Attributes: map[string]string{
			"MessageRetentionPeriod": fmt.Sprint(props["MessageRetentionPeriod"]),
			"SqsManagedSseEnabled":   fmt.Sprint(props["SqsManagedSseEnabled"]),
		},
	})
	if err != nil {
		return fmt.Errorf("create the dead-letter queue: %w", err)
	}
	d.DeadLetterQueueURL = aws.ToString(out.QueueUrl)
	d.DeadLetterQueueARN = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", d.Region, d.AccountID, d.physicalName(synth.DeadLetterLogicalID))
	d.set(synth.DeadLetterLogicalID, cfnlocal.Resource{Ref: d.DeadLetterQueueURL, Attrs: map[string]string{"Arn": d.DeadLetterQueueARN}})
	return nil
}

// deployQueuePolicy gives EventBridge the right to send to the queue, once
// the rule exists (its ARN is the policy's condition).
func (d *Deployment) deployQueuePolicy(ctx context.Context, admin aws.Config) error {
	if ok, err := d.stack.HasResource(synth.DeadLetterPolicyLogicalID); err != nil || !ok {
		return err
	}
	ruleARN := fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", d.Region, d.AccountID, d.physicalName(synth.EventRuleLogicalID))
	d.set(synth.EventRuleLogicalID, cfnlocal.Resource{Ref: d.physicalName(synth.EventRuleLogicalID), Attrs: map[string]string{"Arn": ruleARN}})
	props, err := d.stack.Properties(synth.DeadLetterPolicyLogicalID)
	if err != nil {
		return err
	}
	_, err = sqs.NewFromConfig(admin).SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(d.DeadLetterQueueURL),
		Attributes: map[string]string{"Policy": mustJSON(props["PolicyDocument"])},
	})
	if err != nil {
		return fmt.Errorf("set the dead-letter queue's policy: %w", err)
	}
	return nil
}

// deployStackSetPolicy grants the function ListStackInstances on the
// StackSet of the account Preflight named, as the template's separate
// policy does once Preflight has answered.
func (d *Deployment) deployStackSetPolicy(ctx context.Context, admin aws.Config, preflightData map[string]any) error {
	d.set(synth.PreflightLogicalID, cfnlocal.Resource{Attrs: stringAttrs(preflightData)})
	props, err := d.stack.Properties(synth.StackSetPolicyLogicalID)
	if err != nil {
		return err
	}
	name := fmt.Sprint(props["PolicyName"])
	for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		for _, a := range st.(map[string]any)["Action"].([]any) {
			d.FunctionActions = append(d.FunctionActions, fmt.Sprint(a))
		}
	}
	if _, err := iam.NewFromConfig(admin).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(d.physicalName(synth.FunctionRoleLogicalID)),
		PolicyName:     aws.String(name),
		PolicyDocument: aws.String(mustJSON(props["PolicyDocument"])),
	}); err != nil {
		return fmt.Errorf("grant the function the StackSet's instances: %w", err)
	}
	return nil
}

// deployManagementRole creates the nested stack that holds the management
// account's role, from the role template with the parameters the
// management template passes it; a delegated administrator's stack has
// none.
func (d *Deployment) deployManagementRole(ctx context.Context, admin aws.Config, roleTemplate []byte) error {
	if ok, err := d.stack.HasResource(synth.ManagementRoleLogicalID); err != nil || !ok {
		return err
	}
	cfParams, err := d.nestedParameters()
	if err != nil {
		return err
	}
	name := d.StackName + "-" + synth.ManagementRoleLogicalID + "-" + d.suffix
	d.managementStack = name
	cfn := cloudformation.NewFromConfig(admin)
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(string(roleTemplate)),
		Parameters:   cfParams,
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
	}); err != nil {
		return fmt.Errorf("create the management role's stack from %s: %w", synth.RoleTemplatePath, err)
	}
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) == 0 {
		return fmt.Errorf("read the management role's stack: %v", err)
	}
	st := out.Stacks[0]
	if st.StackStatus != cftypes.StackStatusCreateComplete {
		return fmt.Errorf("the management role's stack is %s: %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) == synth.OutputRoleARN {
			d.ManagementRoleARN = aws.ToString(o.OutputValue)
		}
	}
	if d.ManagementRoleARN == "" {
		return fmt.Errorf("the management role's stack has no %s output", synth.OutputRoleARN)
	}
	d.set(synth.ManagementRoleLogicalID, cfnlocal.Resource{Ref: aws.ToString(st.StackId), Attrs: map[string]string{"Outputs." + synth.OutputRoleARN: d.ManagementRoleARN}})
	return nil
}

// deployStackSet creates the StackSet and its instances in the deployment
// targets the Preflight resource answered with.
func (d *Deployment) deployStackSet(ctx context.Context, admin aws.Config, preflightData map[string]any) error {
	if ok, err := d.stack.HasResource(synth.StackSetLogicalID); err != nil || !ok {
		return err
	}
	props, err := d.stack.Properties(synth.StackSetLogicalID)
	if err != nil {
		return err
	}
	d.StackSetName = fmt.Sprint(props["StackSetName"])
	values := map[string]string{}
	plist, _ := props["Parameters"].([]any)
	for _, p := range plist {
		pm := p.(map[string]any)
		values[fmt.Sprint(pm["ParameterKey"])] = fmt.Sprint(pm["ParameterValue"])
	}
	spec := emulator.StackSetSpec{
		Name:         d.StackSetName,
		TemplateBody: fmt.Sprint(props["TemplateBody"]),
		Parameters:   values,
		CallAs:       cftypes.CallAs(fmt.Sprint(props["CallAs"])),
	}
	if ad, ok := props["AutoDeployment"].(map[string]any); ok {
		spec.RetainStacks = ad["RetainStacksOnAccountRemoval"] == true
	}
	groups, _ := props["StackInstancesGroup"].([]any)
	for _, g := range groups {
		targets := g.(map[string]any)["DeploymentTargets"].(map[string]any)
		for _, ou := range targets["OrganizationalUnitIds"].([]any) {
			spec.OrganizationalUnitIDs = append(spec.OrganizationalUnitIDs, fmt.Sprint(ou))
		}
		if f, ok := targets["AccountFilterType"]; ok {
			spec.AccountFilterType = cftypes.AccountFilterType(fmt.Sprint(f))
			for _, a := range targets["Accounts"].([]any) {
				spec.Accounts = append(spec.Accounts, fmt.Sprint(a))
			}
		}
	}
	d.CallAs = spec.CallAs
	dep, err := emulator.DeployStackSet(ctx, admin, spec)
	if err != nil {
		return fmt.Errorf("deploy the member-role StackSet: %w", err)
	}
	d.StackSetID = dep.StackSetID
	d.set(synth.StackSetLogicalID, cfnlocal.Resource{Ref: dep.StackSetID, Attrs: map[string]string{"StackSetId": dep.StackSetID}})
	return nil
}

// createTable creates a DynamoDB table with the key schema and billing
// mode the template gives it.
func createTable(ctx context.Context, admin aws.Config, name string, props map[string]any) error {
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingMode(fmt.Sprint(props["BillingMode"]))}
	defs, _ := props["AttributeDefinitions"].([]any)
	for _, d := range defs {
		m := d.(map[string]any)
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(fmt.Sprint(m["AttributeName"])), AttributeType: ddbtypes.ScalarAttributeType(fmt.Sprint(m["AttributeType"])),
		})
	}
	keys, _ := props["KeySchema"].([]any)
	for _, k := range keys {
		m := k.(map[string]any)
		in.KeySchema = append(in.KeySchema, ddbtypes.KeySchemaElement{AttributeName: aws.String(fmt.Sprint(m["AttributeName"])), KeyType: ddbtypes.KeyType(fmt.Sprint(m["KeyType"]))})
	}
	_, err := dynamodb.NewFromConfig(admin).CreateTable(ctx, in)
	return err
}

// createCURBucket creates the CUR bucket with one report file, as a
// customer's Cost & Usage Report delivery would.
func createCURBucket(ctx context.Context, admin aws.Config, bucket, prefix string) error {
	if err := emulator.CreateBucket(ctx, admin, bucket); err != nil {
		return err
	}
	key := prefix + "rolecall-rehearsal/20261101-20261201/rolecall-rehearsal-00001.csv.gz"
	_, err := emulator.S3Client(admin).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   strings.NewReader("identity/LineItemId,lineItem/UnblendedCost\nrehearsal,0.01\n"),
	})
	return err
}

// set records a created resource, for this evaluation and later ones.
func (d *Deployment) set(logicalID string, r cfnlocal.Resource) {
	d.resources[logicalID] = r
	d.stack.SetResource(logicalID, r)
}

// reload evaluates the template again with new parameter values, as a
// stack update does; the resources keep their identities.
func (d *Deployment) reload(mgmtTemplate []byte, values map[string]string) error {
	stack, err := cfnlocal.Load(mgmtTemplate, values, map[string]string{
		"AWS::Region":    d.Region,
		"AWS::AccountId": d.AccountID,
		"AWS::StackName": d.StackName,
		"AWS::StackId":   d.StackID,
	}, maps.Clone(d.resources))
	if err != nil {
		return fmt.Errorf("evaluate %s: %w", synth.ManagementTemplatePath, err)
	}
	d.stack = stack
	d.Params = values
	return nil
}

// nestedParameters are the parameters the management template passes the
// nested role stack.
func (d *Deployment) nestedParameters() ([]cftypes.Parameter, error) {
	props, err := d.stack.Properties(synth.ManagementRoleLogicalID)
	if err != nil {
		return nil, err
	}
	var out []cftypes.Parameter
	nested, _ := props["Parameters"].(map[string]any)
	for _, k := range sortedKeys(nested) {
		out = append(out, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(fmt.Sprint(nested[k]))})
	}
	return out, nil
}

// updateManagementRole updates the nested stack with the parameters the
// management template now passes it.
func (d *Deployment) updateManagementRole(ctx context.Context, admin aws.Config, roleTemplate []byte) error {
	cfParams, err := d.nestedParameters()
	if err != nil {
		return err
	}
	if _, err := cloudformation.NewFromConfig(admin).UpdateStack(ctx, &cloudformation.UpdateStackInput{
		StackName:    aws.String(d.managementStack),
		TemplateBody: aws.String(string(roleTemplate)),
		Parameters:   cfParams,
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
	}); err != nil {
		return fmt.Errorf("update the management role's stack: %w", err)
	}
	return nil
}

// updateStackSet updates the StackSet with the parameters the management
// template now passes it; every instance follows.
func (d *Deployment) updateStackSet(ctx context.Context, admin aws.Config) error {
	props, err := d.stack.Properties(synth.StackSetLogicalID)
	if err != nil {
		return err
	}
	var cfParams []cftypes.Parameter
	plist, _ := props["Parameters"].([]any)
	for _, p := range plist {
		pm := p.(map[string]any)
		cfParams = append(cfParams, cftypes.Parameter{ParameterKey: aws.String(fmt.Sprint(pm["ParameterKey"])), ParameterValue: aws.String(fmt.Sprint(pm["ParameterValue"]))})
	}
	cfn := cloudformation.NewFromConfig(admin)
	out, err := cfn.UpdateStackSet(ctx, &cloudformation.UpdateStackSetInput{
		StackSetName: aws.String(d.StackSetName),
		TemplateBody: aws.String(fmt.Sprint(props["TemplateBody"])),
		Parameters:   cfParams,
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam},
		CallAs:       d.CallAs,
	})
	if err != nil {
		return fmt.Errorf("update the member-role StackSet: %w", err)
	}
	return emulator.WaitOperation(ctx, admin, d.StackSetName, aws.ToString(out.OperationId), d.CallAs)
}

// removeRoles deletes what holds the roles, as CloudFormation does after the
// custom resource's Delete: the StackSet's instances, the StackSet, the
// nested stack.
func (d *Deployment) removeRoles(ctx context.Context, admin aws.Config) error {
	cfn := cloudformation.NewFromConfig(admin)
	if d.StackSetName != "" {
		instances, err := emulator.ListInstances(ctx, admin, d.StackSetName, d.CallAs)
		if err != nil {
			return err
		}
		var accounts []string
		for _, in := range instances {
			accounts = append(accounts, aws.ToString(in.Account))
		}
		if len(accounts) > 0 {
			out, err := cfn.DeleteStackInstances(ctx, &cloudformation.DeleteStackInstancesInput{
				StackSetName: aws.String(d.StackSetName), Accounts: accounts, Regions: []string{d.Region}, RetainStacks: aws.Bool(false), CallAs: d.CallAs,
			})
			if err != nil {
				return fmt.Errorf("delete the StackSet's instances: %w", err)
			}
			if err := emulator.WaitOperation(ctx, admin, d.StackSetName, aws.ToString(out.OperationId), d.CallAs); err != nil {
				return err
			}
		}
		if _, err := cfn.DeleteStackSet(ctx, &cloudformation.DeleteStackSetInput{StackSetName: aws.String(d.StackSetName), CallAs: d.CallAs}); err != nil {
			return fmt.Errorf("delete the StackSet: %w", err)
		}
	}
	if d.managementStack == "" {
		return nil
	}
	if _, err := cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(d.managementStack)}); err != nil {
		return fmt.Errorf("delete the management role's stack: %w", err)
	}
	return nil
}

func (d *Deployment) physicalName(logicalID string) string {
	return d.StackName + "-" + logicalID + "-" + d.suffix
}

func uuidLike() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func stringAttrs(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
