package onboarding

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
)

// Settings are what the template puts in the function's environment: the
// stack the function serves, the vendor's settings (how to reach it and
// sign for it) and the role's name. Nothing in an event overrides them:
// whoever may invoke the function may send any event, but only the
// template decides where reports go and what signs them.
type Settings struct {
	// StackID is the onboarding stack this function belongs to.
	StackID      string
	RoleName     string
	StackSetName string
	SecretARN    string
	CallbackURL  string
	Audience     string
	// StateTable is the DynamoDB table that keeps each account's last
	// verification.
	StateTable string
	// DeadLetterQueueURL is the queue of instance events the function
	// could not process; empty without the event path.
	DeadLetterQueueURL string
}

// The settings are checked at every cold start, so their patterns carry no
// counted repetition ({1,64}): Go's regexp compiler expands one into as many
// copies, hundreds of microseconds of start time for these five. Lengths are
// checked on the submatches instead.
var (
	stackIDPattern   = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:cloudformation:[a-z0-9-]+:[0-9]{12}:stack/([A-Za-z][A-Za-z0-9-]*)/([A-Za-z0-9-]+)$`)
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@-]+$`)
	stackSetPattern  = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*)(?::[a-f0-9-]{36})?$`)
	secretARNPattern = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[\w/+=.@-]+$`)
	tableNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// matches reports whether value matches re with each submatch (and, with no
// submatch, the whole value) at most its maximum length, and the whole value
// at least minLen long.
func matches(re *regexp.Regexp, value string, minLen int, maxLens ...int) bool {
	m := re.FindStringSubmatch(value)
	if m == nil || len(value) < minLen {
		return false
	}
	if len(m) == 1 {
		return len(maxLens) == 1 && len(value) <= maxLens[0]
	}
	for i, max := range maxLens {
		if len(m[i+1]) > max {
			return false
		}
	}
	return true
}

// LoadSettings reads and checks the function's environment. Every problem
// is named; the template sets all of these, so the fix is always to deploy
// the template the vendor published.
func LoadSettings(getenv func(string) string, allowLoopbackHTTP bool) (Settings, error) {
	s := Settings{
		StackID:      getenv(params.EnvStackID),
		RoleName:     getenv(params.EnvRoleName),
		StackSetName: getenv(params.EnvStackSetName),
		SecretARN:    getenv(params.EnvSecretARN),
		CallbackURL:  getenv(params.EnvCallbackURL),
		Audience:     getenv(params.EnvAudience),
		StateTable:   getenv(params.EnvStateTable),
		// Checked where it is used: an SQS queue URL.
		DeadLetterQueueURL: getenv(params.EnvDeadLetters),
	}
	var errs []error
	check := func(name, value string, ok bool, what string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s %q is not %s", name, clip(value, 80), what))
		}
	}
	check(params.EnvStackID, s.StackID, matches(stackIDPattern, s.StackID, 0, 128, 64), "a CloudFormation stack ARN")
	check(params.EnvRoleName, s.RoleName, matches(roleNamePattern, s.RoleName, 1, 64), "an IAM role name")
	check(params.EnvStackSetName, s.StackSetName, matches(stackSetPattern, s.StackSetName, 1, 128), "a StackSet name")
	check(params.EnvSecretARN, s.SecretARN, matches(secretARNPattern, s.SecretARN, 0, 2048), "a Secrets Manager secret ARN")
	check(params.EnvStateTable, s.StateTable, matches(tableNamePattern, s.StateTable, 3, 255), "a DynamoDB table name")
	if err := checkCallbackURL(s.CallbackURL, allowLoopbackHTTP); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", params.EnvCallbackURL, err))
	}
	if s.Audience == "" || strings.ContainsAny(s.Audience, " \t\r\n") {
		errs = append(errs, fmt.Errorf("%s %q is not an audience", params.EnvAudience, clip(s.Audience, 80)))
	}
	if err := joinErrs(errs); err != nil {
		return s, fmt.Errorf("the function's environment is not the one the template sets (%w): deploy the template your vendor published", err)
	}
	return s, nil
}

// checkOrigin refuses an event that is not its own stack's: one whose
// ServiceToken is not the function being invoked, or whose stack is not
// the stack the function belongs to. Anyone with lambda:InvokeFunction
// could otherwise make the function sign a report with the customer's
// secret, or tell the vendor an onboarding is gone.
func (s *Service) checkOrigin(ctx context.Context, req customresource.Request) error {
	token, _ := req.Properties["ServiceToken"].(string)
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.InvokedFunctionArn == "" {
		return customresource.Failf("the function cannot tell which function it is (no Lambda context), so it cannot check that this event comes from its own stack; it answers only events it can check")
	}
	if token != lc.InvokedFunctionArn {
		return customresource.Failf("this event's ServiceToken %q is not this function (%s): the function answers only its own stack's resources", clip(token, 160), lc.InvokedFunctionArn)
	}
	if req.StackID != s.Settings.StackID {
		return customresource.Failf("this event comes from stack %s; this function belongs to %s and answers only its own stack", clip(req.StackID, 200), s.Settings.StackID)
	}
	return nil
}
