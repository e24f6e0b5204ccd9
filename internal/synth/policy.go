package synth

import (
	"fmt"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Condition names of the role template.
const (
	condHasPreviousExternalID = "HasPreviousExternalId"
	condHasAdditional         = "HasAdditionalVerifiers"
	condBedrock               = "BedrockEnabled"
	condHasCURBucket          = "HasCurBucket"
)

func condHasLogGroup(i int) string { return fmt.Sprintf("HasLogGroup%d", i+1) }

var noValue = cloudformation.Ref("AWS::NoValue")

// catalogToTemplate maps the catalog's placeholders to template references.
func catalogToTemplate(roleName string) *strings.Replacer {
	return strings.NewReplacer(
		permissions.VarPartition, "${AWS::Partition}",
		permissions.VarAccountID, "${AWS::AccountId}",
		permissions.VarRoleName, roleName,
		permissions.VarCURBucket, "${"+params.CURBucketName.Name+"}",
		permissions.VarCURPrefix, "${"+params.CURReportPrefix.Name+"}",
	)
}

// logGroupName returns the i-th name of LogGroupNames. The list is padded
// with empty names so Fn::Select never runs past its end.
func logGroupName(i int) string {
	padded := cloudformation.Split(",", cloudformation.Join(",", []string{
		cloudformation.Join(",", cloudformation.Ref(params.LogGroupNames.Name)),
		strings.Repeat(",", params.MaxLogGroups-1),
	}))
	return cloudformation.Select(i, padded)
}

// resources turns a statement's resource patterns into template values.
func resources(s permissions.Statement, r *strings.Replacer) []any {
	var out []any
	for _, pattern := range s.Resources {
		if strings.Contains(pattern, permissions.VarLogGroup) {
			// CloudFormation cannot map a prefix over a list without a
			// transform (and StackSets refuse transforms), so each of the
			// allowed names gets its own exact ARN, present only when given.
			// The statement itself exists only when the first name is given.
			arn := r.Replace(strings.ReplaceAll(pattern, permissions.VarLogGroup, "${LogGroupName}"))
			for i := range params.MaxLogGroups {
				res := cloudformation.SubVars(arn, map[string]any{"LogGroupName": logGroupName(i)})
				if i == 0 {
					out = append(out, res)
					continue
				}
				out = append(out, cloudformation.If(condHasLogGroup(i), res, noValue))
			}
			continue
		}
		if strings.Contains(pattern, "${") {
			out = append(out, cloudformation.Sub(r.Replace(pattern)))
			continue
		}
		out = append(out, pattern)
	}
	return out
}

// statementCondition returns the template condition a catalog statement
// depends on, or "" when it is always granted.
func statementCondition(s permissions.Statement) string {
	switch {
	case s.ManagementOnly:
		return condHasCURBucket
	case s.PerLogGroup():
		// Names are validated non-empty, so if any is given the first is.
		return condHasLogGroup(0)
	}
	return ""
}

// modulePolicies renders the catalog as the role's inline policies, one per
// module; optional modules and conditional statements are wrapped in Fn::If.
func modulePolicies(roleName string) []any {
	r := catalogToTemplate(roleName)
	var out []any
	for _, m := range permissions.Modules() {
		var statements []any
		for _, s := range m.Statements {
			st := map[string]any{
				"Sid":      s.Sid,
				"Effect":   "Allow",
				"Action":   s.Actions,
				"Resource": resources(s, r),
			}
			if c := statementCondition(s); c != "" {
				statements = append(statements, cloudformation.If(c, st, noValue))
			} else {
				statements = append(statements, st)
			}
		}
		policy := map[string]any{
			"PolicyName": m.PolicyName(),
			"PolicyDocument": map[string]any{
				"Version":   "2012-10-17",
				"Statement": statements,
			},
		}
		if m.Optional {
			if m.ID != permissions.ModuleBedrock {
				panic("synth: optional module " + m.ID + " has no template condition")
			}
			out = append(out, cloudformation.If(condBedrock, policy, noValue))
			continue
		}
		out = append(out, policy)
	}
	return out
}

// trustPolicy lets the vendor principal, the onboarding function's role and
// the customer's extra verifiers assume the role, all under the external
// ID condition, so verification exercises the very trust the vendor uses.
func trustPolicy(vendorPrincipal string) map[string]any {
	base := []string{vendorPrincipal, cloudformation.Ref(paramVerifierRoleARN)}
	withExtra := cloudformation.Split(",", cloudformation.Join(",", []string{
		vendorPrincipal,
		cloudformation.Ref(paramVerifierRoleARN),
		cloudformation.Join(",", cloudformation.Ref(params.AdditionalVerifierPrincipalARNs.Name)),
	}))
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "VendorAndVerifiersWithExternalId",
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": cloudformation.If(condHasAdditional, withExtra, base)},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{
				"StringEquals": map[string]any{
					"sts:ExternalId": cloudformation.If(condHasPreviousExternalID,
						[]string{cloudformation.Ref(params.ExternalID.Name), cloudformation.Ref(params.PreviousExternalID.Name)},
						cloudformation.Ref(params.ExternalID.Name)),
				},
			},
		}},
	}
}
