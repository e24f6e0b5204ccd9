package onboarding

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Config is one onboarding as the template configured it.
type Config struct {
	ExternalID          string
	PreviousExternalID  string
	CURBucket           string
	CURPrefix           string
	DeployToOrg         bool
	OrganizationalUnits []string
	CallAs              string
	Regions             []string
	Bedrock             bool
	LogGroups           []string
	AdditionalVerifiers []string

	RoleName          string
	ManagementRoleARN string
	// StackSet is the StackSet's name or id; empty when DeployToOrg is off.
	StackSet             string
	SecretARN            string
	CallbackURL          string
	CallbackAudience     string
	PermissionSetVersion string
	PermissionSetDigest  string
}

var (
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	secretARNPattern = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[\w/+=.@-]+$`)
	stackSetPattern  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}(:[a-f0-9-]{36})?$`)
)

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
	DeployToOrg         bool
	OrganizationalUnits []string
	CallAs              string
	// The lists whose number of values CloudFormation cannot bound: they
	// are counted here, before any role exists, since the templates' size
	// budget (the trust policy's above all) assumes their maximums.
	LogGroups           []string
	AdditionalVerifiers []string
	Regions             []string
}

// ParsePreflight reads and validates the Preflight resource's properties.
func ParsePreflight(props map[string]any) (PreflightConfig, error) {
	r := &propertyReader{props: props}
	c := PreflightConfig{
		CURBucket:           r.check(params.CURBucketName, r.str(params.CURBucketName.Name)),
		DeployToOrg:         r.check(params.DeployToOrganization, r.str(params.DeployToOrganization.Name)) == "true",
		OrganizationalUnits: r.checkList(params.OrganizationalUnitIDs, r.list(params.OrganizationalUnitIDs.Name)),
		CallAs:              r.check(params.StackSetCallAs, orDefault(r.str(params.StackSetCallAs.Name), params.StackSetCallAs.Default)),
		LogGroups:           r.checkList(params.LogGroupNames, r.list(params.LogGroupNames.Name)),
		AdditionalVerifiers: r.checkList(params.AdditionalVerifierPrincipalARNs, r.list(params.AdditionalVerifierPrincipalARNs.Name)),
		Regions:             r.checkList(params.InventoryRegions, r.list(params.InventoryRegions.Name)),
	}
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
		DeployToOrg:         r.check(params.DeployToOrganization, r.str(params.DeployToOrganization.Name)) == "true",
		OrganizationalUnits: r.checkList(params.OrganizationalUnitIDs, r.list(params.OrganizationalUnitIDs.Name)),
		CallAs:              r.check(params.StackSetCallAs, orDefault(r.str(params.StackSetCallAs.Name), params.StackSetCallAs.Default)),
		Regions:             r.checkList(params.InventoryRegions, r.list(params.InventoryRegions.Name)),
		Bedrock:             r.check(params.EnableBedrockAccess, r.str(params.EnableBedrockAccess.Name)) == "true",
		LogGroups:           r.checkList(params.LogGroupNames, r.list(params.LogGroupNames.Name)),
		AdditionalVerifiers: r.checkList(params.AdditionalVerifierPrincipalARNs, r.list(params.AdditionalVerifierPrincipalARNs.Name)),

		RoleName:             settings.RoleName,
		ManagementRoleARN:    settings.ManagementRoleARN(),
		SecretARN:            settings.SecretARN,
		CallbackURL:          settings.CallbackURL,
		CallbackAudience:     settings.Audience,
		PermissionSetVersion: permissions.Version,
		PermissionSetDigest:  permissions.Digest(),
	}
	if c.DeployToOrg {
		c.StackSet = settings.StackSetName
	}
	// The wiring: what the template passes must be what this function
	// knows, or template and function come from different releases.
	if v, ok := props[params.PropManagementRoleARN]; ok && v != c.ManagementRoleARN {
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
