package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/state"
	"github.com/rolecall/rolecall/internal/verify"
)

// StackInstanceEvent is EventBridge's "CloudFormation StackSet StackInstance
// Status Change" event, the fields the onboarding reads.
type StackInstanceEvent struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	Time       time.Time `json:"time"`
	Detail     struct {
		StackSetARN   string `json:"stack-set-arn"`
		StackID       string `json:"stack-id"`
		Action        string `json:"action"`
		StatusDetails struct {
			Status         string `json:"status"`
			StatusReason   string `json:"status-reason"`
			DetailedStatus string `json:"detailed-status"`
		} `json:"status-details"`
	} `json:"detail"`
}

// IsStackInstanceEvent reports whether raw is a StackSet instance status
// change from EventBridge.
func IsStackInstanceEvent(raw json.RawMessage) bool {
	var probe struct {
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Source == "aws.cloudformation" && probe.DetailType == params.StackInstanceEventType
}

// ParseStackInstanceEvent reads and checks an event.
func ParseStackInstanceEvent(raw json.RawMessage) (StackInstanceEvent, error) {
	var ev StackInstanceEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, fmt.Errorf("stack instance event: %w", err)
	}
	var errs []string
	if ev.ID == "" {
		errs = append(errs, "no id")
	}
	if !strings.Contains(ev.Detail.StackSetARN, ":stackset/") {
		errs = append(errs, fmt.Sprintf("stack-set-arn %q is not a StackSet ARN", clip(ev.Detail.StackSetARN, 120)))
	}
	if a := accountOfARN(ev.Detail.StackID); len(a) != 12 || !isDigits(a) {
		errs = append(errs, fmt.Sprintf("stack-id %q names no account", clip(ev.Detail.StackID, 120)))
	}
	switch ev.Detail.Action {
	case "CREATE", "UPDATE", "DELETE", "DETECT_DRIFT":
	default:
		errs = append(errs, fmt.Sprintf("action %q is not CREATE, UPDATE, DELETE or DETECT_DRIFT", clip(ev.Detail.Action, 40)))
	}
	if len(errs) > 0 {
		return ev, fmt.Errorf("stack instance event: %s", strings.Join(errs, "; "))
	}
	return ev, nil
}

// StackSetName returns the name in the event's StackSet ARN
// ("arn:...:stackset/NAME:UUID").
func (e StackInstanceEvent) StackSetName() string {
	_, rest, _ := strings.Cut(e.Detail.StackSetARN, ":stackset/")
	name, _, _ := strings.Cut(rest, ":")
	return name
}

// HandleStackInstanceEvent verifies the role of an account that joined one
// of the onboarding's OUs and sends account.added, or sends account.removed
// for one that left. Other events are logged and ignored. It returns an
// error, so Lambda retries the event, only when the vendor could not be
// told; the callback's id is the same on a retry.
func (s *Service) HandleStackInstanceEvent(ctx context.Context, raw json.RawMessage) error {
	ev, err := ParseStackInstanceEvent(raw)
	if err != nil {
		s.Logger.WarnContext(ctx, "ignored a malformed StackSet instance event", "error", err)
		return nil
	}
	log := s.Logger.With("eventId", ev.ID, "action", ev.Detail.Action, "detailedStatus", ev.Detail.StatusDetails.DetailedStatus)
	cfg, secret, err := s.configFromStack(ctx)
	if err == nil && s.SettingsErr != nil {
		err = s.SettingsErr
	}
	if err != nil {
		log.ErrorContext(ctx, "cannot handle StackSet instance events", "error", err)
		return err
	}
	if ev.StackSetName() != stackSetName(cfg.StackSet) {
		log.InfoContext(ctx, "ignored an event of another StackSet", "stackSet", ev.StackSetName())
		return nil
	}
	account := accountOfARN(ev.Detail.StackID)
	arn := cfg.RoleARN(partitionOf(s.Settings.StackID), account)
	detailed := ev.Detail.StatusDetails.DetailedStatus

	var event callback.Event
	var acct callback.Account
	switch {
	case ev.Detail.Action == "CREATE" && detailed == "SUCCEEDED":
		event = callback.EventAccountAdded
		out := &outcome{}
		s.Verifier.VerifyAll(ctx, func(yield func(verify.Role) bool) {
			yield(s.role(cfg, account, arn, false, cfg.CURHolder(accountOfARN(s.Settings.StackID))))
		}, out.add)
		if len(out.accounts) != 1 {
			return errors.New("the verification of the new account returned no report")
		}
		acct = out.accounts[0]
	case ev.Detail.Action == "CREATE" && detailed == "FAILED":
		event = callback.EventAccountAdded
		reason := "the StackSet could not create the role in account " + account
		if r := ev.Detail.StatusDetails.StatusReason; r != "" {
			reason += ": " + r
		}
		acct = callback.Account{AccountID: account, RoleARN: arn, Status: callback.StatusUnreachable,
			Diagnoses: []callback.Diagnosis{{Code: "stack_instance_failed", Message: clip(reason, 500)}}}
	case ev.Detail.Action == "DELETE" && detailed == "SUCCEEDED":
		event = callback.EventAccountRemoved
		acct = callback.Account{AccountID: account, RoleARN: arn, Status: callback.StatusUnreachable,
			Diagnoses: []callback.Diagnosis{{Code: "account_removed", Message: "the account left the onboarding's organizational units; its role was deleted"}}}
	default:
		log.InfoContext(ctx, "ignored a StackSet instance event that changes no account")
		return nil
	}
	rec := state.Record{AccountID: account, RoleARN: arn, Status: acct.Status, PermissionSet: permissions.Version, VerifiedAt: s.Now(), Account: acct}
	switch {
	case s.Ledger != nil:
		// Report only what this run is first to record: the stack's own
		// verification or a scheduled run may have recorded (and told the
		// vendor) the same account already.
		var news bool
		var err error
		if event == callback.EventAccountRemoved {
			news, err = s.Ledger.ForgetIf(ctx, account, "")
		} else {
			// A record is what the vendor was told: one already there is
			// left as it is, and a scheduled run reports any difference.
			news, err = s.Ledger.Transition(ctx, "", rec)
		}
		if err != nil {
			// Not recorded, so a scheduled run would report it again:
			// tell the vendor now all the same (its id makes a second
			// report of this event harmless).
			log.ErrorContext(ctx, "the account's verification is not recorded", "error", err)
		} else if !news {
			log.InfoContext(ctx, "the account is already on record as the vendor was told; nothing to report", "account", account, "event", string(event))
			return nil
		}
	case s.State != nil:
		var err error
		if event == callback.EventAccountRemoved {
			err = s.State.Forget(ctx, account)
		} else {
			_, err = s.State.Save(ctx, []state.Record{rec})
		}
		if err != nil {
			log.ErrorContext(ctx, "the account's verification is not recorded", "error", err)
		}
	}
	stackID := s.Settings.StackID
	payload := s.payload(event, stackID, ev.ID, s.organizationOf(ctx), accountOfARN(stackID), cfg, []callback.Account{acct})
	payload.OccurredAt = ev.Time
	vendor := s.deliver(ctx, cfg, secret, ev.ID, payload)
	log.InfoContext(ctx, "StackSet instance event handled", "event", string(event), "account", account, "status", string(acct.Status), "callbackStatus", vendor.Status)
	if !vendor.Delivered && !vendor.Kept {
		// Neither told nor kept: Lambda retries the event, then keeps it
		// in the dead-letter queue.
		return fmt.Errorf("%s for account %s: %s", event, account, vendor.Status)
	}
	return nil
}

// configFromStack builds the onboarding's configuration from the stack's
// own parameters (an instance event carries none) and its secret, with
// the same rules as the custom resource's properties.
func (s *Service) configFromStack(ctx context.Context) (Config, string, error) {
	stackID := s.Settings.StackID
	st, err := s.Stacks.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackID)})
	if err != nil {
		return Config{}, "", fmt.Errorf("read the parameters of stack %s: %w", stackID, err)
	}
	if len(st.Stacks) != 1 {
		return Config{}, "", fmt.Errorf("read the parameters of stack %s: CloudFormation returned %d stacks, want 1", stackID, len(st.Stacks))
	}
	props := map[string]any{}
	for _, p := range st.Stacks[0].Parameters {
		props[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	secretARN := s.Settings.SecretARN
	out, err := s.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return Config{}, "", fmt.Errorf("read the onboarding secret %s: %w", secretARN, err)
	}
	var sec params.Secret
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &sec); err != nil {
		return Config{}, "", fmt.Errorf("the onboarding secret %s is not the JSON the template writes: %w", secretARN, err)
	}
	// The external IDs as the secret holds them; the callback secret is
	// NoEcho, so DescribeStacks masks it, and it is not a property.
	props[params.ExternalID.Name] = sec.ExternalID
	props[params.PreviousExternalID.Name] = sec.PreviousExternalID
	delete(props, params.CallbackSecret.Name)
	props[params.PropStackSetID] = s.Settings.StackSetName
	props[params.PropPermissionSetDigest] = permissions.Digest()
	cfg, err := ParseConfig(props, s.Settings, ParseOptions{DefaultRegion: s.Region})
	if err != nil {
		return Config{}, "", fmt.Errorf("the stack's parameters: %w", err)
	}
	return cfg, sec.CallbackSecret, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
