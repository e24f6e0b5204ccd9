package verify

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
)

// Role is one role to verify and what it was granted.
type Role struct {
	// AccountID is the role's account. Empty means the account in RoleARN.
	AccountID string `json:"account_id"`
	// RoleARN is the role, arn:<partition>:iam::<account>:role/<name>.
	RoleARN string `json:"role_arn"`
	// ExternalID is sent with AssumeRole; it is never empty, never logged
	// and never written out.
	ExternalID string `json:"-"`
	// Management is true for the role in the organization's management
	// (payer) account, where Cost Explorer answers for the whole
	// organization.
	Management bool `json:"management"`
	// CURBucket and CURPrefix locate the organization's Cost & Usage
	// Reports. They are given to the role of the account that owns the
	// bucket (the CUR holder), which reads them, and to the management
	// account's role, which checks that a report or export delivers
	// there; to no other role.
	CURBucket string `json:"cur_bucket,omitempty"`
	CURPrefix string `json:"cur_prefix,omitempty"`
	// CURAccountID is the account that owns the bucket; empty means the
	// role's own account.
	CURAccountID string `json:"cur_account_id,omitempty"`
	// CURRegion is the bucket's region; empty lets the probe follow S3's
	// redirect to it.
	CURRegion string `json:"cur_region,omitempty"`
	// CURKMSKey is the KMS key the report files are encrypted with
	// (SSE-KMS); empty for SSE-S3.
	CURKMSKey string `json:"cur_kms_key,omitempty"`
	// Expect, when set, is how the stack configured the role; the
	// verifier reads the role (iam:GetRole) and reports any difference.
	Expect *Settings `json:"expect,omitempty"`
	// Bedrock is true when the optional Bedrock module was granted.
	Bedrock bool `json:"bedrock"`
	// LogGroups are the log groups whose events the role may read.
	LogGroups []string `json:"log_groups,omitempty"`
	// Regions are the inventory regions, where regional services are
	// probed. Empty means the Engine's default regions.
	Regions []string `json:"regions,omitempty"`
	// NoPaidProbes proves the grants of paid calls (Cost Explorer) with
	// IAM's policy simulator instead of making them: what a scheduled
	// re-verification does for member accounts, so that it costs nothing.
	NoPaidProbes bool `json:"no_paid_probes,omitempty"`
}

// Settings are what the stack sets on each role beyond its policies. The
// role's path is part of its ARN.
type Settings struct {
	// Boundary is the name (with path) of the permissions boundary, a
	// managed policy in the role's own account; empty for none.
	Boundary string `json:"permissions_boundary,omitempty"`
	// Tags are the tags the stack puts on the role. The role may carry
	// more (tags added by others are not the stack's to judge).
	Tags map[string]string `json:"tags,omitempty"`
}

// CURHolder reports whether the role is the one that reads the CUR bucket.
func (r Role) CURHolder() bool {
	return r.CURBucket != "" && (r.CURAccountID == "" || r.CURAccountID == r.arn().AccountID)
}

// ARN is an IAM role ARN taken apart.
type ARN struct {
	Partition string
	AccountID string
	// Path is "/" or a path such as "/rolecall/".
	Path string
	Name string
}

// String returns the ARN as IAM writes it.
func (a ARN) String() string {
	path := a.Path
	if path == "" {
		path = "/"
	}
	return "arn:" + a.Partition + ":iam::" + a.AccountID + ":role" + path + a.Name
}

// ErrBadRoleARN is wrapped by every error of ParseRoleARN.
var ErrBadRoleARN = errors.New("not an IAM role ARN")

// ParseRoleARN takes apart "arn:<partition>:iam::<account>:role/<path/><name>".
func ParseRoleARN(s string) (ARN, error) {
	bad := func(why string) (ARN, error) {
		return ARN{}, fmt.Errorf("%q is %w (%s): write it as arn:aws:iam::123456789012:role/NAME", clip(s, 120), ErrBadRoleARN, why)
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return bad("it does not start with arn: and have six colon-separated parts")
	}
	partition, service, region, account, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	switch partition {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return bad("unknown partition " + clip(partition, 20))
	}
	if service != "iam" {
		return bad("service is not iam")
	}
	if region != "" {
		return bad("IAM ARNs have no region")
	}
	if !isAccountID(account) {
		return bad("the account is not 12 digits")
	}
	rest, ok := strings.CutPrefix(resource, "role/")
	if !ok {
		return bad("it is not a role")
	}
	path, name := "/", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		path, name = "/"+rest[:i+1], rest[i+1:]
	}
	if !validRoleName(name) {
		return bad("the role name must be 1 to 64 letters, digits and +=,.@_-")
	}
	if len(path) > 512 || !validRolePath(path) {
		return bad("the path must be letters, digits and +=,.@_-/")
	}
	return ARN{Partition: partition, AccountID: account, Path: path, Name: name}, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func roleNameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("+=,.@_-", c)
}

func validRoleName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !roleNameChar(c) {
			return false
		}
	}
	return true
}

func validRolePath(s string) bool {
	if !strings.HasPrefix(s, "/") || !strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
		return false
	}
	for _, c := range s {
		if c != '/' && !roleNameChar(c) {
			return false
		}
	}
	return true
}

// Validate checks the role before anything is sent to AWS, and says what
// to fix. It never shows the external ID.
func (r Role) Validate() error {
	arn, err := ParseRoleARN(r.RoleARN)
	if err != nil {
		return fmt.Errorf("role ARN: %w", err)
	}
	if r.AccountID != "" && r.AccountID != arn.AccountID {
		return fmt.Errorf("account %s does not match the account %s of role %s", clip(r.AccountID, 20), arn.AccountID, r.RoleARN)
	}
	// Moto, unlike AWS, lets an AssumeRole without an external ID through
	// an sts:ExternalId condition; never depend on that.
	if r.ExternalID == "" {
		return errors.New("external ID is missing: use the value your vendor gave you")
	}
	if err := params.ExternalID.Validate(r.ExternalID); err != nil {
		return fmt.Errorf("external ID: %w", err)
	}
	if r.CURBucket == "" {
		if r.CURPrefix != "" || r.CURRegion != "" || r.CURKMSKey != "" {
			return errors.New("a CUR prefix, region or KMS key needs the CUR bucket: give the bucket, on the role of the account that owns it")
		}
	} else {
		if !isAccountID(r.CURAccountID) && r.CURAccountID != "" {
			return fmt.Errorf("CUR bucket account %q is not a 12-digit account id", clip(r.CURAccountID, 20))
		}
		if !r.Management && !r.CURHolder() {
			return fmt.Errorf("a CUR bucket belongs to the role of the account that owns it (%s) or the management account's: this member role has no S3 access", r.CURAccountID)
		}
		if err := params.CURBucketName.Validate(r.CURBucket); err != nil {
			return err
		}
		if err := params.CURReportPrefix.Validate(r.CURPrefix); err != nil {
			return err
		}
		if err := params.CURBucketRegion.Validate(r.CURRegion); err != nil {
			return err
		}
		if err := params.CURKMSKeyARN.Validate(r.CURKMSKey); err != nil {
			return err
		}
		if r.CURKMSKey != "" && r.CURRegion != "" {
			// S3 encrypts with a key of the bucket's own region only.
			if keyRegion := strings.Split(r.CURKMSKey, ":")[3]; keyRegion != r.CURRegion {
				return fmt.Errorf("the KMS key %s is in %s but the CUR bucket is in %s: S3 uses keys of the bucket's region only; give the bucket's key", r.CURKMSKey, keyRegion, r.CURRegion)
			}
		}
	}
	if e := r.Expect; e != nil {
		if err := params.PermissionsBoundaryName.Validate(e.Boundary); err != nil {
			return err
		}
		if len(e.Tags) > params.MaxTags {
			return fmt.Errorf("%d tags expected: the stack sets at most %d", len(e.Tags), params.MaxTags)
		}
	}
	if err := params.LogGroupNames.ValidateList(r.LogGroups); err != nil {
		return err
	}
	if err := params.InventoryRegions.ValidateList(r.Regions); err != nil {
		return err
	}
	return nil
}

// arn returns the parsed ARN of a validated role.
func (r Role) arn() ARN {
	a, _ := ParseRoleARN(r.RoleARN)
	return a
}

// Target is what the permission catalog grants the role.
func (r Role) Target() permissions.Target {
	a := r.arn()
	return permissions.Target{
		Partition: a.Partition,
		AccountID: a.AccountID,
		RoleName:  a.Name,
		RolePath:  a.Path,
		CURHolder: r.CURHolder(),
		CURBucket: r.CURBucket,
		CURPrefix: r.CURPrefix,
		CURRegion: r.CURRegion,
		CURKMSKey: r.CURKMSKey,
		Bedrock:   r.Bedrock,
		LogGroups: r.LogGroups,
	}
}

// homeRegion is where a partition's global services (IAM, Organizations,
// Cost Explorer, the price list, CUR) answer.
func homeRegion(partition string) string {
	switch partition {
	case "aws-cn":
		return "cn-northwest-1"
	case "aws-us-gov":
		return "us-gov-west-1"
	}
	return "us-east-1"
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
