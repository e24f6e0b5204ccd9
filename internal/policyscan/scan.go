package policyscan

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/cfnyaml"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Role says which rules of the gate a policy answers to.
type Role int

const (
	// Identity policies (of a role, user or group) must be read-only.
	Identity Role = iota
	// FunctionRole is the policy of a Lambda function's own execution
	// role, recognised by its shape (see Scan): it may also have the
	// writes of permissions.FunctionWrites.
	FunctionRole
	// SchedulerRole is the policy of a role only EventBridge Scheduler may
	// assume: it may also have the writes of permissions.SchedulerWrites
	// (invoke one named function).
	SchedulerRole
	// Resource policies (bucket, key, queue, topic, secret, ...) are gated
	// like identity policies in the statements that name a principal who
	// could be the vendor.
	Resource
)

// Policy is one policy document found in a template.
type Policy struct {
	// LogicalID is the resource that carries it.
	LogicalID string
	// Location says where, e.g. "Role (AWS::IAM::Role) policy rolecall-cost".
	Location string
	Role     Role
	Document permissions.Document
}

// Problem is something in a template the gate cannot evaluate: each one
// fails the gate.
type Problem struct {
	LogicalID string
	Message   string
}

func (p Problem) String() string { return p.LogicalID + ": " + p.Message }

// Nested is a template another one points to.
type Nested struct {
	LogicalID string
	// URL is the TemplateURL as written: a local path or an https URL.
	URL string
}

// Result is everything found in one template.
type Result struct {
	Policies []Policy
	Problems []Problem
	Nested   []Nested
}

// Options adjust Scan.
type Options struct {
	// VendorPrincipals are the principals (role ARNs or account IDs) a
	// resource policy is gated for. Empty means every AWS principal: a
	// resource policy statement that names any AWS principal, "*", or one
	// the scan cannot evaluate is gated.
	VendorPrincipals []string
}

// Scan reads a template and returns its policies. A file that is a policy
// document itself (it has a Statement) is returned as one identity policy.
//
// Whatever the gate cannot evaluate is a Problem, never a skip: a policy
// or action built with intrinsic functions at deploy time, a managed
// policy by ARN, SAM policy templates, a nested stack or StackSet whose
// template is not inline or local, a macro transform.
//
// One role is held to other rules: a Lambda function's own execution
// role, recognised by how synth builds it, not by anything written in the
// template about it: an AWS::IAM::Role whose trust policy admits only the
// Lambda service (no AWS principal can assume it) and that a function of
// the same template names as its Role.
func Scan(data []byte, opts Options) (Result, error) {
	tpl, err := cfnyaml.Decode(data)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if _, ok := tpl["Statement"]; ok {
		doc, err := document(tpl, nil)
		if err != nil {
			return Result{}, fmt.Errorf("policy document: %w", err)
		}
		r.Policies = append(r.Policies, Policy{LogicalID: "-", Location: "policy document", Document: doc})
		return r, nil
	}
	resources, ok := tpl["Resources"].(map[string]any)
	if !ok {
		return Result{}, fmt.Errorf("no Resources section: not a CloudFormation template or IAM policy document")
	}
	s := &scanner{res: &r, opts: opts, params: parameters(tpl)}
	s.transforms(tpl["Transform"])
	s.resources("", resources)
	return r, nil
}

type scanner struct {
	res    *Result
	opts   Options
	params map[string]map[string]any
}

func (s *scanner) problem(id, format string, args ...any) {
	s.res.Problems = append(s.res.Problems, Problem{LogicalID: id, Message: fmt.Sprintf(format, args...)})
}

// samTransform is the only transform the gate knows how to read around:
// it expands AWS::Serverless resources, whose policies the scan checks.
const samTransform = "AWS::Serverless-2016-10-31"

func (s *scanner) transforms(v any) {
	for _, t := range branches(v) {
		name, ok := t.(string)
		if !ok || name != samTransform {
			s.problem("Transform", "%s rewrites the template at deploy time; the gate cannot see what it produces (only %s is understood)", strings.Join(render(t), "|"), samTransform)
		}
	}
}

// parameters returns the template's parameter definitions.
func parameters(tpl map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	ps, _ := tpl["Parameters"].(map[string]any)
	for name, p := range ps {
		if m, ok := p.(map[string]any); ok {
			out[name] = m
		}
	}
	return out
}

func (s *scanner) resources(prefix string, resources map[string]any) {
	names := make([]string, 0, len(resources))
	for n := range resources {
		names = append(names, n)
	}
	sort.Strings(names)
	functionRoles := functionRoles(resources)
	for _, name := range names {
		res, _ := resources[name].(map[string]any)
		typ, _ := res["Type"].(string)
		id := prefix + name
		loc := fmt.Sprintf("%s (%s)", id, typ)
		props, _ := res["Properties"].(map[string]any)
		if _, ok := resources[name].(map[string]any); !ok {
			s.problem(id, "the resource is not a mapping")
			continue
		}
		switch typ {
		case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
			role := Identity
			switch {
			case typ == "AWS::IAM::Role" && functionRoles[name] && serviceOnlyTrust(props["AssumeRolePolicyDocument"], "lambda.amazonaws.com"):
				role = FunctionRole
			case typ == "AWS::IAM::Role" && serviceOnlyTrust(props["AssumeRolePolicyDocument"], "scheduler.amazonaws.com"):
				role = SchedulerRole
			}
			for _, p := range branches(props["Policies"]) {
				pm, ok := p.(map[string]any)
				if !ok || intrinsic(p) != "" {
					s.problem(id, "a Policies entry is %s, not a mapping: the gate cannot see what it grants", describe(p))
					continue
				}
				s.add(id, fmt.Sprintf("%s policy %s", loc, strings.Join(render(pm["PolicyName"]), "|")), role, pm["PolicyDocument"])
			}
			for _, arn := range branches(props["ManagedPolicyArns"]) {
				s.problem(id, "managed policy %s is attached; the gate cannot see its contents, so inline the statements instead", strings.Join(render(arn), "|"))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy", "AWS::IAM::GroupPolicy":
			role := Identity
			if attachedOnlyTo(props, functionRoles, resources) {
				role = FunctionRole
			}
			s.add(id, loc, role, props["PolicyDocument"])
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if _, ok := props["Policies"]; ok {
				s.problem(id, "SAM Policies (policy templates or managed policies) cannot be checked; give the function an AWS::IAM::Role instead")
			}
			if _, ok := props["Role"]; !ok {
				s.problem(id, "no Role: SAM would create one with policies the gate cannot see; give the function an AWS::IAM::Role")
			}
		case "AWS::CloudFormation::StackSet":
			s.stackSet(id, props)
		case "AWS::CloudFormation::Stack", "AWS::Serverless::Application":
			s.nested(id, typ, props)
		case "AWS::Lambda::Permission":
			s.lambdaPermission(id, loc, props)
		default:
			s.resourcePolicies(id, loc, props)
		}
	}
}

func (s *scanner) stackSet(id string, props map[string]any) {
	if u, ok := props["TemplateURL"]; ok {
		s.problem(id, "the StackSet's template is given by URL (%s): the gate cannot fetch it; put it inline as TemplateBody", strings.Join(render(u), "|"))
		return
	}
	body, ok := props["TemplateBody"].(string)
	if !ok {
		s.problem(id, "the StackSet's TemplateBody is %s, not an inline template: the gate cannot evaluate what is built at deploy time", describe(props["TemplateBody"]))
		return
	}
	inner, err := cfnyaml.Decode([]byte(body))
	if err != nil {
		s.problem(id, "TemplateBody: %v", err)
		return
	}
	res, ok := inner["Resources"].(map[string]any)
	if !ok {
		s.problem(id, "TemplateBody has no Resources section")
		return
	}
	sub := &scanner{res: s.res, opts: s.opts, params: parameters(inner)}
	sub.transforms(inner["Transform"])
	sub.resources(id+" TemplateBody: ", res)
}

func (s *scanner) nested(id, typ string, props map[string]any) {
	key := "TemplateURL"
	v := props[key]
	if typ == "AWS::Serverless::Application" {
		key = "Location"
		v = props[key]
	}
	u, ok := v.(string)
	if !ok {
		s.problem(id, "the nested stack's %s is %s: the gate cannot evaluate a template chosen at deploy time", key, describe(v))
		return
	}
	s.res.Nested = append(s.res.Nested, Nested{LogicalID: id, URL: u})
}

// lambdaPermission gates a function permission granted to a principal
// who could be the vendor: it lets that principal call the function.
func (s *scanner) lambdaPermission(id, loc string, props map[string]any) {
	var principals []string
	for _, p := range render(props["Principal"]) {
		if !servicePrincipal(p) {
			principals = append(principals, p)
		}
	}
	if !s.couldBeVendor(principals) {
		return
	}
	doc := permissions.Document{Statement: permissions.Statements{{
		Sid: "LambdaPermission", Effect: "Allow", Action: renderAll(props["Action"]), Resource: renderAll(props["FunctionName"]),
	}}}
	s.res.Policies = append(s.res.Policies, Policy{LogicalID: id, Location: loc + " permission", Role: Resource, Document: doc})
}

// resourcePolicies finds the policy documents in any other resource's
// properties (a bucket, key, queue, topic or secret policy, an inline
// table or repository policy, ...) and gates the statements that name a
// principal who could be the vendor. Documents written as JSON strings are
// read too; one built with intrinsics is a problem.
func (s *scanner) resourcePolicies(id, loc string, props map[string]any) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["Statement"]; ok {
				s.resourcePolicy(id, loc+" "+path, x)
				return
			}
			if len(x) == 1 {
				for fn, arg := range x {
					if fn == "Fn::Sub" || fn == "Fn::Join" || fn == "Fn::ToJsonString" {
						if text := strings.Join(render(x), ""); strings.Contains(text, `"Statement"`) {
							s.problem(id, "%s: a policy document built with %s at deploy time cannot be evaluated; write it as a mapping", path, fn)
						}
						_ = arg
						return
					}
				}
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(path+"."+k, "."), x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if strings.Contains(x, `"Statement"`) {
				m, err := cfnyaml.Decode([]byte(x))
				if err != nil {
					s.problem(id, "%s: a policy document that is not JSON: %v", path, err)
					return
				}
				s.resourcePolicy(id, loc+" "+path, m)
			}
		}
	}
	walk("", props)
}

func (s *scanner) resourcePolicy(id, loc string, m map[string]any) {
	doc, err := document(m, s)
	if err != nil {
		s.problem(id, "%s: %v", loc, err)
		return
	}
	var gated permissions.Statements
	for i, st := range branches(m["Statement"]) {
		sm, _ := st.(map[string]any)
		if sm == nil || i >= len(doc.Statement) {
			continue
		}
		if _, ok := sm["NotPrincipal"]; ok {
			gated = append(gated, doc.Statement[i]) // everyone but someone: the vendor too
			continue
		}
		if s.couldBeVendor(awsPrincipals(sm["Principal"])) {
			gated = append(gated, doc.Statement[i])
		}
	}
	if len(gated) > 0 {
		s.res.Policies = append(s.res.Policies, Policy{LogicalID: id, Location: loc, Role: Resource, Document: permissions.Document{Version: doc.Version, Statement: gated}})
	}
}

// awsPrincipals returns the AWS principals a Principal element names, "*"
// for a bare "*", and the rendering of anything else that is not a
// Service or Federated principal.
func awsPrincipals(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case map[string]any:
		var out []string
		for k, val := range x {
			switch k {
			case "Service", "Federated", "CanonicalUser":
			default: // "AWS", or an intrinsic
				if k == "AWS" {
					out = append(out, renderAll(val)...)
				} else {
					out = append(out, render(x)...)
				}
			}
		}
		return out
	}
	return render(v)
}

// servicePrincipal reports whether p names an AWS service, such as
// events.amazonaws.com, rather than an account or identity.
func servicePrincipal(p string) bool {
	return !strings.Contains(p, "${") && (strings.HasSuffix(p, ".amazonaws.com") || strings.HasSuffix(p, ".amazonaws.com.cn"))
}

var accountID = regexp.MustCompile(`(^|:)(\d{12})(:|$)`)

// couldBeVendor reports whether any principal could be the vendor's: "*",
// one of VendorPrincipals or its account, a reference the scan cannot
// evaluate, or, with no VendorPrincipals, any AWS principal at all.
func (s *scanner) couldBeVendor(principals []string) bool {
	for _, p := range principals {
		if p == "*" || strings.Contains(p, "${") || len(s.opts.VendorPrincipals) == 0 {
			return true
		}
		for _, v := range s.opts.VendorPrincipals {
			if p == v || account(p) != "" && account(p) == account(v) {
				return true
			}
		}
	}
	return false
}

func account(s string) string {
	if len(s) == 12 && strings.Trim(s, "0123456789") == "" {
		return s
	}
	if m := accountID.FindStringSubmatch(s); m != nil {
		return m[2]
	}
	return ""
}

func (s *scanner) add(id, loc string, role Role, raw any) {
	m, ok := raw.(map[string]any)
	if !ok || intrinsic(raw) != "" {
		s.problem(id, "%s: the policy document is %s, not a mapping: the gate cannot evaluate a document built at deploy time", loc, describe(raw))
		return
	}
	doc, err := document(m, s)
	if err != nil {
		s.problem(id, "%s: %v", loc, err)
		return
	}
	s.res.Policies = append(s.res.Policies, Policy{LogicalID: id, Location: loc, Role: role, Document: doc})
}

// functionRoles returns the logical IDs of roles a function of the same
// template names as its Role (Fn::GetAtt X.Arn or Ref X).
func functionRoles(resources map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, r := range resources {
		res, _ := r.(map[string]any)
		switch res["Type"] {
		case "AWS::Serverless::Function", "AWS::Lambda::Function":
		default:
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		switch ref := props["Role"].(type) {
		case map[string]any:
			if args, ok := ref["Fn::GetAtt"].([]any); ok && len(args) == 2 && args[1] == "Arn" {
				if id, ok := args[0].(string); ok {
					out[id] = true
				}
			}
			if s, ok := ref["Fn::GetAtt"].(string); ok {
				if id, ok := strings.CutSuffix(s, ".Arn"); ok {
					out[id] = true
				}
			}
			if id, ok := ref["Ref"].(string); ok {
				out[id] = true
			}
		}
	}
	return out
}

// serviceOnlyTrust reports whether a trust policy lets only the
// service assume the role: every statement an Allow of sts:AssumeRole to
// that Service principal, and nothing else.
func serviceOnlyTrust(v any, service string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	statements := branches(m["Statement"])
	if len(statements) == 0 {
		return false
	}
	for _, st := range statements {
		sm, ok := st.(map[string]any)
		if !ok || sm["Effect"] != "Allow" {
			return false
		}
		if _, ok := sm["NotPrincipal"]; ok {
			return false
		}
		p, ok := sm["Principal"].(map[string]any)
		if !ok || len(p) != 1 {
			return false
		}
		services := branches(p["Service"])
		if len(services) == 0 {
			return false
		}
		for _, svc := range services {
			if svc != service {
				return false
			}
		}
	}
	return true
}

// attachedOnlyTo reports whether a policy resource is attached to
// function roles only (its Roles are all function roles, and it has no
// Users or Groups).
func attachedOnlyTo(props map[string]any, functionRoles map[string]bool, resources map[string]any) bool {
	if props["Users"] != nil || props["Groups"] != nil {
		return false
	}
	roles := branches(props["Roles"])
	if r, ok := props["RoleName"]; ok {
		roles = append(roles, r)
	}
	if len(roles) == 0 {
		return false
	}
	for _, r := range roles {
		m, ok := r.(map[string]any)
		if !ok {
			return false
		}
		id, ok := m["Ref"].(string)
		if !ok || !functionRoles[id] {
			return false
		}
		res, _ := resources[id].(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		if !serviceOnlyTrust(props["AssumeRolePolicyDocument"], "lambda.amazonaws.com") {
			return false
		}
	}
	return true
}

// document converts a policy mapping, checking every branch of every
// Fn::If: a statement present in any configuration is checked. Effect and
// actions must be written out; resources may use Ref, Fn::GetAtt,
// Fn::Sub, Fn::Join, Fn::Split, Fn::Select and Fn::If, and a parameter
// they name must not admit a wildcard.
func document(m map[string]any, s *scanner) (permissions.Document, error) {
	var doc permissions.Document
	doc.Version, _ = m["Version"].(string)
	raw := m["Statement"]
	if fn := intrinsic(raw); fn != "" && fn != "Fn::If" {
		return doc, fmt.Errorf("the Statement list is built with %s at deploy time; the gate cannot evaluate it", fn)
	}
	for i, st := range branches(raw) {
		sm, ok := st.(map[string]any)
		if !ok {
			return doc, fmt.Errorf("statement %d is %s, not a mapping", i+1, describe(st))
		}
		var out permissions.DocStatement
		out.Sid = strings.Join(render(sm["Sid"]), "|")
		for _, field := range []string{"Effect", "Action", "NotAction"} {
			if fn := deepIntrinsic(sm[field]); fn != "" {
				return doc, fmt.Errorf("statement %d: %s is built with %s at deploy time; the gate cannot evaluate it: write the values out", i+1, field, fn)
			}
		}
		for _, field := range []string{"Resource", "NotResource", "Condition"} {
			if fn := unsupportedIntrinsic(sm[field]); fn != "" {
				return doc, fmt.Errorf("statement %d: %s uses %s, which the gate cannot evaluate", i+1, field, fn)
			}
		}
		if s != nil {
			for _, field := range []string{"Resource", "NotResource"} {
				if err := s.wildcardParameters(sm[field]); err != nil {
					return doc, fmt.Errorf("statement %d: %s: %w", i+1, field, err)
				}
			}
		}
		effect, _ := sm["Effect"].(string)
		out.Effect = effect
		out.Action = renderAll(sm["Action"])
		out.NotAction = renderAll(sm["NotAction"])
		out.Resource = renderAll(sm["Resource"])
		out.NotResource = renderAll(sm["NotResource"])
		out.Condition = conditions(sm["Condition"])
		doc.Statement = append(doc.Statement, out)
	}
	if len(doc.Statement) == 0 {
		return doc, fmt.Errorf("the policy document has no Statement")
	}
	return doc, nil
}

// conditions renders a statement's Condition block, every branch of an
// Fn::If included (a condition only narrows a statement, so the gate
// reads them only where a narrow condition is what makes a grant
// acceptable).
func conditions(v any) map[string]map[string]permissions.StringList {
	var out map[string]map[string]permissions.StringList
	for _, b := range branches(v) {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		for op, keys := range m {
			km, ok := keys.(map[string]any)
			if !ok {
				continue
			}
			if out == nil {
				out = map[string]map[string]permissions.StringList{}
			}
			if out[op] == nil {
				out[op] = map[string]permissions.StringList{}
			}
			for k, vals := range km {
				out[op][k] = append(out[op][k], renderAll(vals)...)
			}
		}
	}
	return out
}

// wildcardParameters refuses a reference to a template parameter that could
// hold a wildcard: one without AllowedValues, or whose AllowedPattern
// admits "*" or "?".
func (s *scanner) wildcardParameters(v any) error {
	for _, name := range refs(v) {
		p, ok := s.params[name]
		if !ok {
			continue // a resource or a pseudo parameter: one resource's name
		}
		if vals, ok := p["AllowedValues"].([]any); ok {
			for _, val := range vals {
				if strings.ContainsAny(fmt.Sprint(val), "*?") {
					return fmt.Errorf("parameter %s allows the wildcard value %q", name, val)
				}
			}
			continue
		}
		pattern, _ := p["AllowedPattern"].(string)
		if pattern == "" {
			return fmt.Errorf("parameter %s has no AllowedPattern or AllowedValues, so it may hold a wildcard; constrain it", name)
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return fmt.Errorf("parameter %s: AllowedPattern %q is not a pattern the gate can read: %v", name, pattern, err)
		}
		for _, probe := range []string{"*", "?", "a*", "*a", "a*b", "a?", "a/*", "a-*"} {
			if re.MatchString(probe) {
				return fmt.Errorf("parameter %s: AllowedPattern %q admits %q, a wildcard; constrain it", name, pattern, probe)
			}
		}
	}
	return nil
}

// refs returns the names every Ref and every ${Name} of an Fn::Sub in v
// refer to.
func refs(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for fn, arg := range x {
				switch fn {
				case "Ref":
					if s, ok := arg.(string); ok {
						out = append(out, s)
					}
				case "Fn::Sub":
					text := arg
					var vars map[string]any
					if args, ok := arg.([]any); ok && len(args) == 2 {
						text = args[0]
						vars, _ = args[1].(map[string]any)
						walk(args[1])
					}
					if s, ok := text.(string); ok {
						for _, m := range subVar.FindAllStringSubmatch(s, -1) {
							if _, local := vars[m[1]]; !local {
								out = append(out, m[1])
							}
						}
					}
				default:
					walk(arg)
				}
			}
		}
	}
	walk(v)
	return out
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)

// intrinsic returns the function name if v is an intrinsic call.
func intrinsic(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	for fn := range m {
		if fn == "Ref" || strings.HasPrefix(fn, "Fn::") {
			return fn
		}
	}
	return ""
}

// deepIntrinsic returns the first intrinsic other than Fn::If (whose
// branches are checked) in v, or "".
func deepIntrinsic(v any) string {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if fn := deepIntrinsic(e); fn != "" {
				return fn
			}
		}
	case map[string]any:
		fn := intrinsic(x)
		if fn == "Fn::If" {
			args, _ := x[fn].([]any)
			if len(args) == 3 {
				return cmpOr(deepIntrinsic(args[1]), deepIntrinsic(args[2]))
			}
			return fn
		}
		if fn != "" && !isNoValue(x) {
			return fn
		}
		for _, e := range x {
			if f := deepIntrinsic(e); f != "" {
				return f
			}
		}
	}
	return ""
}

// evaluable are the intrinsics render can turn into every value they may
// take.
var evaluable = []string{"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Split", "Fn::Select", "Fn::If"}

func unsupportedIntrinsic(v any) string {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if fn := unsupportedIntrinsic(e); fn != "" {
				return fn
			}
		}
	case map[string]any:
		if fn := intrinsic(x); fn != "" && !slices.Contains(evaluable, fn) {
			return fn
		}
		for _, e := range x {
			if fn := unsupportedIntrinsic(e); fn != "" {
				return fn
			}
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func describe(v any) string {
	if fn := intrinsic(v); fn != "" {
		return "built with " + fn
	}
	switch v.(type) {
	case nil:
		return "missing"
	case string:
		return "a string"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

// branches flattens a list whose elements (or which itself) may be Fn::If,
// dropping AWS::NoValue.
func branches(v any) []any {
	if v == nil {
		return nil
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if args, ok := m["Fn::If"].([]any); ok && len(args) == 3 {
			return append(branches(args[1]), branches(args[2])...)
		}
		if isNoValue(m) {
			return nil
		}
	}
	list, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, e := range list {
		out = append(out, branches(e)...)
	}
	return out
}

func isNoValue(m map[string]any) bool {
	r, ok := m["Ref"].(string)
	return ok && r == "AWS::NoValue"
}

func renderAll(v any) permissions.StringList {
	var out permissions.StringList
	for _, b := range branches(v) {
		out = append(out, render(b)...)
	}
	return out
}

// render returns the strings a value can take, intrinsics written as the
// template reads ("${Param}"); each branch of Fn::If, and each element
// Fn::Select may pick, is a separate value.
func render(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case bool:
		return []string{fmt.Sprint(x)}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, render(e)...)
		}
		return out
	case map[string]any:
		if len(x) != 1 {
			return []string{"${?}"}
		}
		for fn, arg := range x {
			return renderFn(fn, arg)
		}
	}
	return []string{fmt.Sprint(v)}
}

func renderFn(fn string, arg any) []string {
	args, _ := arg.([]any)
	switch fn {
	case "Ref":
		if arg == "AWS::NoValue" {
			return nil
		}
		return []string{"${" + fmt.Sprint(arg) + "}"}
	case "Fn::GetAtt":
		if s, ok := arg.(string); ok {
			return []string{"${" + s + "}"}
		}
		parts := make([]string, 0, len(args))
		for _, a := range args {
			parts = append(parts, fmt.Sprint(a))
		}
		return []string{"${" + strings.Join(parts, ".") + "}"}
	case "Fn::Sub":
		if s, ok := arg.(string); ok {
			return []string{s}
		}
		if len(args) == 2 {
			s, _ := args[0].(string)
			vars, _ := args[1].(map[string]any)
			outs := []string{s}
			for name, val := range vars {
				var next []string
				for _, o := range outs {
					for _, rv := range render(val) {
						next = append(next, strings.ReplaceAll(o, "${"+name+"}", rv))
					}
				}
				outs = next
			}
			return outs
		}
	case "Fn::If":
		if len(args) == 3 {
			return append(render(args[1]), render(args[2])...)
		}
	case "Fn::Join":
		if len(args) == 2 {
			sep, _ := args[0].(string)
			return []string{strings.Join(render(args[1]), sep)}
		}
	case "Fn::Split":
		if len(args) == 2 {
			sep, _ := args[0].(string)
			var out []string
			for _, s := range render(args[1]) {
				for _, e := range strings.Split(s, sep) {
					// Empty elements are the padding idiom (join with
					// commas, split, select); Fn::If keeps them unused.
					if e != "" {
						out = append(out, e)
					}
				}
			}
			return out
		}
	case "Fn::Select":
		if len(args) == 2 {
			// Any element may be picked: every one is a value.
			return render(args[1])
		}
	}
	return []string{"${" + fn + "}"}
}
