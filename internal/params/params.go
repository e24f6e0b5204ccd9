package params

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Kind is a parameter's CloudFormation type.
type Kind int

const (
	// String is a single value.
	String Kind = iota
	// List is a CommaDelimitedList: every element must match the pattern.
	List
	// Bool is a String restricted to "true" and "false".
	Bool
)

// Param is one customer input.
type Param struct {
	Name        string
	Label       string
	Group       string
	Description string
	Kind        Kind
	Default     string
	// Required parameters have no default; the console shows them empty.
	Required bool
	// NoEcho masks the value in the console and in DescribeStacks; a
	// quick-create link cannot fill it in. Only the callback secret is.
	NoEcho bool
	// Hidden keeps the value out of every message and log, as an external
	// ID is; it is not a secret (a confused-deputy guard), so it is not
	// NoEcho and a Launch Stack link can fill it in.
	Hidden bool
	// Pattern is anchored and applies to the whole value (String) or to each
	// element (List). It is written so CloudFormation's AllowedPattern and
	// Go's regexp read it the same way.
	Pattern string
	// MinLength and MaxLength bound a String's length when non-zero (Go's
	// regexp caps repeat counts at 1000, so long limits live here).
	MinLength, MaxLength int
	// MaxItems bounds a List.
	MaxItems int
	// AllowedValues restricts a String; Bool implies true and false.
	AllowedValues []string
	// Rule says in plain words what is allowed; it is the template's
	// ConstraintDescription and the tail of every validation error.
	Rule string
}

// Groups, in the order the console shows them.
const (
	GroupVendor       = "Values from your vendor"
	GroupCUR          = "Cost & Usage Report"
	GroupScope        = "Where the role is created"
	GroupRole         = "The role itself"
	GroupOptional     = "Optional access"
	GroupVerification = "Verification"
)

// Groups returns the parameter groups in display order.
func Groups() []string {
	return []string{GroupVendor, GroupCUR, GroupScope, GroupRole, GroupOptional, GroupVerification}
}

const (
	externalIDChars = `[A-Za-z0-9+=,.@:/_-]`
	principalARN    = `arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@/_-]{1,` + maxPrincipalPath + `}`
	// maxPrincipalPath bounds the path and name of an extra verifier's ARN,
	// so that the trust policy's worst case fits IAM's quota.
	maxPrincipalPath = "160"
)

// Bounds chosen from IAM's 2,048-character trust-policy quota: the trust
// policy holds both external IDs at their longest, the vendor, the
// function's role and every extra verifier (synth computes the worst case
// and refuses to build a template that could exceed it).
const (
	MinExternalID = 32
	MaxExternalID = 256
	// MaxVerifiers bounds AdditionalVerifierPrincipalArns.
	MaxVerifiers = 5
	// MaxLogGroups bounds LogGroupNames: the template grants each name its
	// own exact ARN, and CloudFormation has no loop outside transforms.
	MaxLogGroups = 5
	// MaxOUs bounds OrganizationalUnitIds, which must fit a parameter
	// value's 4,096 bytes.
	MaxOUs = 50
	// MaxFilterAccounts bounds AccountFilterIds likewise.
	MaxFilterAccounts = 200
	// MaxTags bounds ResourceTags: the templates spell out each tag, as
	// CloudFormation has no loop outside transforms.
	MaxTags = 5
)

// The parameters. Names are the template's parameter names and the custom
// resource's property names.
var (
	ExternalID = Param{
		Name: "ExternalId", Label: "External ID", Group: GroupVendor, Required: true, Hidden: true,
		Description: "The external ID your vendor issued for this organization (a Launch Stack link fills it in). Every role trusts the vendor only when it presents this value. It is not a secret: it keeps another customer's vendor account from using your role.",
		Pattern:     `^` + externalIDChars + `+$`, MinLength: MinExternalID, MaxLength: MaxExternalID,
		Rule: "32 to 256 characters: letters, digits and +=,.@:/_-; paste the value your vendor gave you",
	}
	PreviousExternalID = Param{
		Name: "PreviousExternalId", Label: "Previous external ID (rotation)", Group: GroupVendor, Hidden: true,
		Description: "During external-ID rotation only: the old value, still accepted until your vendor confirms the new one works. Leave empty otherwise.",
		Pattern:     `^(` + externalIDChars + `{32}` + externalIDChars + `*)?$`, MaxLength: MaxExternalID,
		Rule: "empty, or 32 to 256 characters: letters, digits and +=,.@:/_-",
	}
	CallbackSecret = Param{
		Name: "CallbackSecret", Label: "Callback signing secret", Group: GroupVendor, Required: true, NoEcho: true,
		Description: "The whsec_ signing secret your vendor issued for this organization. Results are signed with it; it is stored in AWS Secrets Manager.",
		Pattern:     `^whsec_[A-Za-z0-9+/]{32,172}={0,2}$`,
		Rule:        "the whsec_ value your vendor issued: whsec_ followed by at least 32 base64 characters",
	}
	CURBucketName = Param{
		Name: "CurBucketName", Label: "CUR bucket name", Group: GroupCUR, Required: true,
		Description: "The S3 bucket your Cost & Usage Reports are delivered to, in this account unless CurBucketAccountId names another. The role may list it and read report files under the prefix, nothing else in S3.",
		Pattern:     `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`,
		Rule:        "an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit",
	}
	CURReportPrefix = Param{
		Name: "CurReportPrefix", Label: "CUR report prefix", Group: GroupCUR,
		Description: "The S3 prefix of your Cost & Usage Reports, such as cur/. Leave empty if reports are at the bucket root.",
		Pattern:     `^[A-Za-z0-9!_.'()/-]{0,512}$`,
		Rule:        "empty, or up to 512 characters of letters, digits and !_.'()/- (no wildcards)",
	}
	CURBucketAccountID = Param{
		Name: "CurBucketAccountId", Label: "Account that owns the CUR bucket", Group: GroupCUR,
		Description: "Leave empty when the CUR bucket is in the organization's management account. If it is in another account of the organization (a billing or log-archive account), give that account's id: its role, not the management account's, gets the report reads. That account must be among the accounts the StackSet deploys to.",
		Pattern:     `^([0-9]{12})?$`,
		Rule:        "empty, or a 12-digit account id",
	}
	CURBucketRegion = Param{
		Name: "CurBucketRegion", Label: "Region of the CUR bucket", Group: GroupCUR,
		Description: "Leave empty to let the stack find the bucket's region (it must, for a bucket in another account). The role is verified against the bucket in that region.",
		Pattern:     `^([a-z]{2}(-gov)?-[a-z]+-[0-9])?$`,
		Rule:        "empty, or a region name such as eu-west-1",
	}
	CURKMSKeyARN = Param{
		Name: "CurKmsKeyArn", Label: "KMS key of the CUR bucket (SSE-KMS)", Group: GroupCUR,
		Description: "If the report files are encrypted with a customer-managed KMS key, its ARN: the role may decrypt with it only through S3, in the bucket's region (kms:ViaService). Leave empty for SSE-S3.",
		Pattern:     `^(arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:key/[A-Za-z0-9-]{1,64})?$`,
		Rule:        "empty, or a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias)",
	}
	DeployToOrganization = Param{
		Name: "DeployToOrganization", Label: "Create the role in member accounts", Group: GroupScope, Kind: Bool, Default: "true",
		Description: "true: also create the role in every member account of the chosen organizational units, including accounts that join later (service-managed StackSet). false: this account only.",
		Rule:        "true or false",
	}
	OrganizationalUnitIDs = Param{
		Name: "OrganizationalUnitIds", Label: "Organizational units", Group: GroupScope, Kind: List, MaxItems: MaxOUs,
		Description: "Comma-separated OU ids (ou-...) whose accounts get the role. Leave empty for the whole organization.",
		Pattern:     `^((ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})|(r-[a-z0-9]{4,32}))?$`,
		Rule:        "empty for the whole organization, or up to 50 comma-separated ids such as ou-ab12-cdef3456 (or the root id r-ab12)",
	}
	AccountFilterType = Param{
		Name: "AccountFilterType", Label: "Account filter", Group: GroupScope, Default: "NONE",
		AllowedValues: []string{"NONE", "INTERSECTION", "DIFFERENCE"},
		Description:   "NONE: every account of the chosen OUs. INTERSECTION: only the accounts listed in AccountFilterIds among them. DIFFERENCE: every account of the OUs except those listed.",
		Rule:          "NONE, INTERSECTION or DIFFERENCE",
	}
	AccountFilterIDs = Param{
		Name: "AccountFilterIds", Label: "Accounts to include or exclude", Group: GroupScope, Kind: List, MaxItems: MaxFilterAccounts,
		Description: "With AccountFilterType INTERSECTION or DIFFERENCE: the comma-separated account ids to include or exclude (up to 200).",
		Pattern:     `^([0-9]{12})?$`,
		Rule:        "empty, or up to 200 comma-separated 12-digit account ids",
	}
	RetainRolesOnAccountRemoval = Param{
		Name: "RetainRolesOnAccountRemoval", Label: "Keep the role when an account leaves", Group: GroupScope, Kind: Bool, Default: "false",
		Description: "false: when an account leaves the chosen OUs (or the organization), the StackSet deletes its role. true: the role stays in that account, outside the stack's care.",
		Rule:        "true or false",
	}
	StackSetCallAs = Param{
		Name: "StackSetCallAs", Label: "Deploy the StackSet as", Group: GroupScope, Default: "SELF",
		AllowedValues: []string{"SELF", "DELEGATED_ADMIN"},
		Description:   "SELF when this is the organization's management account; DELEGATED_ADMIN when this account is a registered delegated administrator for CloudFormation StackSets.",
		Rule:          "SELF or DELEGATED_ADMIN",
	}
	InventoryRegions = Param{
		Name: "InventoryRegions", Label: "Inventory regions", Group: GroupScope, Kind: List, MaxItems: 30,
		Description: "Comma-separated regions where Bedrock, CloudWatch and CloudTrail are inventoried and verified. Leave empty for this stack's region only.",
		Pattern:     `^([a-z]{2}(-gov)?-[a-z]+-[0-9])?$`,
		Rule:        "empty, or comma-separated region names such as us-east-1,eu-west-1",
	}
	RolePath = Param{
		Name: "RolePath", Label: "Role path", Group: GroupRole, Default: "/",
		Description: "The IAM path of the role in every account, such as /vendors/. Default /.",
		Pattern:     `^/([A-Za-z0-9+=,.@_-]{1,32}/){0,2}$`,
		Rule:        "/ or up to two segments such as /vendors/ (letters, digits and +=,.@_-, 32 characters each)",
	}
	PermissionsBoundaryName = Param{
		Name: "PermissionsBoundaryName", Label: "Permissions boundary", Group: GroupRole,
		Description: "The name (with its path, if any) of a customer managed policy that exists in every account, such as VendorBoundary or boundaries/VendorBoundary, which every role gets as its permissions boundary, as your organization may require. IAM takes a boundary from the role's own account, so the policy must be in each one. It can only take access away; the verifier reports a read it blocks. Leave empty for none.",
		Pattern:     `^(([A-Za-z0-9+=,.@_-]{1,64}/){0,3}[A-Za-z0-9+=,.@_-]{1,128})?$`,
		Rule:        "empty, or a policy name such as VendorBoundary, with up to three path segments such as boundaries/VendorBoundary",
	}
	ResourceTags = Param{
		Name: "ResourceTags", Label: "Tags", Group: GroupRole, Kind: List, MaxItems: MaxTags,
		Description: "Up to 5 comma-separated Key=Value tags put on every resource the stack and the StackSet create, such as cost-center=1234,owner=platform.",
		// Keys may not hold a colon, so none can take AWS's reserved
		// aws: prefix (CloudFormation's patterns have no look-ahead).
		Pattern: `^([A-Za-z0-9 _./+@-]{1,64}=[A-Za-z0-9 _.:/+@-]{0,128})?$`,
		Rule:    "empty, or up to 5 comma-separated Key=Value pairs (keys up to 64 characters of letters, digits, spaces and _./+@-, values up to 128 of those and :)",
	}
	EnableBedrockAccess = Param{
		Name: "EnableBedrockAccess", Label: "Bedrock inventory", Group: GroupOptional, Kind: Bool, Default: "true",
		Description: "true: grant read access to Bedrock model metadata, invocation-logging configuration, inference profiles and provisioned throughput (never invocation). false: no Bedrock access.",
		Rule:        "true or false",
	}
	LogGroupNames = Param{
		Name: "LogGroupNames", Label: "Log groups whose events may be read", Group: GroupOptional, Kind: List, MaxItems: MaxLogGroups,
		Description: "Comma-separated CloudWatch Logs log group names (up to 5), such as your Bedrock invocation log group. Log events can contain prompts and completions; leave empty to grant no log-event reads.",
		Pattern:     `^([A-Za-z0-9_./#-]{1,512})?$`,
		Rule:        "empty, or up to 5 comma-separated log group names of letters, digits and _./#-",
	}
	VerificationSchedule = Param{
		Name: "VerificationSchedule", Label: "Re-verify every role", Group: GroupVerification, Default: "rate(12 hours)",
		Description: "How often the function verifies every role again and tells your vendor only what changed: a role that drifted (gained a write, lost a read, cannot be proven), one restored, an account found or gone without an event. An EventBridge Scheduler rate such as rate(12 hours) or rate(1 day), or off.",
		Pattern:     `^(off|rate\((1 (hour|day)|([2-9]|[1-9][0-9]) (hours|days))\))$`,
		Rule:        "off, or rate(N hours) or rate(N days) with N from 1 to 99, such as rate(12 hours) or rate(1 day) (singular for 1)",
	}
	Heartbeat = Param{
		Name: "Heartbeat", Label: "Daily heartbeat", Group: GroupVerification, Default: "daily",
		AllowedValues: []string{"daily", "off"},
		Description:   "daily: the scheduled re-verification also sends your vendor one digest a day (how many accounts in each status, nothing else), so that silence means something is wrong. off: changes only.",
		Rule:          "daily or off",
	}
	AdditionalVerifierPrincipalARNs = Param{
		Name: "AdditionalVerifierPrincipalArns", Label: "Extra identities allowed to verify", Group: GroupVerification, Kind: List, MaxItems: MaxVerifiers,
		Description: "Up to 5 comma-separated IAM role or user ARNs of your own (such as a CI role) that may assume the role, with the same external ID, to run the verify tool. They must already exist.",
		Pattern:     `^(` + principalARN + `)?$`,
		Rule:        "empty, or up to 5 comma-separated IAM role or user ARNs (path and name up to 160 characters) such as arn:aws:iam::123456789012:role/ci",
	}
)

// Preflight returns the parameters the Preflight resource checks before
// anything is created: where the roles go, where the CUR is, and every
// list whose length the templates' size budget assumes.
func Preflight() []Param {
	return []Param{
		CURBucketName, CURReportPrefix, CURBucketAccountID, CURBucketRegion, CURKMSKeyARN,
		DeployToOrganization, OrganizationalUnitIDs, AccountFilterType, AccountFilterIDs, StackSetCallAs,
		InventoryRegions, LogGroupNames, AdditionalVerifierPrincipalARNs, ResourceTags,
	}
}

// All returns every parameter in the order of the console form.
func All() []Param {
	return []Param{
		ExternalID, PreviousExternalID, CallbackSecret,
		CURBucketName, CURReportPrefix, CURBucketAccountID, CURBucketRegion, CURKMSKeyARN,
		DeployToOrganization, OrganizationalUnitIDs, AccountFilterType, AccountFilterIDs, StackSetCallAs, RetainRolesOnAccountRemoval, InventoryRegions,
		RolePath, PermissionsBoundaryName, ResourceTags,
		EnableBedrockAccess, LogGroupNames,
		AdditionalVerifierPrincipalARNs, VerificationSchedule, Heartbeat,
	}
}

// CFNType returns the CloudFormation parameter type.
func (p Param) CFNType() string {
	if p.Kind == List {
		return "CommaDelimitedList"
	}
	return "String"
}

// Allowed returns the values a String or Bool parameter is restricted to.
func (p Param) Allowed() []string {
	if p.Kind == Bool {
		return []string{"true", "false"}
	}
	return p.AllowedValues
}

var compiled sync.Map // pattern -> *regexp.Regexp

func (p Param) regexp() *regexp.Regexp {
	if p.Pattern == "" {
		return nil
	}
	if re, ok := compiled.Load(p.Pattern); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(p.Pattern)
	compiled.Store(p.Pattern, re)
	return re
}

// Validate checks a String or Bool value.
func (p Param) Validate(value string) error {
	if p.Required && value == "" {
		return fmt.Errorf("%s is required: %s", p.Name, p.Rule)
	}
	if p.MaxLength > 0 && len(value) > p.MaxLength || value != "" && len(value) < p.MinLength {
		return fmt.Errorf("%s %s is not allowed: use %s", p.Name, p.show(value), p.Rule)
	}
	if allowed := p.Allowed(); len(allowed) > 0 {
		for _, a := range allowed {
			if value == a {
				return nil
			}
		}
		return fmt.Errorf("%s %s is not allowed: use %s", p.Name, p.show(value), p.Rule)
	}
	if re := p.regexp(); re != nil && !re.MatchString(value) {
		return fmt.Errorf("%s %s is not allowed: use %s", p.Name, p.show(value), p.Rule)
	}
	return nil
}

// ValidateList checks a List value element by element.
func (p Param) ValidateList(values []string) error {
	if p.MaxItems > 0 && len(values) > p.MaxItems {
		return fmt.Errorf("%s has %d values; at most %d are allowed: %s", p.Name, len(values), p.MaxItems, p.Rule)
	}
	re := p.regexp()
	seen := map[string]bool{}
	for i, v := range values {
		if v == "" {
			return fmt.Errorf("%s value %d is empty: %s", p.Name, i+1, p.Rule)
		}
		if re != nil && !re.MatchString(v) {
			return fmt.Errorf("%s value %s is not allowed: use %s", p.Name, p.show(v), p.Rule)
		}
		if seen[v] {
			return fmt.Errorf("%s lists %s twice", p.Name, p.show(v))
		}
		seen[v] = true
	}
	return nil
}

// SplitList turns a CommaDelimitedList value as CloudFormation passes it to
// a custom resource (a list, or one comma-joined string) into its elements,
// trimming spaces and dropping the empty value an empty parameter gives.
func SplitList(raw string) []string {
	var out []string
	for _, v := range strings.Split(raw, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// show quotes a value for an error message, hiding NoEcho and Hidden
// values.
func (p Param) show(v string) string {
	if p.NoEcho || p.Hidden {
		return fmt.Sprintf("(%d characters, not shown)", len(v))
	}
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	return fmt.Sprintf("%q", v)
}
