package cfnlocal

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rolecall/rolecall/internal/cfnyaml"
)

// Resource is what a stack's other resources see of one resource: its Ref
// value and its Fn::GetAtt attributes.
type Resource struct {
	Ref   string
	Attrs map[string]string
}

// Stack is a template with everything its intrinsics may refer to.
type Stack struct {
	template   map[string]any
	params     map[string]any // string, or []string for CommaDelimitedList
	pseudo     map[string]string
	resources  map[string]Resource
	conditions map[string]bool
}

// errNoValue marks AWS::NoValue: the enclosing property or list element is
// left out.
var errNoValue = errors.New("AWS::NoValue")

// Load parses a template and binds its parameters: values given (lists as
// comma-separated strings, as a console or CLI passes them), defaults
// otherwise; a parameter with neither is an error, as in CloudFormation.
// Pseudo parameters (AWS::Region, AWS::AccountId, AWS::StackName,
// AWS::StackId; AWS::Partition defaults to aws) and resources are what
// Ref and Fn::GetAtt resolve to.
func Load(data []byte, values map[string]string, pseudo map[string]string, resources map[string]Resource) (*Stack, error) {
	tpl, err := cfnyaml.Decode(data)
	if err != nil {
		return nil, err
	}
	s := &Stack{template: tpl, params: map[string]any{}, pseudo: map[string]string{"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}, resources: resources, conditions: map[string]bool{}}
	for k, v := range pseudo {
		s.pseudo[k] = v
	}
	decls, _ := tpl["Parameters"].(map[string]any)
	for name := range values {
		if _, ok := decls[name]; !ok {
			return nil, fmt.Errorf("parameter %s is not declared by the template", name)
		}
	}
	for name, raw := range decls {
		decl, _ := raw.(map[string]any)
		v, given := values[name]
		if !given {
			d, hasDefault := decl["Default"]
			if !hasDefault {
				return nil, fmt.Errorf("parameter %s has no value and no default", name)
			}
			v = fmt.Sprint(d)
		}
		if given {
			if err := checkConstraints(name, decl, v); err != nil {
				return nil, err
			}
		}
		if decl["Type"] == "CommaDelimitedList" {
			s.params[name] = strings.Split(v, ",")
		} else {
			s.params[name] = v
		}
	}
	conds, _ := tpl["Conditions"].(map[string]any)
	for name := range conds {
		if _, err := s.Condition(name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Parameters returns every parameter's value as DescribeStacks shows it:
// a list comma-joined, a NoEcho value as "****".
func (s *Stack) Parameters() map[string]string {
	decls, _ := s.template["Parameters"].(map[string]any)
	out := make(map[string]string, len(s.params))
	for name, v := range s.params {
		if l, ok := v.([]string); ok {
			out[name] = strings.Join(l, ",")
		} else {
			out[name] = fmt.Sprint(v)
		}
		if decl, _ := decls[name].(map[string]any); decl["NoEcho"] == true || decl["NoEcho"] == "true" {
			out[name] = "****"
		}
	}
	return out
}

// parameterValueQuota is CloudFormation's limit on one parameter value.
const parameterValueQuota = 4096

// checkConstraints refuses a value as CloudFormation does: longer than
// 4,096 bytes, outside AllowedValues, not matching AllowedPattern (the
// whole value of a String, each element of a CommaDelimitedList), or
// outside a String's MinLength and MaxLength. The message is
// CloudFormation's: the parameter and its ConstraintDescription.
func checkConstraints(name string, decl map[string]any, v string) error {
	bad := func() error {
		why, _ := decl["ConstraintDescription"].(string)
		if why == "" {
			why = "the value is not allowed"
		}
		return fmt.Errorf("parameter '%s' failed to satisfy constraint: %s", name, why)
	}
	if len(v) > parameterValueQuota {
		return fmt.Errorf("parameter '%s': the value has %d bytes; CloudFormation allows %d", name, len(v), parameterValueQuota)
	}
	if allowed, ok := decl["AllowedValues"].([]any); ok {
		found := false
		for _, a := range allowed {
			found = found || fmt.Sprint(a) == v
		}
		if !found {
			return bad()
		}
	}
	elements := []string{v}
	list := decl["Type"] == "CommaDelimitedList"
	if list {
		elements = strings.Split(v, ",")
	}
	if pattern, ok := decl["AllowedPattern"].(string); ok {
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return fmt.Errorf("parameter '%s': AllowedPattern %q: %w", name, pattern, err)
		}
		for _, e := range elements {
			if !re.MatchString(e) {
				return bad()
			}
		}
	}
	if !list {
		if n, ok := number(decl["MinLength"]); ok && len(v) < n {
			return bad()
		}
		if n, ok := number(decl["MaxLength"]); ok && len(v) > n {
			return bad()
		}
	}
	return nil
}

func number(v any) (int, bool) {
	switch x := v.(type) {
	case nil:
		return 0, false
	case int:
		return x, true
	case float64:
		return int(x), true
	}
	n, err := strconv.Atoi(fmt.Sprint(v))
	return n, err == nil
}

// SetResource records what Ref and Fn::GetAtt return for a resource once it
// exists, as CloudFormation learns it while it creates a stack in order.
func (s *Stack) SetResource(logicalID string, r Resource) {
	if s.resources == nil {
		s.resources = map[string]Resource{}
	}
	s.resources[logicalID] = r
}

// Condition evaluates a named condition.
func (s *Stack) Condition(name string) (bool, error) {
	if v, ok := s.conditions[name]; ok {
		return v, nil
	}
	conds, _ := s.template["Conditions"].(map[string]any)
	expr, ok := conds[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not defined", name)
	}
	s.conditions[name] = false // breaks cycles
	v, err := s.eval(expr)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is not a boolean: %v", name, v)
	}
	s.conditions[name] = b
	return b, nil
}

// HasResource reports whether a resource exists in the template and its
// Condition, if any, holds.
func (s *Stack) HasResource(logicalID string) (bool, error) {
	res, ok := s.resource(logicalID)
	if !ok {
		return false, nil
	}
	if c, ok := res["Condition"].(string); ok {
		return s.Condition(c)
	}
	return true, nil
}

// Properties returns a resource's properties with every intrinsic
// evaluated.
func (s *Stack) Properties(logicalID string) (map[string]any, error) {
	res, ok := s.resource(logicalID)
	if !ok {
		return nil, fmt.Errorf("resource %s is not in the template", logicalID)
	}
	if ok, err := s.HasResource(logicalID); err != nil || !ok {
		return nil, errors.Join(err, fmt.Errorf("resource %s is not created: its condition is false", logicalID))
	}
	v, err := s.eval(res["Properties"])
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", logicalID, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// Output evaluates an output's value.
func (s *Stack) Output(name string) (any, error) {
	outs, _ := s.template["Outputs"].(map[string]any)
	out, ok := outs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("output %s is not in the template", name)
	}
	return s.eval(out["Value"])
}

// ResourceIDs returns the template's logical resource IDs, sorted.
func (s *Stack) ResourceIDs() ([]string, error) {
	resources, ok := s.template["Resources"].(map[string]any)
	if !ok {
		return nil, errors.New("the template has no Resources section")
	}
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Type returns a resource's type, or "" if the template lacks it.
func (s *Stack) Type(logicalID string) string {
	res, _ := s.resource(logicalID)
	t, _ := res["Type"].(string)
	return t
}

// RawProperties returns a resource's properties as written, intrinsics
// unevaluated.
func (s *Stack) RawProperties(logicalID string) (map[string]any, bool) {
	res, ok := s.resource(logicalID)
	if !ok {
		return nil, false
	}
	m, _ := res["Properties"].(map[string]any)
	return m, true
}

func (s *Stack) resource(id string) (map[string]any, bool) {
	resources, _ := s.template["Resources"].(map[string]any)
	res, ok := resources[id].(map[string]any)
	return res, ok
}

// Eval evaluates any template value.
func (s *Stack) Eval(v any) (any, error) { return s.eval(v) }

func (s *Stack) eval(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			ev, err := s.eval(e)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return s.fn(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := s.eval(e)
			if errors.Is(err, errNoValue) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = ev
		}
		return out, nil
	}
	return v, nil
}

func (s *Stack) fn(name string, arg any) (any, error) {
	switch name {
	case "Ref":
		return s.ref(fmt.Sprint(arg))
	case "Condition":
		return s.Condition(fmt.Sprint(arg))
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			parts = strings.SplitN(a, ".", 2)
		case []any:
			for _, p := range a {
				parts = append(parts, fmt.Sprint(p))
			}
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt %v: want [resource, attribute]", arg)
		}
		r, ok := s.resources[parts[0]]
		if !ok {
			return nil, fmt.Errorf("Fn::GetAtt %s.%s: resource %s has no value here", parts[0], parts[1], parts[0])
		}
		v, ok := r.Attrs[parts[1]]
		if !ok {
			return nil, fmt.Errorf("Fn::GetAtt %s.%s: attribute has no value here", parts[0], parts[1])
		}
		return v, nil
	case "Fn::Sub":
		return s.sub(arg)
	case "Fn::If":
		raw, _ := arg.([]any)
		if len(raw) != 3 {
			return nil, fmt.Errorf("Fn::If: want [condition, then, else]")
		}
		ok, err := s.Condition(fmt.Sprint(raw[0]))
		if err != nil {
			return nil, err
		}
		branch := raw[2]
		if ok {
			branch = raw[1]
		}
		return s.eval(branch)
	}
	args, err := s.eval(arg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	list, _ := args.([]any)
	switch name {
	case "Fn::Join":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Join: want [delimiter, list]")
		}
		items, ok := list[1].([]any)
		if !ok {
			if ss, ok2 := list[1].([]string); ok2 {
				return strings.Join(ss, fmt.Sprint(list[0])), nil
			}
			return nil, fmt.Errorf("Fn::Join: second argument is not a list")
		}
		strs := make([]string, len(items))
		for i, it := range items {
			strs[i] = fmt.Sprint(it)
		}
		return strings.Join(strs, fmt.Sprint(list[0])), nil
	case "Fn::Split":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Split: want [delimiter, string]")
		}
		parts := strings.Split(fmt.Sprint(list[1]), fmt.Sprint(list[0]))
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "Fn::Select":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Select: want [index, list]")
		}
		i, err := strconv.Atoi(fmt.Sprint(list[0]))
		items := toList(list[1])
		if err != nil || i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select: index %v out of range of %d items", list[0], len(items))
		}
		return items[i], nil
	case "Fn::Equals":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Equals: want two values")
		}
		return fmt.Sprint(list[0]) == fmt.Sprint(list[1]), nil
	case "Fn::Not":
		if len(list) != 1 {
			return nil, fmt.Errorf("Fn::Not: want one condition")
		}
		b, ok := list[0].(bool)
		if !ok {
			return nil, fmt.Errorf("Fn::Not: %v is not a condition", list[0])
		}
		return !b, nil
	case "Fn::And", "Fn::Or":
		and := name == "Fn::And"
		result := and
		for _, e := range list {
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: %v is not a condition", name, e)
			}
			if and {
				result = result && b
			} else {
				result = result || b
			}
		}
		return result, nil
	}
	return nil, fmt.Errorf("%s is not supported by the local evaluator", name)
}

func toList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return nil
}

func (s *Stack) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return nil, errNoValue
	}
	if v, ok := s.pseudo[name]; ok {
		return v, nil
	}
	if v, ok := s.params[name]; ok {
		if l, ok := v.([]string); ok {
			return toList(slices.Clone(l)), nil
		}
		return v, nil
	}
	if r, ok := s.resources[name]; ok {
		return r.Ref, nil
	}
	return nil, fmt.Errorf("no parameter, pseudo parameter or resource named %s for Ref", name)
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func (s *Stack) sub(arg any) (any, error) {
	var text string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables]")
		}
		text = fmt.Sprint(a[0])
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			ev, err := s.eval(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = ev
		}
	default:
		return nil, fmt.Errorf("Fn::Sub: want a string or [string, variables]")
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		var v any
		var err error
		if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = s.fn("Fn::GetAtt", []any{res, attr})
		} else {
			v, err = s.ref(name)
		}
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			return m
		}
		if l, ok := v.([]any); ok {
			firstErr = cmpErr(firstErr, fmt.Errorf("Fn::Sub ${%s}: a list cannot be substituted", name))
			return fmt.Sprint(l)
		}
		return fmt.Sprint(v)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return strings.ReplaceAll(out, "${!", "${"), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
