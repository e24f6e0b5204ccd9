package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/verify"
)

// EnvExternalID is the environment variable the external ID may come from,
// which keeps it out of shell history.
const EnvExternalID = "ROLECALL_EXTERNAL_ID"

// mode is what the command verifies.
type mode int

const (
	modeRole     mode = iota + 1 // one role, --role-arn
	modeStack                    // every role of an onboarding stack, --stack
	modeStackSet                 // every member role of a StackSet, --stack-set
	modePlan                     // what verifying N accounts costs, --plan
)

// options are the parsed and validated command line.
type options struct {
	mode       mode
	roleARN    string
	externalID string
	regions    []string
	curBucket  string
	curPrefix  string
	noBedrock  bool
	logGroups  []string
	stack      string
	stackSet   string
	// plan is the number of accounts --plan prices; schedule the rate
	// whose monthly runs it adds up.
	plan     int
	schedule string
	roleName string
	callAs   cftypes.CallAs

	profile string
	region  string

	json        bool
	verbose     bool
	concurrency int
	timeout     time.Duration
	assumeWait  time.Duration
	help        bool
	version     bool
}

// errHelp is returned by parseArgs for -h and --help; errVersion for
// --version.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// parseArgs reads and checks the command line. Every error says what is
// wrong and what to do; none shows the external ID.
func parseArgs(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("rolecall-verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var regions, logGroups, callAs string
	fs.StringVar(&o.roleARN, "role-arn", "", "")
	fs.StringVar(&o.externalID, "external-id", "", "")
	fs.StringVar(&regions, "regions", "", "")
	fs.StringVar(&o.curBucket, "cur-bucket", "", "")
	fs.StringVar(&o.curPrefix, "cur-prefix", "", "")
	fs.BoolVar(&o.noBedrock, "no-bedrock", false, "")
	fs.StringVar(&logGroups, "log-groups", "", "")
	fs.StringVar(&o.stack, "stack", "", "")
	fs.StringVar(&o.stackSet, "stack-set", "", "")
	fs.IntVar(&o.plan, "plan", 0, "")
	fs.StringVar(&o.schedule, "schedule", params.VerificationSchedule.Default, "")
	fs.StringVar(&o.roleName, "role-name", "", "")
	fs.StringVar(&callAs, "call-as", "", "")
	fs.StringVar(&o.profile, "profile", "", "")
	fs.StringVar(&o.region, "region", "", "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.BoolVar(&o.verbose, "verbose", false, "")
	fs.IntVar(&o.concurrency, "concurrency", verify.DefaultConcurrency, "")
	fs.DurationVar(&o.timeout, "timeout", verify.DefaultAccountTimeout, "")
	fs.DurationVar(&o.assumeWait, "assume-wait", verify.DefaultAssumeRoleWait, "")
	fs.BoolVar(&o.help, "help", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, fmt.Errorf("%w; run rolecall-verify --help for the flags", err)
	}
	if o.version {
		return o, errVersion
	}
	if o.help {
		return o, errHelp
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: every input is a flag; run rolecall-verify --help", clip(fs.Arg(0), 40))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if set["plan"] {
		return parsePlan(o, set, regions, logGroups)
	}
	if set["schedule"] {
		return o, errors.New("--schedule goes with --plan: it says how often the scheduled re-verification runs")
	}
	switch n := btoi(set["role-arn"]) + btoi(set["stack"]) + btoi(set["stack-set"]); {
	case n == 0:
		return o, errors.New("say what to verify: --role-arn ARN for one role, --stack NAME for every role of an onboarding stack, or --stack-set NAME for every member account's role (or --plan N for what verifying N accounts costs)")
	case n > 1:
		return o, errors.New("--role-arn, --stack and --stack-set are alternatives: give exactly one")
	case set["role-arn"]:
		o.mode = modeRole
	case set["stack"]:
		o.mode = modeStack
	default:
		o.mode = modeStackSet
	}

	if !set["external-id"] {
		o.externalID = getenv(EnvExternalID)
	}
	if o.externalID == "" {
		return o, fmt.Errorf("the external ID is missing: set %s (keeps it out of your shell history) or pass --external-id, with the value your vendor gave you", EnvExternalID)
	}
	if err := params.ExternalID.Validate(o.externalID); err != nil {
		return o, fmt.Errorf("external ID: %w", err)
	}

	var err error
	if o.regions, err = splitFlag("regions", regions, params.InventoryRegions); err != nil {
		return o, err
	}
	if o.logGroups, err = splitFlag("log-groups", logGroups, params.LogGroupNames); err != nil {
		return o, err
	}

	switch o.mode {
	case modeRole:
		if _, err := verify.ParseRoleARN(o.roleARN); err != nil {
			return o, fmt.Errorf("--role-arn: %w", err)
		}
		if err := rejectFlags(set, "with --role-arn", "role-name", "call-as"); err != nil {
			return o, err
		}
		if o.curPrefix != "" && o.curBucket == "" {
			return o, errors.New("--cur-prefix needs --cur-bucket: give the CUR bucket of the management account's role")
		}
		if o.curBucket != "" {
			if err := params.CURBucketName.Validate(o.curBucket); err != nil {
				return o, fmt.Errorf("--cur-bucket: %w", err)
			}
			if err := params.CURReportPrefix.Validate(o.curPrefix); err != nil {
				return o, fmt.Errorf("--cur-prefix: %w", err)
			}
		}
	case modeStack:
		if err := validName("--stack", o.stack, 128); err != nil {
			return o, err
		}
		if err := rejectFlags(set, "with --stack: they come from the stack's parameters", "cur-bucket", "cur-prefix", "no-bedrock", "log-groups", "role-name", "call-as"); err != nil {
			return o, err
		}
	case modeStackSet:
		if err := validName("--stack-set", o.stackSet, 128); err != nil {
			return o, err
		}
		if err := rejectFlags(set, "with --stack-set: member roles have no CUR access, and Bedrock and log groups come from the StackSet's parameters", "cur-bucket", "cur-prefix", "no-bedrock", "log-groups"); err != nil {
			return o, err
		}
		if o.roleName == "" {
			return o, errors.New("--stack-set needs --role-name: the name of the role in every account, such as the end of the onboarding stack's RoleArn output (or use --stack)")
		}
		if _, err := verify.ParseRoleARN("arn:aws:iam::123456789012:role/" + o.roleName); err != nil {
			return o, fmt.Errorf("--role-name %q is not a role name: use 1 to 64 letters, digits and +=,.@_-", clip(o.roleName, 70))
		}
		switch cftypes.CallAs(callAs) {
		case "", cftypes.CallAsSelf, cftypes.CallAsDelegatedAdmin:
			o.callAs = cftypes.CallAs(callAs)
		default:
			return o, fmt.Errorf("--call-as %q is not allowed: use SELF in the management account or DELEGATED_ADMIN in a delegated administrator account", clip(callAs, 40))
		}
	}

	if o.concurrency < 1 || o.concurrency > 256 {
		return o, fmt.Errorf("--concurrency %d is out of range: use 1 to 256", o.concurrency)
	}
	if o.timeout < time.Second || o.timeout > time.Hour {
		return o, fmt.Errorf("--timeout %s is out of range: use 1s to 1h per account", o.timeout)
	}
	if o.assumeWait < 0 || o.assumeWait > o.timeout {
		return o, fmt.Errorf("--assume-wait %s is out of range: use 0s up to --timeout (%s)", o.assumeWait, o.timeout)
	}
	if o.region != "" && !regionPattern(o.region) {
		return o, fmt.Errorf("--region %q is not a region name such as us-east-1", clip(o.region, 40))
	}
	if len(o.profile) > 128 || strings.ContainsAny(o.profile, " \t\n[]") {
		return o, fmt.Errorf("--profile %q is not a profile name from your AWS config", clip(o.profile, 40))
	}
	return o, nil
}

// splitFlag splits a comma-separated flag value and checks each element
// with the parameter's rule.
func splitFlag(name, value string, p params.Param) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	items := strings.Split(value, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	if err := p.ValidateList(items); err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return items, nil
}

func rejectFlags(set map[string]bool, why string, names ...string) error {
	for _, n := range names {
		if set[n] {
			return fmt.Errorf("--%s cannot be used %s", n, why)
		}
	}
	return nil
}

// validName checks a stack or StackSet name: a letter, then letters,
// digits and hyphens. A StackSet ID (name:uuid) is accepted too.
func validName(flagName, s string, limit int) error {
	name, id, hasID := strings.Cut(s, ":")
	ok := name != "" && len(s) <= limit && isLetter(name[0])
	for _, c := range name {
		ok = ok && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-')
	}
	if hasID {
		for _, c := range id {
			ok = ok && ('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == '-')
		}
		ok = ok && id != ""
	}
	if !ok {
		return fmt.Errorf("%s %q is not a CloudFormation name: use a letter followed by letters, digits and hyphens (up to %d)", flagName, clip(s, 60), limit)
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func regionPattern(s string) bool {
	return params.InventoryRegions.ValidateList([]string{s}) == nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// maxPlanAccounts is the largest organization --plan prices: AWS
// Organizations' default quota is 10 accounts, raised on request up to
// the thousands; 100,000 is well beyond any.
const maxPlanAccounts = 100000

// parsePlan checks the flags of --plan N: the role settings that change
// what a verification calls, and the schedule; nothing that reaches AWS.
func parsePlan(o options, set map[string]bool, regions, logGroups string) (options, error) {
	o.mode = modePlan
	if o.plan < 1 || o.plan > maxPlanAccounts {
		return o, fmt.Errorf("--plan %d is out of range: give the number of accounts in the organization, the management account included (1 to %d)", o.plan, maxPlanAccounts)
	}
	if err := rejectFlags(set, "with --plan: it prices a verification, it makes none", "role-arn", "stack", "stack-set", "external-id", "cur-bucket", "cur-prefix", "role-name", "call-as", "profile", "region", "concurrency", "timeout", "assume-wait"); err != nil {
		return o, err
	}
	if err := params.VerificationSchedule.Validate(o.schedule); err != nil {
		return o, fmt.Errorf("--schedule: %w", err)
	}
	var err error
	if o.regions, err = splitFlag("regions", regions, params.InventoryRegions); err != nil {
		return o, err
	}
	if o.logGroups, err = splitFlag("log-groups", logGroups, params.LogGroupNames); err != nil {
		return o, err
	}
	return o, nil
}
