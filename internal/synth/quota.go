package synth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rolecall/rolecall/internal/cfnlocal"
	"github.com/rolecall/rolecall/internal/cfnyaml"
	"github.com/rolecall/rolecall/internal/params"
)

// AWS's quotas the templates must fit whatever the customer enters. IAM
// counts policy sizes without white space.
const (
	TrustPolicyQuota     = 2048    // IAM: role trust policy length, characters (default; raisable to 4,096)
	RoleInlineQuota      = 10240   // IAM: all inline policies of a role together, characters
	ManagedPolicyQuota   = 6144    // IAM: one managed policy, characters
	TemplateBodyQuota    = 51200   // CloudFormation: a TemplateBody in a request (the StackSet's), bytes
	TemplateURLQuota     = 1 << 20 // CloudFormation: a template read from S3, bytes
	ParameterValueQuota  = 4096    // CloudFormation: one parameter value, bytes
	DescriptionQuota     = 1024    // CloudFormation: a template description, bytes
	LambdaEnvQuota       = 4096    // Lambda: all environment variables of a function, names and values, bytes
	TemplateResourcesMax = 500     // CloudFormation: resources in a template
	TemplateParamsMax    = 200     // CloudFormation: parameters in a template
	TemplateOutputsMax   = 200     // CloudFormation: outputs in a template
	worstAccountID       = "123456789012"
	worstPartition       = "aws-us-gov" // the longest partition name
	worstRegion          = "us-gov-west-1"
)

// Quota is one limit and the largest value any accepted input can make.
type Quota struct {
	What  string
	Worst int
	Limit int
	Unit  string
}

// Over reports whether the worst case exceeds the limit.
func (q Quota) Over() bool { return q.Worst > q.Limit }

func (q Quota) String() string {
	mark := "ok"
	if q.Over() {
		mark = "OVER"
	}
	return fmt.Sprintf("%-4s %-72s %7d of %7d %s (%2.0f%%)", mark, q.What, q.Worst, q.Limit, q.Unit, 100*float64(q.Worst)/float64(q.Limit))
}

// worstValues are parameter values at their longest: every list full, every
// string at its maximum length, in the characters that take the most room.
func worstValues() map[string]string {
	ext := strings.Repeat("e", params.MaxExternalID)
	verifier := "arn:" + worstPartition + ":iam::" + worstAccountID + ":role/" + strings.Repeat("v", 160)
	repeat := func(v string, n int) string { return strings.TrimSuffix(strings.Repeat(v+",", n), ",") }
	var groups []string
	for i := range params.MaxLogGroups {
		groups = append(groups, fmt.Sprintf("%d%s", i, strings.Repeat("g", 511)))
	}
	var ous []string
	for i := range params.MaxOUs {
		ous = append(ous, fmt.Sprintf("ou-abcd-%024d", i))
	}
	var accounts []string
	for i := range params.MaxFilterAccounts {
		accounts = append(accounts, fmt.Sprintf("%012d", i))
	}
	var tags []string
	for i := range params.MaxTags {
		tags = append(tags, fmt.Sprintf("%d%s=%s", i, strings.Repeat("k", 63), strings.Repeat("v", 128)))
	}
	segment := strings.Repeat("p", 32)
	return map[string]string{
		// The CUR holder's role is the largest: the bucket, its key and
		// every statement (the bucket's account empty means this one).
		params.CURBucketAccountID.Name:          "",
		params.CURBucketRegion.Name:             worstRegion,
		params.CURKMSKeyARN.Name:                "arn:" + worstPartition + ":kms:" + worstRegion + ":" + worstAccountID + ":key/" + strings.Repeat("k", 64),
		params.AccountFilterType.Name:           "INTERSECTION",
		params.AccountFilterIDs.Name:            strings.Join(accounts, ","),
		params.RetainRolesOnAccountRemoval.Name: "true",
		params.RolePath.Name:                    "/" + segment + "/" + segment + "/",
		params.PermissionsBoundaryName.Name:     strings.Repeat(strings.Repeat("b", 64)+"/", 3) + strings.Repeat("b", 128),
		params.ResourceTags.Name:                strings.Join(tags, ","),
		params.ExternalID.Name:                  ext,
		params.PreviousExternalID.Name:          strings.Repeat("p", params.MaxExternalID),
		params.CallbackSecret.Name:              "whsec_" + strings.Repeat("A", 172) + "==",
		params.CURBucketName.Name:               strings.Repeat("b", 63),
		params.CURReportPrefix.Name:             strings.Repeat("c", 512),
		params.DeployToOrganization.Name:        "true",
		params.OrganizationalUnitIDs.Name:       strings.Join(ous, ","),
		// SELF: only then does the stack create the management account's role.
		params.StackSetCallAs.Name:                  "SELF",
		params.InventoryRegions.Name:                repeat("ap-southeast-5", params.InventoryRegions.MaxItems),
		params.EnableBedrockAccess.Name:             "true",
		params.LogGroupNames.Name:                   strings.Join(groups, ","),
		params.AdditionalVerifierPrincipalARNs.Name: repeat(verifier, params.MaxVerifiers),
	}
}

// worstResources are what the templates' Ref and Fn::GetAtt resolve to,
// at their longest: CloudFormation names a resource after the stack (128
// characters at most) and cuts generated names at 64 (roles) or 255.
func worstResources() map[string]cfnlocal.Resource {
	arn := func(service, resource string) string {
		return "arn:" + worstPartition + ":" + service + ":" + worstRegion + ":" + worstAccountID + ":" + resource
	}
	fnRole := "arn:" + worstPartition + ":iam::" + worstAccountID + ":role/" + strings.Repeat("f", 64)
	return map[string]cfnlocal.Resource{
		SecretLogicalID:         {Ref: arn("secretsmanager", "secret:"+strings.Repeat("s", 255)+"-AbCdEf")},
		LogGroupLogicalID:       {Ref: strings.Repeat("l", 255), Attrs: map[string]string{"Arn": arn("logs", "log-group:"+strings.Repeat("l", 255)+":*")}},
		StateTableLogicalID:     {Ref: strings.Repeat("t", 255), Attrs: map[string]string{"Arn": arn("dynamodb", "table/"+strings.Repeat("t", 255))}},
		FunctionRoleLogicalID:   {Ref: strings.Repeat("f", 64), Attrs: map[string]string{"Arn": fnRole}},
		FunctionLogicalID:       {Ref: strings.Repeat("n", 64), Attrs: map[string]string{"Arn": arn("lambda", "function:"+strings.Repeat("n", 64))}},
		PreflightLogicalID:      {Attrs: map[string]string{params.DataDeploymentTargets: "r-abcd", params.DataManagementAccountID: worstAccountID, params.DataOrganizationID: "o-" + strings.Repeat("o", 32), params.DataCURRegion: worstRegion, params.DataCURHolder: worstAccountID, params.DataAccounts: strings.Repeat("a", 400)}},
		ManagementRoleLogicalID: {Ref: arn("cloudformation", "stack/"+strings.Repeat("m", 128)+"/"+strings.Repeat("0", 36)), Attrs: map[string]string{"Outputs." + OutputRoleARN: "arn:" + worstPartition + ":iam::" + worstAccountID + ":role/" + strings.Repeat("r", 64)}},
		StackSetLogicalID:       {Ref: strings.Repeat("s", 128) + ":" + strings.Repeat("0", 36), Attrs: map[string]string{"StackSetId": strings.Repeat("s", 128) + ":" + strings.Repeat("0", 36)}},
		VerificationLogicalID:   {Attrs: map[string]string{params.DataVerificationStatus: "v", params.DataCallbackStatus: "c"}},
		EventRuleLogicalID:      {Ref: strings.Repeat("e", 64), Attrs: map[string]string{"Arn": arn("events", "rule/"+strings.Repeat("e", 64))}},
		// SQS names a generated queue after the stack, cut at 80.
		DeadLetterLogicalID: {
			Ref:   "https://sqs." + worstRegion + ".amazonaws.com/" + worstAccountID + "/" + strings.Repeat("q", 80),
			Attrs: map[string]string{"Arn": arn("sqs", strings.Repeat("q", 80))},
		},
	}
}

// Quotas computes, for every accepted input at its worst, the size of
// every policy and template against AWS's quotas. The templates are
// evaluated as CloudFormation would (package cfnlocal), so what is
// measured is what synth writes.
func Quotas(files []File) ([]Quota, error) {
	var mgmt, role []byte
	for _, f := range files {
		switch f.Path {
		case ManagementTemplatePath:
			mgmt = f.Data
		case RoleTemplatePath:
			role = f.Data
		}
	}
	if mgmt == nil || role == nil {
		return nil, fmt.Errorf("quotas: synth wrote no %s or %s", ManagementTemplatePath, RoleTemplatePath)
	}
	var out []Quota
	add := func(what string, worst, limit int, unit string) {
		out = append(out, Quota{What: what, Worst: worst, Limit: limit, Unit: unit})
	}
	for _, t := range []struct {
		path string
		data []byte
	}{{ManagementTemplatePath, mgmt}, {RoleTemplatePath, role}} {
		add(t.path+": template read from S3", len(t.data), TemplateURLQuota, "bytes")
		tpl, err := cfnyaml.Decode(t.data)
		if err != nil {
			return nil, err
		}
		res, _ := tpl["Resources"].(map[string]any)
		ps, _ := tpl["Parameters"].(map[string]any)
		outs, _ := tpl["Outputs"].(map[string]any)
		desc, _ := tpl["Description"].(string)
		add(t.path+": resources", len(res), TemplateResourcesMax, "resources")
		add(t.path+": parameters", len(ps), TemplateParamsMax, "parameters")
		add(t.path+": outputs", len(outs), TemplateOutputsMax, "outputs")
		add(t.path+": description", len(desc), DescriptionQuota, "bytes")
	}
	body, err := stackSetBody(mgmt)
	if err != nil {
		return nil, err
	}
	add("MemberRoleStackSet TemplateBody (the role template, inline)", len(body), TemplateBodyQuota, "bytes")
	values := worstValues()
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	}) {
		add("parameter "+name+" at its longest", len(values[name]), ParameterValueQuota, "bytes")
	}

	// The management template's own roles.
	pseudo := map[string]string{
		"AWS::Partition": worstPartition, "AWS::Region": worstRegion, "AWS::AccountId": worstAccountID,
		"AWS::StackName": strings.Repeat("m", 128), "AWS::StackId": "arn:" + worstPartition + ":cloudformation:" + worstRegion + ":" + worstAccountID + ":stack/" + strings.Repeat("m", 128) + "/" + strings.Repeat("0", 36),
	}
	ms, err := cfnlocal.Load(mgmt, values, pseudo, worstResources())
	if err != nil {
		return nil, fmt.Errorf("quotas: evaluate %s: %w", ManagementTemplatePath, err)
	}
	roles, err := rolePolicies(ms)
	if err != nil {
		return nil, fmt.Errorf("quotas: %s: %w", ManagementTemplatePath, err)
	}
	for _, r := range roles {
		add(ManagementTemplatePath+": "+r.id+" trust policy", r.trust, TrustPolicyQuota, "characters")
		add(ManagementTemplatePath+": "+r.id+" inline policies together", r.inline, RoleInlineQuota, "characters")
	}

	// The function's environment, which Lambda bounds as a whole.
	fn, err := ms.Properties(FunctionLogicalID)
	if err != nil {
		return nil, fmt.Errorf("quotas: %w", err)
	}
	env := 0
	if e, ok := fn["Environment"].(map[string]any); ok {
		vars, _ := e["Variables"].(map[string]any)
		for k, v := range vars {
			env += len(k) + len(fmt.Sprint(v))
		}
	}
	add(ManagementTemplatePath+": "+FunctionLogicalID+" environment", env, LambdaEnvQuota, "bytes")

	// The vendor's role, as the management account's nested stack and the
	// StackSet give it its parameters (the management account's role has
	// the CUR statements; member roles have fewer).
	nested, err := ms.Properties(ManagementRoleLogicalID)
	if err != nil {
		return nil, fmt.Errorf("quotas: %w", err)
	}
	roleValues := map[string]string{}
	for k, v := range nested["Parameters"].(map[string]any) {
		roleValues[k] = fmt.Sprint(v)
	}
	rs, err := cfnlocal.Load(role, roleValues, pseudo, map[string]cfnlocal.Resource{
		RoleLogicalID: {Ref: strings.Repeat("r", 64), Attrs: map[string]string{"Arn": "arn:" + worstPartition + ":iam::" + worstAccountID + ":role/" + strings.Repeat("r", 64)}},
	})
	if err != nil {
		return nil, fmt.Errorf("quotas: evaluate %s: %w", RoleTemplatePath, err)
	}
	roles, err = rolePolicies(rs)
	if err != nil {
		return nil, fmt.Errorf("quotas: %s: %w", RoleTemplatePath, err)
	}
	for _, r := range roles {
		add(RoleTemplatePath+": "+r.id+" trust policy", r.trust, TrustPolicyQuota, "characters")
		add(RoleTemplatePath+": "+r.id+" inline policies together", r.inline, RoleInlineQuota, "characters")
		for name, n := range r.policies {
			add(RoleTemplatePath+": "+r.id+" policy "+name, n, RoleInlineQuota, "characters")
		}
	}
	slices.SortStableFunc(out, func(a, b Quota) int { return strings.Compare(a.What, b.What) })
	return out, nil
}

// roleSizes are one role's policy sizes as IAM counts them.
type roleSizes struct {
	id       string
	trust    int
	inline   int
	policies map[string]int
}

// rolePolicies measures every role of an evaluated template: its trust
// policy, and its inline policies (in the role or as AWS::IAM::Policy
// resources that name it) together.
func rolePolicies(s *cfnlocal.Stack) ([]roleSizes, error) {
	ids, err := s.ResourceIDs()
	if err != nil {
		return nil, err
	}
	byRole := map[string]*roleSizes{}
	var order []string
	for _, id := range ids {
		if s.Type(id) != "AWS::IAM::Role" {
			continue
		}
		ok, err := s.HasResource(id)
		if err != nil || !ok {
			continue
		}
		props, err := s.Properties(id)
		if err != nil {
			return nil, err
		}
		r := &roleSizes{id: id, trust: minified(props["AssumeRolePolicyDocument"]), policies: map[string]int{}}
		if ps, ok := props["Policies"].([]any); ok {
			for _, p := range ps {
				pm := p.(map[string]any)
				n := minified(pm["PolicyDocument"])
				r.inline += n
				r.policies[fmt.Sprint(pm["PolicyName"])] = n
			}
		}
		byRole[id] = r
		order = append(order, id)
	}
	for _, id := range ids {
		if s.Type(id) != "AWS::IAM::Policy" {
			continue
		}
		ok, err := s.HasResource(id)
		if err != nil || !ok {
			continue
		}
		raw, _ := s.RawProperties(id)
		props, err := s.Properties(id)
		if err != nil {
			return nil, err
		}
		n := minified(props["PolicyDocument"])
		roles, _ := raw["Roles"].([]any)
		for _, ref := range roles {
			m, _ := ref.(map[string]any)
			target, _ := m["Ref"].(string)
			if r, ok := byRole[target]; ok {
				r.inline += n
				r.policies[fmt.Sprint(props["PolicyName"])] = n
			}
		}
	}
	out := make([]roleSizes, 0, len(order))
	for _, id := range order {
		out = append(out, *byRole[id])
	}
	return out, nil
}

// minified is the length IAM counts: the document without white space.
func minified(doc any) int {
	b, err := json.Marshal(doc)
	if err != nil {
		return 0
	}
	return len(b)
}

// StackSetTemplateBody returns the role template as the management
// template's StackSet carries it.
func StackSetTemplateBody(files []File) (string, error) {
	for _, f := range files {
		if f.Path == ManagementTemplatePath {
			return stackSetBody(f.Data)
		}
	}
	return "", fmt.Errorf("no %s among the files", ManagementTemplatePath)
}

// stackSetBody returns the TemplateBody of the management template's
// StackSet.
func stackSetBody(mgmt []byte) (string, error) {
	tpl, err := cfnyaml.Decode(mgmt)
	if err != nil {
		return "", err
	}
	res, _ := tpl["Resources"].(map[string]any)
	ss, _ := res[StackSetLogicalID].(map[string]any)
	props, _ := ss["Properties"].(map[string]any)
	body, ok := props["TemplateBody"].(string)
	if !ok {
		return "", fmt.Errorf("%s: resource %s has no TemplateBody string", ManagementTemplatePath, StackSetLogicalID)
	}
	return body, nil
}
