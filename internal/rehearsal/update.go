package rehearsal

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
)

// update plays a stack update that changes parameters, as CloudFormation
// runs it: the template is evaluated again; Preflight, whose properties
// changed, checks the new values first (a FAILED answer stops the update,
// which is returned with the error); then the secret, the nested role
// stack and the StackSet follow; the verification runs last. want is the
// verification's expected status.
func (r *rehearsal) update(ctx context.Context, changes map[string]string, want cfn.StatusType) (Response, error) {
	oldVerification, err := r.d.stack.Properties(synth.VerificationLogicalID)
	if err != nil {
		return Response{}, err
	}
	oldPreflight, err := r.d.stack.Properties(synth.PreflightLogicalID)
	if err != nil {
		return Response{}, err
	}
	before := maps.Clone(r.values)
	for k, v := range changes {
		r.values[k] = v
	}
	if err := r.d.reload(r.mgmt, r.values); err != nil {
		r.values = before
		return Response{}, err
	}
	r.stack.SetParameters(r.d.stack.Parameters())
	r.stack.SetStatus("UPDATE_IN_PROGRESS")
	// CloudFormation updates the function's role before the custom
	// resources that need it.
	if err := r.d.updateFunctionRole(ctx, r.d.Admin); err != nil {
		return Response{}, err
	}

	newPreflight, err := r.d.stack.Properties(synth.PreflightLogicalID)
	if err != nil {
		return Response{}, err
	}
	if !reflect.DeepEqual(oldPreflight, newPreflight) {
		ev := r.event(cfn.RequestUpdate, synth.PreflightLogicalID, params.PreflightType, oldPreflight, r.res.Preflight.PhysicalResourceID)
		pre, err := r.cf.send(ctx, ev)
		if err != nil {
			return pre, err
		}
		r.printResponse(synth.PreflightLogicalID, pre, params.DataCURRegion, params.DataAccounts)
		if pre.Status != cfn.StatusSuccess {
			// CloudFormation rolls the update back; nothing else changed.
			r.values = before
			if err := r.d.reload(r.mgmt, r.values); err != nil {
				return pre, err
			}
			r.stack.SetParameters(r.d.stack.Parameters())
			r.stack.SetStatus("UPDATE_ROLLBACK_COMPLETE")
			if err := r.d.updateFunctionRole(ctx, r.d.Admin); err != nil {
				return pre, err
			}
			return pre, fmt.Errorf("%w: %s", errPreflightFailed, pre.Reason)
		}
		if err := r.d.deployStackSetPolicy(ctx, r.d.Admin, pre.Data); err != nil {
			return pre, err
		}
	}

	props, err := r.d.stack.Properties(synth.SecretLogicalID)
	if err != nil {
		return Response{}, err
	}
	if _, err := secretsmanager.NewFromConfig(r.d.Admin).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(r.d.SecretARN), SecretString: aws.String(fmt.Sprint(props["SecretString"])),
	}); err != nil {
		return Response{}, err
	}
	if r.d.managementStack != "" {
		if err := r.d.updateManagementRole(ctx, r.d.Admin, r.role); err != nil {
			return Response{}, err
		}
	}
	if r.d.StackSetName != "" {
		if err := r.d.updateStackSet(ctx, r.d.Admin); err != nil {
			return Response{}, err
		}
	}
	resp, err := r.invoke(ctx, r.event(cfn.RequestUpdate, synth.VerificationLogicalID, params.VerificationType, oldVerification, r.res.Create.PhysicalResourceID), want,
		params.DataVerifiedCount, params.DataVerificationStatus, params.DataCallbackStatus, params.DataUnprocessedEvents)
	if err != nil {
		return resp, err
	}
	if want == cfn.StatusSuccess {
		r.stack.SetStatus("UPDATE_COMPLETE")
	}
	return resp, nil
}

// errPreflightFailed marks an update Preflight refused.
var errPreflightFailed = fmt.Errorf("preflight refused the update")
