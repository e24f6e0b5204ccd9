package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/partition"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/verify"
)

// Exit codes besides verify's 0 (verified), 1 (gaps or unreachable), 2
// (finding) and 3 (unverifiable).
const (
	// ExitUsage: the command line is wrong (sysexits EX_USAGE).
	ExitUsage = 64
	// ExitUnavailable: the AWS configuration could not be loaded or the
	// roles could not be discovered (sysexits EX_UNAVAILABLE).
	ExitUnavailable = 69
)

// ExitInfo explains one exit status, for the help text and the docs.
type ExitInfo struct {
	Code    int
	Explain string
}

// ExitCodes lists every exit status of the verify command.
func ExitCodes() []ExitInfo {
	return []ExitInfo{
		{verify.ExitVerified, "Every account verified."},
		{verify.ExitGaps, "Some account has gaps or is unreachable, or there was nothing to verify."},
		{verify.ExitFinding, "Some role can change something (a finding): remove the policy that allows it."},
		{verify.ExitUnverifiable, "No role can be shown to write, but some role is unverifiable: its write safety could not be established (a self-check read was refused, a policy could not be evaluated, the simulator was refused). Fix what the write_safety_unproven diagnosis names."},
		{ExitUsage, "The command line is wrong; the message says what to fix."},
		{ExitUnavailable, "The AWS configuration could not be loaded, or the stack or StackSet could not be read."},
	}
}

// LoadConfig loads the AWS configuration: the default credential chain,
// the named profile and region if not empty, and the standard
// AWS_ENDPOINT_URL variables. Only main calls config.LoadDefaultConfig.
type LoadConfig func(ctx context.Context, profile, region string) (aws.Config, error)

// Env is what the command gets from its process.
type Env struct {
	Args           []string
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	LoadConfig     LoadConfig
	// Version is the build's version, printed by --version.
	Version string
}

// Run runs the verify command and returns its exit status.
func Run(ctx context.Context, env Env) int {
	o, err := parseArgs(env.Args, env.Getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(env.Stdout, usage())
		return verify.ExitVerified
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintf(env.Stdout, "rolecall-verify %s (checks permission set %s, %s)\n", cmp.Or(env.Version, "devel"), permissions.Version, permissions.Digest())
		return verify.ExitVerified
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "rolecall-verify: %v\n", err)
		return ExitUsage
	}
	if o.mode == modePlan {
		if err := printPlan(env.Stdout, o); err != nil {
			fmt.Fprintf(env.Stderr, "rolecall-verify: write output: %v\n", err)
			return ExitUnavailable
		}
		return verify.ExitVerified
	}
	cfg, err := env.LoadConfig(ctx, o.profile, o.region)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rolecall-verify: load AWS configuration: %v\n", err)
		return ExitUnavailable
	}
	if cfg.Region == "" {
		fmt.Fprintln(env.Stderr, "rolecall-verify: no AWS region: pass --region or set AWS_REGION (the region of your onboarding stack)")
		return ExitUsage
	}
	plan, err := discover(ctx, cfg, o)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rolecall-verify: %v\n", err)
		return ExitUnavailable
	}

	assumeWait := o.assumeWait
	if assumeWait == 0 {
		assumeWait = -1 // --assume-wait 0s: one attempt (zero means the default to the engine)
	}
	engine := verify.New(cfg, verify.Options{
		Concurrency:    o.concurrency,
		AccountTimeout: o.timeout,
		AssumeRoleWait: assumeWait,
		Regions:        o.regions,
		// A custom endpoint (a local emulator) has no bucket host names.
		S3PathStyle: cfg.BaseEndpoint != nil || env.Getenv("AWS_ENDPOINT_URL_S3") != "",
	})

	out := newPrinter(env.Stdout, o.json, o.verbose)
	total := len(plan.roles) + len(plan.unverified)
	progress := newProgress(env.Stderr, total)
	var sum verify.Summary
	for _, rep := range plan.unverified {
		sum.Add(rep)
		out.report(rep)
		progress.done(sum)
	}
	s := engine.VerifyAll(ctx, slices.Values(plan.roles), func(rep verify.Report) {
		out.report(rep)
		sum.Add(rep)
		progress.done(sum)
	})
	sum.Duration = s.Duration
	if err := out.finish(sum, plan.title); err != nil {
		fmt.Fprintf(env.Stderr, "rolecall-verify: write output: %v\n", err)
	}
	return sum.ExitCode()
}

// plan is what to verify: roles, and accounts whose role cannot be
// verified (a failed StackSet instance), already reported.
type plan struct {
	title      string
	roles      []verify.Role
	unverified []verify.Report
}

// cfnAPI is the part of *cloudformation.Client discovery uses.
type cfnAPI interface {
	cloudformation.DescribeStacksAPIClient
	cloudformation.ListStackInstancesAPIClient
	DescribeStackSet(context.Context, *cloudformation.DescribeStackSetInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackSetOutput, error)
}

func discover(ctx context.Context, cfg aws.Config, o options) (plan, error) {
	if o.mode == modeRole {
		return plan{
			title: "role " + o.roleARN,
			roles: []verify.Role{{
				RoleARN:    o.roleARN,
				ExternalID: o.externalID,
				Management: o.curBucket != "",
				CURBucket:  o.curBucket,
				CURPrefix:  o.curPrefix,
				Bedrock:    !o.noBedrock,
				LogGroups:  o.logGroups,
				Regions:    o.regions,
			}},
		}, nil
	}
	var api cfnAPI = cloudformation.NewFromConfig(cfg)
	if o.mode == modeStack {
		ob, err := discovery.FromStack(ctx, api, o.stack)
		if err != nil {
			return plan{}, err
		}
		regions := o.regions
		if len(regions) == 0 {
			regions = ob.Regions
		}
		p := plan{title: "onboarding stack " + ob.StackName}
		// The CUR holder: the account CurBucketAccountId names, or the
		// management account, whose role is the stack's own.
		holder := ob.Roles.CURAccount
		if holder == "" {
			holder = ob.ManagementAccountID()
		}
		role := func(arn string, management bool) verify.Role {
			r := verify.Role{
				RoleARN:    arn,
				ExternalID: o.externalID,
				Management: management,
				Bedrock:    ob.Bedrock,
				LogGroups:  ob.LogGroups,
				Regions:    regions,
				Expect:     &verify.Settings{Boundary: ob.Roles.Boundary, Tags: ob.Roles.Tags},
			}
			if account := accountOf(arn); management || account == holder {
				r.CURBucket, r.CURPrefix, r.CURAccountID = ob.Roles.CURBucket, ob.Roles.CURPrefix, holder
				r.CURRegion, r.CURKMSKey = ob.Roles.CURRegion, ob.Roles.CURKMSKey
			}
			return r
		}
		if ob.RoleARN != "" {
			p.roles = append(p.roles, role(ob.RoleARN, true))
		} else {
			// A delegated administrator's stack: the management account's
			// role is its own stack's, verified there.
			p.title += " (delegated administrator: verify the management account's role with --stack in that account)"
		}
		if ob.StackSetID == "" {
			return p, nil
		}
		instances, err := discovery.Instances(ctx, api, ob.StackSetID, ob.CallAs)
		if err != nil {
			return plan{}, err
		}
		addInstances(&p, instances, ob.ManagementAccountID(), func(account string) verify.Role {
			return role(ob.MemberRoleARN(account), false)
		})
		return p, nil
	}

	ss, err := discovery.StackSet(ctx, api, o.stackSet, o.callAs)
	if err != nil {
		return plan{}, err
	}
	instances, err := discovery.Instances(ctx, api, o.stackSet, o.callAs)
	if err != nil {
		return plan{}, err
	}
	part := partition.OfRegion(cfg.Region)
	p := plan{title: "StackSet " + ss.Name}
	addInstances(&p, instances, "", func(account string) verify.Role {
		r := verify.Role{
			RoleARN:    ss.Roles.RoleARN(part, account, o.roleName),
			ExternalID: o.externalID,
			Bedrock:    ss.Bedrock,
			LogGroups:  ss.LogGroups,
			Regions:    o.regions,
			Expect:     &verify.Settings{Boundary: ss.Roles.Boundary, Tags: ss.Roles.Tags},
		}
		// The StackSet names a CUR bucket only for the member account
		// that owns it.
		if ss.Roles.CURBucket != "" && account == ss.Roles.CURAccount {
			r.CURBucket, r.CURPrefix, r.CURAccountID, r.CURKMSKey = ss.Roles.CURBucket, ss.Roles.CURPrefix, account, ss.Roles.CURKMSKey
		}
		return r
	})
	if len(p.roles)+len(p.unverified) == 0 {
		return plan{}, fmt.Errorf("StackSet %s has no instances: nothing to verify (has the onboarding stack finished deploying it?)", o.stackSet)
	}
	return p, nil
}

// addInstances turns StackSet instances into roles to verify, one per
// account; an instance that is not deployed becomes an unverified report
// with CloudFormation's reason.
func addInstances(p *plan, instances []discovery.Instance, skipAccount string, role func(string) verify.Role) {
	for _, in := range discovery.ByAccount(instances) {
		if in.AccountID == skipAccount {
			continue // service-managed StackSets never reach the management account
		}
		r := role(in.AccountID)
		if problem := in.Problem(); problem != "" {
			p.unverified = append(p.unverified, verify.Unverified(in.AccountID, r.RoleARN, verify.Diagnosis{
				Code:    verify.DiagnosisStackInstanceFailed,
				Message: "Not verified: " + problem,
			}))
			continue
		}
		p.roles = append(p.roles, r)
	}
}

// accountOf returns the account of an ARN.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// progress writes a line to stderr as accounts finish, in runs of more
// than one account: every account up to 20, then every 5%.
type progress struct {
	w     io.Writer
	total int
	step  int
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, step: max(1, total/20)}
}

func (p *progress) done(s verify.Summary) {
	if p.total <= 1 || s.Accounts%p.step != 0 && s.Accounts != p.total {
		return
	}
	fmt.Fprintf(p.w, "rolecall-verify: %d of %d accounts done (verified %d, gaps %d, finding %d, unverifiable %d, unreachable %d)\n",
		s.Accounts, p.total, s.Verified, s.Gaps, s.Findings, s.Unverifiable, s.Unreachable)
}
