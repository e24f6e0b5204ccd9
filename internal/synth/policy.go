package synth

import (
	"fmt"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/tags"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Condition names of the role template.
const (
	condHasPreviousExternalID = "HasPreviousExternalId"
	condHasAdditional         = "HasAdditionalVerifiers"
	condBedrock               = "BedrockEnabled"
	condHasCURBucket          = "HoldsCurBucket"
	condHasCURPrefix          = "HasCurReportPrefix"
	condHasKMSKey             = "HasCurKmsKey"
	condHasBoundary           = "HasPermissionsBoundary"
)

func condHasTag(i int) string { return fmt.Sprintf("HasTag%d", i+1) }

// tagEntry returns the i-th entry of ResourceTags, padded like
// logGroupName.
func tagEntry(i int) string {
	padded := cloudformation.Split(",", cloudformation.Join(",", []string{
		cloudformation.Join(",", cloudformation.Ref(params.ResourceTags.Name)),
		strings.Repeat(",", params.MaxTags-1),
	}))
	return cloudformation.Select(i, padded)
}

// addTagConditions adds HasTag1..HasTagN: whether the i-th tag is given.
func addTagConditions(t *cloudformation.Template) {
	for i := range params.MaxTags {
		t.Conditions[condHasTag(i)] = notEmpty(tagEntry(i))
	}
}

// stackTagList is the Tags value of a management-stack resource: the
// fixed tags, then each Key=Value of ResourceTags, an absent one left out
// with AWS::NoValue. (The role template spells out the lists instead, as
// the emulator's CloudFormation keeps AWS::NoValue inside a list.)
func stackTagList(fixed []tags.Tag) []any {
	var out []any
	for _, f := range fixed {
		out = append(out, map[string]any{"Key": f.Key, "Value": f.Value})
	}
	for i := range params.MaxTags {
		kv := cloudformation.Split("=", tagEntry(i))
		out = append(out, cloudformation.If(condHasTag(i),
			map[string]any{"Key": cloudformation.Select(0, kv), "Value": cloudformation.Select(1, kv)}, noValue))
	}
	return out
}

// tagList is the Tags value of a resource: the fixed tags, then each
// Key=Value of ResourceTags. As for log groups, the list for each count
// is spelled out and Fn::If picks the longest whose last tag is given.
// Values hold no "=" (the parameter's pattern), so Key=Value splits in two.
func tagList(fixed []tags.Tag) any {
	customer := func(i int) map[string]any {
		kv := cloudformation.Split("=", tagEntry(i))
		return map[string]any{"Key": cloudformation.Select(0, kv), "Value": cloudformation.Select(1, kv)}
	}
	var lists [][]any
	for n := range params.MaxTags + 1 {
		var list []any
		for _, f := range fixed {
			list = append(list, map[string]any{"Key": f.Key, "Value": f.Value})
		}
		for i := range n {
			list = append(list, customer(i))
		}
		lists = append(lists, list)
	}
	var out any = lists[0]
	for n := 1; n <= params.MaxTags; n++ {
		out = cloudformation.If(condHasTag(n-1), lists[n], out)
	}
	if len(fixed) == 0 {
		// A resource may not carry an empty Tags list in every service.
		out = cloudformation.If(condHasTag(0), out, noValue)
	}
	return out
}

func condHasLogGroup(i int) string { return fmt.Sprintf("HasLogGroup%d", i+1) }

var noValue = cloudformation.Ref("AWS::NoValue")

// catalogToTemplate maps the catalog's placeholders to template references.
func catalogToTemplate(roleName string) *strings.Replacer {
	return strings.NewReplacer(
		permissions.VarPartition, "${AWS::Partition}",
		permissions.VarAccountID, "${AWS::AccountId}",
		permissions.VarRoleName, roleName,
		permissions.VarRolePath, "${"+params.RolePath.Name+"}",
		permissions.VarKMSKey, "${"+params.CURKMSKeyARN.Name+"}",
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

// logGroupARNs lists the exact ARN of each named log group. CloudFormation
// cannot map a prefix over a list without a transform (and StackSets refuse
// transforms), and moto chokes on AWS::NoValue inside a list, so the list
// for each possible count is spelled out and Fn::If picks the longest one
// whose last name is given.
func logGroupARNs(arn string) any {
	lists := make([][]string, params.MaxLogGroups)
	for n := 1; n <= params.MaxLogGroups; n++ {
		for i := range n {
			lists[n-1] = append(lists[n-1], cloudformation.SubVars(arn, map[string]any{"LogGroupName": logGroupName(i)}))
		}
	}
	var out any = lists[0]
	for n := 2; n <= params.MaxLogGroups; n++ {
		out = cloudformation.If(condHasLogGroup(n-1), lists[n-1], out)
	}
	return out
}

// resources turns a statement's resource patterns into a template value.
func resources(s permissions.Statement, r *strings.Replacer) any {
	var out []any
	for _, pattern := range s.Resources {
		if strings.Contains(pattern, permissions.VarLogGroup) {
			if len(s.Resources) != 1 {
				panic("synth: a per-log-group statement must have exactly one resource pattern")
			}
			return logGroupARNs(r.Replace(strings.ReplaceAll(pattern, permissions.VarLogGroup, "${LogGroupName}")))
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
	case s.KMSOnly:
		return condHasKMSKey
	case s.CURHolderOnly:
		return condHasCURBucket
	case s.PerLogGroup():
		// Names are validated non-empty, so if any is given the first is.
		return condHasLogGroup(0)
	}
	return ""
}

// policyResources renders the catalog as one AWS::IAM::Policy per inline
// policy of the role (see permissions.Statement.Policy), each present only
// under its module's or statements' condition. Separate resources rather
// than the role's Policies list: a whole policy can then be left out with a
// resource Condition instead of AWS::NoValue inside a list.
func policyResources(roleName, partition string) map[string]cloudformation.Resource {
	r := catalogToTemplate(roleName)
	out := map[string]cloudformation.Resource{}
	for _, m := range permissions.Modules() {
		var order []string
		statements := map[string][]any{}
		conditions := map[string]string{}
		for _, s := range m.Statements {
			if !permissions.AvailableIn(s, partition) {
				continue
			}
			name := m.PolicyNameOf(s)
			if _, ok := statements[name]; !ok {
				order = append(order, name)
			}
			st := map[string]any{
				"Sid":      s.Sid,
				"Effect":   "Allow",
				"Action":   s.Actions,
				"Resource": resources(s, r),
			}
			if s.ReportPrefixOnly {
				// With a prefix, listing is limited to the keys under it;
				// without one the reports are the whole bucket.
				st["Condition"] = cloudformation.If(condHasCURPrefix, map[string]any{
					"StringLike": map[string]any{"s3:prefix": []string{cloudformation.Sub("${" + params.CURReportPrefix.Name + "}*")}},
				}, noValue)
			}
			if s.ViaS3 {
				// S3 uses a key of the bucket's own region only, so the
				// key's ARN names the bucket's region.
				st["Condition"] = map[string]any{"StringEquals": map[string]any{
					"kms:ViaService": cloudformation.SubVars("s3.${KeyRegion}.${AWS::URLSuffix}", map[string]any{
						"KeyRegion": cloudformation.Select(3, cloudformation.Split(":", cloudformation.Ref(params.CURKMSKeyARN.Name))),
					}),
				}}
			}
			statements[name] = append(statements[name], st)
			conditions[name] = statementCondition(s)
		}
		for _, name := range order {
			cond := conditions[name]
			if m.Optional {
				if m.ID != permissions.ModuleBedrock || cond != "" {
					panic("synth: optional module " + m.ID + " has no single template condition")
				}
				cond = condBedrock
			}
			out[policyLogicalID(name)] = &iam.Policy{
				PolicyName: name,
				PolicyDocument: map[string]any{
					"Version":   "2012-10-17",
					"Statement": statements[name],
				},
				Roles:                      []string{cloudformation.Ref(RoleLogicalID)},
				AWSCloudFormationCondition: cond,
			}
		}
	}
	return out
}

// policyLogicalID turns "rolecall-cost-cur-bucket" into "PolicyCostCurBucket".
func policyLogicalID(name string) string {
	var b strings.Builder
	b.WriteString("Policy")
	for _, part := range strings.Split(strings.TrimPrefix(name, "rolecall-"), "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
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
