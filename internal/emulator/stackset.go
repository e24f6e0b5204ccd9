package emulator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// StackSetSpec describes a service-managed StackSet and where to deploy it.
type StackSetSpec struct {
	// Name names the StackSet: letters, digits and hyphens, starting with
	// a letter.
	Name string
	// TemplateBody is the template, JSON or YAML. A service-managed
	// StackSet takes plain CloudFormation: no transforms.
	TemplateBody string
	// Parameters are the StackSet's parameters, passed to every instance.
	Parameters map[string]string
	// OrganizationalUnitIDs are the OUs (or the root) to deploy into.
	OrganizationalUnitIDs []string
	// Region is the one region to deploy instances in (IAM is global, so
	// one is enough). Empty means the config's region.
	Region string
	// Capabilities default to CAPABILITY_NAMED_IAM.
	Capabilities []cftypes.Capability
	// AccountFilterType (INTERSECTION or DIFFERENCE) and Accounts narrow
	// the OUs' accounts; empty means all of them.
	AccountFilterType cftypes.AccountFilterType
	Accounts          []string
	// CallAs DELEGATED_ADMIN makes a delegated administrator's StackSet,
	// which the management account owns.
	CallAs cftypes.CallAs
	// RetainStacks keeps an account's stack when it leaves the OUs.
	RetainStacks bool
}

// StackSetDeployment is a deployed StackSet.
type StackSetDeployment struct {
	StackSetID string
	// OperationID is the operation that created the instances.
	OperationID string
	// Instances are the StackSet's instances once the operation ended.
	Instances []cftypes.StackInstanceSummary
}

// DeployStackSet plays CloudFormation's part for a service-managed
// StackSet, as the parent stack of a deployment would: it creates the
// StackSet (SERVICE_MANAGED, automatic deployment on), creates its instances
// in spec's OUs in one region, waits for that operation, and lists the
// instances. On error, whatever it created stays.
func DeployStackSet(ctx context.Context, cfg aws.Config, spec StackSetSpec) (*StackSetDeployment, error) {
	id, err := CreateStackSet(ctx, cfg, spec)
	if err != nil {
		return nil, err
	}
	region := spec.Region
	if region == "" {
		region = cfg.Region
	}
	targets := &cftypes.DeploymentTargets{OrganizationalUnitIds: spec.OrganizationalUnitIDs}
	if spec.AccountFilterType != "" && spec.AccountFilterType != cftypes.AccountFilterTypeNone {
		targets.AccountFilterType, targets.Accounts = spec.AccountFilterType, spec.Accounts
	}
	out, err := cloudformation.NewFromConfig(cfg).CreateStackInstances(ctx, &cloudformation.CreateStackInstancesInput{
		StackSetName:      aws.String(spec.Name),
		DeploymentTargets: targets,
		Regions:           []string{region},
		CallAs:            spec.CallAs,
	})
	if err != nil {
		return nil, fmt.Errorf("create instances of stack set %s: %w", spec.Name, err)
	}
	opID := aws.ToString(out.OperationId)
	if err := waitOperation(ctx, cfg, spec.Name, opID, spec.CallAs); err != nil {
		return nil, err
	}
	instances, err := listInstances(ctx, cfg, spec.Name, spec.CallAs)
	if err != nil {
		return nil, err
	}
	return &StackSetDeployment{StackSetID: id, OperationID: opID, Instances: instances}, nil
}

// CreateStackSet creates a service-managed StackSet with automatic
// deployment on (instances follow accounts into and out of target OUs) and
// returns its ID. It creates no instances.
func CreateStackSet(ctx context.Context, cfg aws.Config, spec StackSetSpec) (string, error) {
	caps := spec.Capabilities
	if caps == nil {
		caps = []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam}
	}
	var params []cftypes.Parameter
	for _, k := range slices.Sorted(maps.Keys(spec.Parameters)) {
		params = append(params, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(spec.Parameters[k])})
	}
	out, err := cloudformation.NewFromConfig(cfg).CreateStackSet(ctx, &cloudformation.CreateStackSetInput{
		StackSetName:    aws.String(spec.Name),
		TemplateBody:    aws.String(spec.TemplateBody),
		PermissionModel: cftypes.PermissionModelsServiceManaged,
		AutoDeployment: &cftypes.AutoDeployment{
			Enabled:                      aws.Bool(true),
			RetainStacksOnAccountRemoval: aws.Bool(spec.RetainStacks),
		},
		Capabilities: caps,
		Parameters:   params,
		CallAs:       spec.CallAs,
	})
	if err != nil {
		return "", fmt.Errorf("create stack set %s: %w", spec.Name, err)
	}
	return aws.ToString(out.StackSetId), nil
}

// CreateStackInstances starts deploying a service-managed StackSet into the
// accounts of ouIDs in region, and returns the operation's ID.
func CreateStackInstances(ctx context.Context, cfg aws.Config, stackSetName string, ouIDs []string, region string) (string, error) {
	out, err := cloudformation.NewFromConfig(cfg).CreateStackInstances(ctx, &cloudformation.CreateStackInstancesInput{
		StackSetName:      aws.String(stackSetName),
		DeploymentTargets: &cftypes.DeploymentTargets{OrganizationalUnitIds: ouIDs},
		Regions:           []string{region},
	})
	if err != nil {
		return "", fmt.Errorf("create instances of stack set %s: %w", stackSetName, err)
	}
	return aws.ToString(out.OperationId), nil
}

// WaitStackSetOperation polls a StackSet operation until it ends, for as
// long as ctx allows (five minutes if ctx has no deadline). It returns an
// error unless the operation succeeded.
func WaitStackSetOperation(ctx context.Context, cfg aws.Config, stackSetName, operationID string) error {
	return waitOperation(ctx, cfg, stackSetName, operationID, "")
}

// WaitOperation is WaitStackSetOperation for a StackSet addressed as
// callAs (DELEGATED_ADMIN, or empty for SELF).
func WaitOperation(ctx context.Context, cfg aws.Config, stackSetName, operationID string, callAs cftypes.CallAs) error {
	return waitOperation(ctx, cfg, stackSetName, operationID, callAs)
}

func waitOperation(ctx context.Context, cfg aws.Config, stackSetName, operationID string, callAs cftypes.CallAs) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	client := cloudformation.NewFromConfig(cfg)
	for delay := 25 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		out, err := client.DescribeStackSetOperation(ctx, &cloudformation.DescribeStackSetOperationInput{
			StackSetName: aws.String(stackSetName),
			OperationId:  aws.String(operationID),
			CallAs:       callAs,
		})
		if err != nil {
			return fmt.Errorf("stack set %s operation %s: %w", stackSetName, operationID, err)
		}
		switch op := out.StackSetOperation; op.Status {
		case cftypes.StackSetOperationStatusSucceeded:
			return nil
		case cftypes.StackSetOperationStatusFailed, cftypes.StackSetOperationStatusStopped:
			return fmt.Errorf("stack set %s operation %s: %s: %s", stackSetName, operationID, op.Status, aws.ToString(op.StatusReason))
		}
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("stack set %s operation %s: still running: %w", stackSetName, operationID, err)
		}
	}
}

// ListStackInstances returns every instance of a StackSet, following
// pagination.
func ListStackInstances(ctx context.Context, cfg aws.Config, stackSetName string) ([]cftypes.StackInstanceSummary, error) {
	return listInstances(ctx, cfg, stackSetName, "")
}

// ListInstances is ListStackInstances for a StackSet addressed as callAs.
func ListInstances(ctx context.Context, cfg aws.Config, stackSetName string, callAs cftypes.CallAs) ([]cftypes.StackInstanceSummary, error) {
	return listInstances(ctx, cfg, stackSetName, callAs)
}

func listInstances(ctx context.Context, cfg aws.Config, stackSetName string, callAs cftypes.CallAs) ([]cftypes.StackInstanceSummary, error) {
	var instances []cftypes.StackInstanceSummary
	pages := cloudformation.NewListStackInstancesPaginator(cloudformation.NewFromConfig(cfg), &cloudformation.ListStackInstancesInput{
		StackSetName: aws.String(stackSetName),
		CallAs:       callAs,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list instances of stack set %s: %w", stackSetName, err)
		}
		instances = append(instances, page.Summaries...)
	}
	return instances, nil
}
