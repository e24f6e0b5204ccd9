package onboarding

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rolecall/rolecall/internal/discovery"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Config is one onboarding as the template configured it.
type Config struct {
	ExternalID         string
	PreviousExternalID string
	CURBucket          string
	CURPrefix          string
	// CURAccount is the account that owns the CUR bucket; empty means the
	// management account.
	CURAccount string
	// CURRegion is the bucket's region: the parameter, or what Preflight
	// found (property CurBucketRegion); empty lets the probe find it.
	CURRegion           string
	CURKMSKey           string
	DeployToOrg         bool
	OrganizationalUnits []string
	AccountFilter       string
	FilterAccounts      []string
	RetainRoles         bool
	CallAs              string
	Regions             []string
	Bedrock             bool
	LogGroups           []string
	AdditionalVerifiers []string
	RolePath            string
	Boundary            string
	Tags                map[string]string

	RoleName string
	// ManagementRoleARN is the role in this stack's account, which the
	// stack creates with StackSetCallAs SELF; empty with DELEGATED_ADMIN,
	// where the management account's role comes from another stack.
	ManagementRoleARN string
	// StackSet is the StackSet's name or id; empty when DeployToOrg is off.
	StackSet             string
	SecretARN            string
	CallbackURL          string
	CallbackAudience     string
	PermissionSetVersion string
	PermissionSetDigest  string
}

// propertyReader reads custom-resource properties, which CloudFormation
// passes as strings (lists as lists of strings, or one comma-joined string).
type propertyReader struct {
	props map[string]any
	errs  []error
}

func (r *propertyReader) str(name string) string {
	v, ok := r.props[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("%s must be a string, got %T", name, v))
	}
	return s
}

func (r *propertyReader) list(name string) []string {
	v, ok := r.props[name]
	if !ok || v == nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		return params.SplitList(x)
	case []any:
		var out []string
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				r.errs = append(r.errs, fmt.Errorf("%s value %d must be a string, got %T", name, i+1, e))
				continue
			}
			out = append(out, params.SplitList(s)...)
		}
		return out
	}
	r.errs = append(r.errs, fmt.Errorf("%s must be a list of strings, got %T", name, v))
	return nil
}

func (r *propertyReader) check(p params.Param, value string) string {
	if err := p.Validate(value); err != nil {
		r.errs = append(r.errs, err)
	}
	return value
}

func (r *propertyReader) checkList(p params.Param, values []string) []string {
	if err := p.ValidateList(values); err != nil {
		r.errs = append(r.errs, err)
	}
	return values
}

// PreflightConfig is what the Preflight resource checks.
type PreflightConfig struct {
	CURBucket           string
	CURPrefix           string
	CURAccount          string
	CURRegion           string
	CURKMSKey           string
	DeployToOrg         bool
	OrganizationalUnits []string
	AccountFilter       string
	FilterAccounts      []string
	CallAs              string
	// The lists whose number of values CloudFormation cannot bound: they
	// are counted here, before any role exists, since the templates' size
	// budget (the trust policy's above all) assumes their maximums.
	LogGroups           []string
	AdditionalVerifiers []string
	Regions             []string
	Tags                []string
}

// ParsePreflight reads and validates the Preflight resource's properties.
func ParsePreflight(props map[string]any) (PreflightConfig, error) {
	r := &propertyReader{props: props}
	c := PreflightConfig{
		CURBucket:           r.check(params.CURBucketName, r.str(params.CURBucketName.Name)),
		CURPrefix:           r.check(params.CURReportPrefix, r.str(params.CURReportPrefix.Name)),
		CURAccount:          r.check(params.CURBucketAccountID, r.str(params.CURBucketAccountID.Name)),
		CURRegion:           r.check(params.CURBucketRegion, r.str(params.CURBucketRegion.Name)),
		CURKMSKey:           r.check(params.CURKMSKeyARN, r.str(params.CURKMSKeyARN.Name)),
		DeployToOrg:         r.check(params.DeployToOrganization, r.str(params.DeployToOrganization.Name)) == "true",
		OrganizationalUnits: r.checkList(params.OrganizationalUnitIDs, r.list(params.OrganizationalUnitIDs.Name)),
		AccountFilter:       r.check(params.AccountFilterType, orDefault(r.str(params.AccountFilterType.Name), params.AccountFilterType.Default)),
		FilterAccounts:      r.checkList(params.AccountFilterIDs, r.list(params.AccountFilterIDs.Name)),
		CallAs:              r.check(params.StackSetCallAs, orDefault(r.str(params.StackSetCallAs.Name), params.StackSetCallAs.Default)),
		LogGroups:           r.checkList(params.LogGroupNames, r.list(params.LogGroupNames.Name)),
		AdditionalVerifiers: r.checkList(params.AdditionalVerifierPrincipalARNs, r.list(params.AdditionalVerifierPrincipalARNs.Name)),
		Regions:             r.checkList(params.InventoryRegions, r.list(params.InventoryRegions.Name)),
		Tags:                r.checkList(params.ResourceTags, r.list(params.ResourceTags.Name)),
	}
	r.tags(c.Tags)
	return c, joinErrs(r.errs)
}

// ParseOptions adjust ParseConfig.
type ParseOptions struct {
	// DefaultRegion is used when InventoryRegions is empty: the region the
	// stack runs in.
	DefaultRegion string
}

// ParseConfig reads and validates the RoleVerification resource's
// properties: the customer's choices, and the template's wiring, which
// must agree with the function's environment and build. The vendor's
// settings come from settings, never from the properties. Every problem is
// reported, each naming the property and what is allowed.
func ParseConfig(props map[string]any, settings Settings, opts ParseOptions) (Config, error) {
	r := &propertyReader{props: props}
	c := Config{
		ExternalID:          r.check(params.ExternalID, r.str(params.ExternalID.Name)),
		PreviousExternalID:  r.check(params.PreviousExternalID, r.str(params.PreviousExternalID.Name)),
		CURBucket:           r.check(params.CURBucketName, r.str(params.CURBucketName.Name)),
		CURPrefix:           r.check(params.CURReportPrefix, r.str(params.CURReportPrefix.Name)),
		CURAccount:          r.check(params.CURBucketAccountID, r.str(params.CURBucketAccountID.Name)),
		CURRegion:           r.check(params.CURBucketRegion, r.str(params.CURBucketRegion.Name)),
		CURKMSKey:           r.check(params.CURKMSKeyARN, r.str(params.CURKMSKeyARN.Name)),
		DeployToOrg:         r.check(params.DeployToOrganization, r.str(params.DeployToOrganization.Name)) == "true",
		OrganizationalUnits: r.checkList(params.OrganizationalUnitIDs, r.list(params.OrganizationalUnitIDs.Name)),
		AccountFilter:       r.check(params.AccountFilterType, orDefault(r.str(params.AccountFilterType.Name), params.AccountFilterType.Default)),
		FilterAccounts:      r.checkList(params.AccountFilterIDs, r.list(params.AccountFilterIDs.Name)),
		RetainRoles:         r.check(params.RetainRolesOnAccountRemoval, orDefault(r.str(params.RetainRolesOnAccountRemoval.Name), params.RetainRolesOnAccountRemoval.Default)) == "true",
		CallAs:              r.check(params.StackSetCallAs, orDefault(r.str(params.StackSetCallAs.Name), params.StackSetCallAs.Default)),
		Regions:             r.checkList(params.InventoryRegions, r.list(params.InventoryRegions.Name)),
		Bedrock:             r.check(params.EnableBedrockAccess, r.str(params.EnableBedrockAccess.Name)) == "true",
		LogGroups:           r.checkList(params.LogGroupNames, r.list(params.LogGroupNames.Name)),
		AdditionalVerifiers: r.checkList(params.AdditionalVerifierPrincipalARNs, r.list(params.AdditionalVerifierPrincipalARNs.Name)),
		RolePath:            r.check(params.RolePath, orDefault(r.str(params.RolePath.Name), params.RolePath.Default)),
		Boundary:            r.check(params.PermissionsBoundaryName, r.str(params.PermissionsBoundaryName.Name)),
		Tags:                r.tags(r.checkList(params.ResourceTags, r.list(params.ResourceTags.Name))),

		RoleName:             settings.RoleName,
		SecretARN:            settings.SecretARN,
		CallbackURL:          settings.CallbackURL,
		CallbackAudience:     settings.Audience,
		PermissionSetVersion: permissions.Version,
		PermissionSetDigest:  permissions.Digest(),
	}
	if c.DeployToOrg {
		c.StackSet = settings.StackSetName
	}
	if c.CallAs != "DELEGATED_ADMIN" {
		c.ManagementRoleARN = c.RoleARN(partitionOf(settings.StackID), accountOfARN(settings.StackID))
	}
	// The region Preflight found, when the parameter named none.
	if v := r.str(params.PropCURRegion); v != "" && c.CURRegion == "" {
		c.CURRegion = r.check(params.CURBucketRegion, v)
	}
	// The wiring: what the template passes must be what this function
	// knows, or template and function come from different releases.
	if v, ok := props[params.PropManagementRoleARN]; ok && (v != c.ManagementRoleARN || c.ManagementRoleARN == "") {
		r.errs = append(r.errs, fmt.Errorf("%s %q is not this stack's role %s: deploy the template and the function of the same release", params.PropManagementRoleARN, clip(fmt.Sprint(v), 120), c.ManagementRoleARN))
	}
	if v := r.str(params.PropStackSetID); c.DeployToOrg && stackSetName(v) != settings.StackSetName {
		r.errs = append(r.errs, fmt.Errorf("%s %q is not this stack's StackSet %s: deploy the template and the function of the same release", params.PropStackSetID, clip(v, 120), settings.StackSetName))
	}
	if v := r.str(params.PropPermissionSetDigest); v != c.PermissionSetDigest {
		r.errs = append(r.errs, fmt.Errorf("the template grants permission set %q but this function verifies %s (%s): deploy the template and the function of the same release", clip(v, 80), permissions.Version, c.PermissionSetDigest))
	}
	if c.PreviousExternalID != "" && c.PreviousExternalID == c.ExternalID {
		r.errs = append(r.errs, fmt.Errorf("%s equals %s: during rotation set ExternalId to the new value and PreviousExternalId to the old one; otherwise leave PreviousExternalId empty", params.PreviousExternalID.Name, params.ExternalID.Name))
	}
	if len(c.Regions) == 0 && opts.DefaultRegion != "" {
		c.Regions = []string{opts.DefaultRegion}
	}
	return c, joinErrs(r.errs)
}

// RoleARN is the vendor role's ARN in an account.
func (c Config) RoleARN(partition, account string) string {
	return discovery.RoleARN(partition, account, c.RolePath, c.RoleName)
}

// CURHolder is the account whose role reads the CUR bucket, given the
// organization's management account.
func (c Config) CURHolder(management string) string {
	if c.CURAccount != "" {
		return c.CURAccount
	}
	return management
}

// tags reads ResourceTags' Key=Value pairs; a key given twice is an error
// (IAM refuses duplicate tag keys).
func (r *propertyReader) tags(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := out[k]; dup {
			r.errs = append(r.errs, fmt.Errorf("%s: the key %q is given twice; give each key once", params.ResourceTags.Name, k))
		}
		out[k] = v
	}
	return out
}

// checkCallbackURL allows https URLs with a host (and, if allowed, http on
// loopback), and nothing else. The callback sender repeats the address
// checks when it connects.
func checkCallbackURL(raw string, allowLoopbackHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL with a host and no user info", clip(raw, 80))
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && allowLoopbackHTTP {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("%q must use https", clip(raw, 80))
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
