package policyscan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/cfnyaml"
	"github.com/rolecall/rolecall/internal/permissions"
)

// ExemptMetadataKey marks a resource the gate skips; its value is the
// reason, shown to whoever runs the gate. The synth package writes it on
// the onboarding function's own execution role only.
const ExemptMetadataKey = "RolecallReadOnlyGate"

// Policy is one policy document found in a template.
type Policy struct {
	// Location says where, e.g. "Role (AWS::IAM::Role) policy rolecall-cost".
	Location string
	Document permissions.Document
}

// Skipped is a resource the scan did not check, with the template's reason.
type Skipped struct {
	Location string
	Reason   string
}

// Result is everything found in one template.
type Result struct {
	Policies []Policy
	Skipped  []Skipped
	// Problems are policy-bearing things the gate cannot check (a managed
	// policy ARN, a SAM policy template, an unreadable document); each fails
	// the gate.
	Problems []string
	// Nested are local TemplateURL paths of nested stacks, as written.
	Nested []string
}

// Scan reads a template and returns its policies. A file that is a policy
// document itself (it has a Statement) is returned as one policy.
func Scan(data []byte) (Result, error) {
	tpl, err := cfnyaml.Decode(data)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if _, ok := tpl["Statement"]; ok {
		doc, err := document(tpl)
		if err != nil {
			return Result{}, fmt.Errorf("policy document: %w", err)
		}
		r.Policies = append(r.Policies, Policy{Location: "policy document", Document: doc})
		return r, nil
	}
	resources, ok := tpl["Resources"].(map[string]any)
	if !ok {
		return Result{}, fmt.Errorf("no Resources section: not a CloudFormation template or IAM policy document")
	}
	scanResources(&r, "", resources)
	return r, nil
}

func scanResources(r *Result, prefix string, resources map[string]any) {
	names := make([]string, 0, len(resources))
	for n := range resources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		res, _ := resources[name].(map[string]any)
		typ, _ := res["Type"].(string)
		loc := fmt.Sprintf("%s%s (%s)", prefix, name, typ)
		props, _ := res["Properties"].(map[string]any)
		if meta, ok := res["Metadata"].(map[string]any); ok {
			if why, ok := meta[ExemptMetadataKey].(string); ok && strings.HasPrefix(why, "exempt") {
				r.Skipped = append(r.Skipped, Skipped{Location: loc, Reason: why})
				continue
			}
		}
		switch typ {
		case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
			for _, p := range branches(props["Policies"]) {
				pm, _ := p.(map[string]any)
				pname := render(pm["PolicyName"])
				r.add(fmt.Sprintf("%s policy %s", loc, strings.Join(pname, "|")), pm["PolicyDocument"])
			}
			for _, arn := range branches(props["ManagedPolicyArns"]) {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: managed policy %s is attached; the gate cannot see its contents, so inline the statements instead", loc, strings.Join(render(arn), "|")))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::IAM::UserPolicy", "AWS::IAM::GroupPolicy":
			r.add(loc, props["PolicyDocument"])
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if _, ok := props["Policies"]; ok {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: SAM Policies (policy templates or managed policies) cannot be checked; give the function an AWS::IAM::Role instead", loc))
			}
		case "AWS::CloudFormation::StackSet":
			body, ok := props["TemplateBody"].(string)
			if !ok {
				continue
			}
			inner, err := cfnyaml.Decode([]byte(body))
			if err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: TemplateBody: %v", loc, err))
				continue
			}
			if res, ok := inner["Resources"].(map[string]any); ok {
				scanResources(r, loc+" TemplateBody: ", res)
			}
		case "AWS::CloudFormation::Stack":
			if u, ok := props["TemplateURL"].(string); ok && !strings.Contains(u, "://") {
				r.Nested = append(r.Nested, u)
			}
		}
	}
}

func (r *Result) add(loc string, raw any) {
	m, ok := raw.(map[string]any)
	if !ok {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: the policy document is not a mapping", loc))
		return
	}
	doc, err := document(m)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", loc, err))
		return
	}
	r.Policies = append(r.Policies, Policy{Location: loc, Document: doc})
}

// document converts a policy mapping, checking every branch of every
// Fn::If: a statement present in any configuration is checked.
func document(m map[string]any) (permissions.Document, error) {
	var doc permissions.Document
	doc.Version, _ = m["Version"].(string)
	for _, raw := range branches(m["Statement"]) {
		sm, ok := raw.(map[string]any)
		if !ok {
			return doc, fmt.Errorf("a statement is not a mapping")
		}
		var st permissions.DocStatement
		st.Sid = strings.Join(render(sm["Sid"]), "|")
		st.Effect = strings.Join(render(sm["Effect"]), "|")
		st.Action = renderAll(sm["Action"])
		st.NotAction = renderAll(sm["NotAction"])
		st.Resource = renderAll(sm["Resource"])
		st.NotResource = renderAll(sm["NotResource"])
		doc.Statement = append(doc.Statement, st)
	}
	if len(doc.Statement) == 0 {
		return doc, fmt.Errorf("the policy document has no Statement")
	}
	return doc, nil
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
// template reads ("${Param}"); each branch of Fn::If is a separate value.
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
				out = append(out, strings.Split(s, sep)...)
			}
			return out
		}
	}
	return []string{"${" + fn + "}"}
}
