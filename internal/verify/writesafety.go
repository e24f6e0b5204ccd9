package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
)

// simulationSource is the Source of findings from the policy simulator.
const simulationSource = "iam:SimulatePrincipalPolicy"

const (
	// simulateBatch is how many actions one SimulatePrincipalPolicy call
	// asks about.
	simulateBatch = 100
	// simulatedWrites is how many write actions the verification asks the
	// simulator about: one call, answered in one page. Its answer is the
	// largest part of an account's CPU (every result is an XML element
	// with its matched statements), so it asks about the
	// permissions-management actions a misreading would cost most on, not
	// about every write: the documents decide those.
	simulatedWrites = 40
	// simulatePage is the largest page SimulatePrincipalPolicy returns.
	simulatePage = 1000
	// maxSimulatedFindings bounds the findings listed from the simulation;
	// one more finding counts the rest. An administrator role would
	// otherwise list every write action of every granted service.
	maxSimulatedFindings = 25
)

// checkWriteSafety reads the role's policies back as the role and puts each
// through the read-only gate, which knows every action of every service:
// the documents decide write safety, at a cost that does not grow with the
// number of AWS services. IAM's policy simulator cross-checks them in one
// call (see simulatedActions). The three parts run at once. Each step is
// recorded as a probe; evidence of write access becomes findings, and
// whatever could not be read, evaluated or simulated becomes Unproven:
// absence of proof is not proof of safety.
func (v *run) checkWriteSafety(ctx context.Context) {
	inline, attached, sim := v.fork(), v.fork(), v.fork()
	var inlineRead, attachedRead bool
	var wg sync.WaitGroup
	wg.Go(func() { inlineRead = inline.readInlinePolicies(ctx) })
	wg.Go(func() { attachedRead = attached.readAttachedPolicies(ctx) })
	wg.Go(func() { sim.simulateWrites(ctx) })
	wg.Wait()
	v.merge(inline)
	v.merge(attached)
	v.merge(sim)
	v.docsRead = inlineRead && attachedRead
}

// gate returns the read-only gate with the role's CUR scope: the management
// role may reach the CUR bucket and prefix, member roles no S3 at all.
func (v *run) gate() permissions.Gate {
	g := permissions.Gate{Data: v.e.dataset()}
	if v.role.CURHolder() {
		g.CUR = permissions.CURScope{Bucket: v.role.CURBucket, Prefix: v.role.CURPrefix}
	}
	return g
}

// step aggregates the calls of one write-safety probe: its outcome is the
// worst of its calls'.
type step struct {
	probe Probe
	calls int
	// read counts the policy documents read and evaluated.
	read int
}

func (v *run) newStep(action string) *step {
	return &step{probe: Probe{Service: "iam", Action: action, Region: v.home, Outcome: OutcomeOK}}
}

// fail records a failed call; the step keeps the first failure's code and
// message, and the worst outcome.
func (s *step) fail(err error, what string) classification {
	s.calls++
	c := classify(err)
	if c.outcome == OutcomeOK {
		return c
	}
	if worse(c.outcome, s.probe.Outcome) {
		s.probe.Outcome = c.outcome
		s.probe.Code = c.code
		s.probe.Message = what + ": " + c.message
	}
	return c
}

// unproven records a part of the proof that could not be made.
func (v *run) unproven(check, target string, c classification) {
	msg := c.message
	if msg == "" {
		msg = string(c.outcome)
	}
	v.rep.Unproven = append(v.rep.Unproven, Unproven{Check: check, Target: target, Code: c.code, Message: clip(msg, 500)})
}

// outcomeRank orders outcomes for aggregation: what a step reports first.
func outcomeRank(o Outcome) int {
	switch o {
	case OutcomeWriteAllowed:
		return 4
	case OutcomeDenied:
		return 3
	case OutcomeError:
		return 2
	case OutcomeNotFound:
		return 1
	}
	return 0
}

func worse(a, b Outcome) bool { return outcomeRank(a) > outcomeRank(b) }

func (v *run) finish(s *step) {
	v.rep.Probes = append(v.rep.Probes, s.probe)
}

// policyRef names a policy read back: its type and its name or ARN.
type policyRef struct {
	typ  string // "inline" or "managed"
	name string
}

func (p policyRef) source() string {
	if p.typ == "inline" {
		return "inline policy " + p.name
	}
	return "attached policy " + p.name
}

// checkPolicy gates one policy document read back from IAM. Every gate
// error is a finding with the statement's evidence, except an action the
// pinned dataset does not know, which cannot be evaluated: unproven.
func (v *run) checkPolicy(s *step, ref policyRef, raw string) {
	source := ref.source()
	doc, err := decodePolicy(raw)
	if err != nil {
		// IAM accepted the document, so it is a policy; one this code
		// cannot read cannot be proven read-only either.
		if worse(OutcomeError, s.probe.Outcome) {
			s.probe.Outcome = OutcomeError
			s.probe.Message = source + ": " + err.Error()
		}
		v.unproven("evaluate", source, classification{outcome: OutcomeError, message: "the document could not be read: " + err.Error()})
		return
	}
	s.read++
	v.docs = append(v.docs, doc)
	for _, f := range v.gate().Check(source, doc) {
		if f.Severity != permissions.Error {
			continue
		}
		if f.Kind.Unevaluable() {
			v.unproven("evaluate", source, classification{outcome: OutcomeError, message: "statement " + f.Statement + ": " + f.Message})
			continue
		}
		detail := f.Message
		if a, ok := v.e.dataset().Lookup(f.Action); ok && a.ReadOnly() && a.Service == "s3" && !v.role.CURHolder() {
			// An S3 read out of scope: perhaps the CUR holder's role,
			// verified without its CUR bucket.
			detail += " (only the role of the account that owns the CUR bucket gets S3 access; if this is that role, give the CUR bucket and prefix)"
		}
		finding := FindingOf(ref.typ, ref.name, f)
		finding.Detail = detail
		v.rep.Findings = append(v.rep.Findings, finding)
		s.probe.Outcome = OutcomeWriteAllowed
		s.probe.Code = ""
		s.probe.Message = source + " fails the read-only gate"
	}
}

// FindingOf turns an error of the read-only gate, about the policy of the
// type ("inline" or "managed") and name (or ARN) given, into a finding with
// the statement's evidence as the policy writes it.
func FindingOf(policyType, policy string, f permissions.Finding) Finding {
	source := "inline policy " + policy
	if policyType == "managed" {
		source = "attached policy " + policy
	}
	return Finding{
		Kind:         string(f.Kind),
		Source:       source,
		PolicyType:   policyType,
		Policy:       policy,
		Statement:    f.Statement,
		Index:        f.Index,
		Effect:       f.Effect,
		Action:       f.Action,
		NotAction:    f.NotAction,
		Patterns:     f.Patterns,
		Resources:    f.Resources,
		WriteActions: f.Matches,
		Examples:     f.Examples,
		Detail:       f.Message,
	}
}

// decodePolicy parses a policy document as IAM returns it: URL-encoded
// JSON. A document that is already plain JSON is taken as it is.
func decodePolicy(raw string) (permissions.Document, error) {
	text := strings.TrimSpace(raw)
	if !strings.HasPrefix(text, "{") {
		decoded, err := url.QueryUnescape(text)
		if err != nil {
			return permissions.Document{}, fmt.Errorf("policy document is not URL-encoded JSON: %w", err)
		}
		text = decoded
	}
	return permissions.ParseDocument([]byte(text))
}

// readInlinePolicies gates the role's inline policies and reports whether
// it read every one.
func (v *run) readInlinePolicies(ctx context.Context) bool {
	c := v.s.iam(v.home)
	list := v.newStep("ListRolePolicies")
	var names []string
	pages := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: aws.String(v.arn.Name)})
	for pages.HasMorePages() {
		var page *iam.ListRolePoliciesOutput
		err := v.do(ctx, func() (err error) { page, err = pages.NextPage(ctx); return err })
		if err != nil {
			v.unproven("iam:ListRolePolicies", "the role's inline policies", list.fail(err, "list inline policies"))
			break
		}
		names = append(names, page.PolicyNames...)
	}
	if list.probe.Outcome == OutcomeOK {
		list.probe.Message = fmt.Sprintf("%d inline policies", len(names))
	}
	v.finish(list)
	if list.probe.Outcome != OutcomeOK {
		return false
	}
	get := v.newStep("GetRolePolicy")
	outs := make([]*iam.GetRolePolicyOutput, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			errs[i] = v.do(ctx, func() error {
				var err error
				outs[i], err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(v.arn.Name), PolicyName: aws.String(name)})
				return err
			})
		})
	}
	wg.Wait()
	for i, name := range names {
		ref := policyRef{typ: "inline", name: name}
		if errs[i] != nil {
			v.unproven("iam:GetRolePolicy", ref.source(), get.fail(errs[i], ref.source()))
			continue
		}
		get.calls++
		v.checkPolicy(get, ref, aws.ToString(outs[i].PolicyDocument))
	}
	if get.probe.Outcome == OutcomeOK {
		get.probe.Message = fmt.Sprintf("%d inline policies pass the read-only gate", len(names))
	}
	if get.calls > 0 {
		v.finish(get)
	}
	return get.read == len(names)
}

// readAttachedPolicies gates the role's attached managed policies and
// reports whether it read every one.
func (v *run) readAttachedPolicies(ctx context.Context) bool {
	c := v.s.iam(v.home)
	list := v.newStep("ListAttachedRolePolicies")
	var arns []string
	pages := iam.NewListAttachedRolePoliciesPaginator(c, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(v.arn.Name)})
	for pages.HasMorePages() {
		var page *iam.ListAttachedRolePoliciesOutput
		err := v.do(ctx, func() (err error) { page, err = pages.NextPage(ctx); return err })
		if err != nil {
			v.unproven("iam:ListAttachedRolePolicies", "the role's attached policies", list.fail(err, "list attached policies"))
			break
		}
		for _, p := range page.AttachedPolicies {
			arns = append(arns, aws.ToString(p.PolicyArn))
		}
	}
	if list.probe.Outcome == OutcomeOK {
		list.probe.Message = fmt.Sprintf("%d attached policies", len(arns))
	}
	v.finish(list)
	if list.probe.Outcome != OutcomeOK {
		return false
	}
	if len(arns) == 0 {
		return true
	}
	// Two probes: GetPolicy finds each policy's default version,
	// GetPolicyVersion reads it; either may be denied on its own.
	meta := v.newStep("GetPolicy")
	get := v.newStep("GetPolicyVersion")
	// Each policy's two reads depend on each other; the policies do not.
	pols := make([]*iam.GetPolicyOutput, len(arns))
	vers := make([]*iam.GetPolicyVersionOutput, len(arns))
	polErrs := make([]error, len(arns))
	verErrs := make([]error, len(arns))
	var wg sync.WaitGroup
	for i, arn := range arns {
		wg.Go(func() {
			polErrs[i] = v.do(ctx, func() error {
				var err error
				pols[i], err = c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
				return err
			})
			if polErrs[i] != nil || pols[i].Policy == nil || pols[i].Policy.DefaultVersionId == nil {
				return
			}
			verErrs[i] = v.do(ctx, func() error {
				var err error
				vers[i], err = c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pols[i].Policy.DefaultVersionId})
				return err
			})
		})
	}
	wg.Wait()
	for i, arn := range arns {
		ref := policyRef{typ: "managed", name: arn}
		if polErrs[i] != nil {
			v.unproven("iam:GetPolicy", ref.source(), meta.fail(polErrs[i], ref.source()))
			continue
		}
		meta.calls++
		if pol := pols[i]; pol.Policy == nil || pol.Policy.DefaultVersionId == nil {
			v.unproven("iam:GetPolicy", ref.source(), meta.fail(errors.New("the answer names no default version"), ref.source()))
			continue
		}
		if verErrs[i] != nil {
			v.unproven("iam:GetPolicyVersion", ref.source(), get.fail(verErrs[i], ref.source()))
			continue
		}
		get.calls++
		ver := vers[i]
		if ver.PolicyVersion == nil {
			v.unproven("iam:GetPolicyVersion", ref.source(), get.fail(errors.New("the answer has no policy version"), ref.source()))
			continue
		}
		v.checkPolicy(get, ref, aws.ToString(ver.PolicyVersion.Document))
	}
	if meta.probe.Outcome == OutcomeOK {
		meta.probe.Message = fmt.Sprintf("%d attached policies found", len(arns))
	}
	if get.probe.Outcome == OutcomeOK {
		get.probe.Message = fmt.Sprintf("%d attached policies pass the read-only gate", len(arns))
	}
	v.finish(meta)
	if get.calls > 0 {
		v.finish(get)
	}
	return get.read == len(arns)
}

// simulatedActions returns the write actions the policy simulator is asked
// about, simulatedWrites of them so that one call answers: the
// documents read back already decide every action of every service, so
// the simulator adds one thing they cannot, IAM's own evaluation, and it
// is spent where a misreading would cost most. Permissions-management
// actions of the granted services come first (they let a role grant
// itself more), IAM's before the others', then Write, then Tagging, each
// in name order: today that is every permissions-management action of the
// granted services and one more. They are
// the same for every role with the same grants, so they are computed
// once.
func (e *Engine) simulatedActions(services []string) []string {
	key := strings.Join(services, ",")
	if a, ok := e.writes.Load(key); ok {
		return a.([]string)
	}
	rank := func(a iamdata.Action) int {
		r := 4
		switch {
		case strings.Contains(a.AccessLevel, iamdata.PermissionsManagement):
			r = 0
		case strings.Contains(a.AccessLevel, iamdata.Write):
			r = 2
		}
		if a.Service != "iam" {
			r++ // IAM's own first: what would let the role rewrite itself
		}
		return r
	}
	var all []iamdata.Action
	for _, s := range services {
		all = append(all, e.dataset().Actions(s, iamdata.IsWrite)...)
	}
	slices.SortFunc(all, func(a, b iamdata.Action) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a.String(), b.String()))
	})
	out := make([]string, 0, min(len(all), simulatedWrites))
	for _, a := range all[:min(len(all), simulatedWrites)] {
		out = append(out, a.String())
	}
	e.writes.Store(key, out)
	return out
}

func (v *run) simulateWrites(ctx context.Context) {
	actions := v.e.simulatedActions(v.granted)
	if len(actions) == 0 {
		return
	}
	sim := v.newStep("SimulatePrincipalPolicy")
	c := v.s.iam(v.home)
	answered := make(map[string]bool, len(actions))
	var allowed []string
	for batch := range slices.Chunk(actions, simulateBatch) {
		var marker *string
		for {
			var out *iam.SimulatePrincipalPolicyOutput
			err := v.do(ctx, func() (err error) {
				out, err = c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
					PolicySourceArn: aws.String(v.rep.RoleARN),
					ActionNames:     batch,
					MaxItems:        aws.Int32(simulatePage),
					Marker:          marker,
				})
				return err
			})
			if err != nil {
				v.unproven("iam:SimulatePrincipalPolicy", "the role", sim.fail(err, "simulate write actions"))
				v.finish(sim)
				return
			}
			sim.calls++
			for _, r := range out.EvaluationResults {
				name := aws.ToString(r.EvalActionName)
				answered[strings.ToLower(name)] = true
				if r.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed {
					allowed = append(allowed, name)
				}
			}
			if !out.IsTruncated || out.Marker == nil {
				break
			}
			marker = out.Marker
		}
	}
	var missing int
	for _, a := range actions {
		if !answered[strings.ToLower(a)] {
			missing++
		}
	}
	switch {
	case len(allowed) > 0:
		sim.probe.Outcome = OutcomeWriteAllowed
		sim.probe.Message = fmt.Sprintf("%d of %d write actions allowed", len(allowed), len(actions))
		for i, a := range allowed {
			if i == maxSimulatedFindings {
				v.rep.Findings = append(v.rep.Findings, Finding{
					Kind:         KindSimulatorAllows,
					Source:       simulationSource,
					PolicyType:   "simulation",
					WriteActions: len(allowed) - i,
					Examples:     allowed[i:min(len(allowed), i+5)],
					Detail:       fmt.Sprintf("and %d more write actions allowed", len(allowed)-i),
				})
				break
			}
			v.rep.Findings = append(v.rep.Findings, Finding{
				Kind:         KindSimulatorAllows,
				Source:       simulationSource,
				PolicyType:   "simulation",
				Action:       a,
				WriteActions: 1,
				Detail:       "IAM's policy simulator says the role may call " + a,
			})
		}
	case missing > 0:
		// Silence about an action is not a denial.
		sim.probe.Outcome = OutcomeError
		sim.probe.Message = fmt.Sprintf("the simulator answered for %d of %d write actions", len(actions)-missing, len(actions))
		v.unproven("iam:SimulatePrincipalPolicy", "the role", classification{outcome: OutcomeError, message: sim.probe.Message})
	default:
		sim.probe.Message = fmt.Sprintf("all %d simulated write actions denied (permissions management first); the documents decide the rest", len(actions))
	}
	v.finish(sim)
}

// grants reports whether any Allow statement of docs names action (or a
// wildcard covering it) on resource (or a wildcard covering it). It ignores
// conditions: it only phrases a diagnosis, it proves nothing.
func grants(docs []permissions.Document, action, resource string) bool {
	for _, d := range docs {
		for _, s := range d.Statement {
			if s.Effect != "Allow" {
				continue
			}
			if !anyMatch(s.Action, strings.ToLower(action), true) {
				continue
			}
			if anyMatch(s.Resource, resource, false) {
				return true
			}
		}
	}
	return false
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		if iamdata.Glob(p, s) {
			return true
		}
	}
	return false
}
