package profile

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/partition"
)

// Profile is one vendor's brand and wiring.
type Profile struct {
	// ID is the profile's short name, the file's base name: "acme".
	ID string `yaml:"id"`
	// Name is the brand as customers read it: "Acme".
	Name string `yaml:"name"`
	// PrincipalARN is the vendor identity that assumes the customer's role,
	// a role or user ARN in the vendor's account. A specific principal is
	// safer than a whole account.
	PrincipalARN string `yaml:"principalArn"`
	// RoleName is the name of the read-only role in every customer account.
	RoleName string `yaml:"roleName"`
	// Callback is where onboarding results are delivered.
	Callback Callback `yaml:"callback"`
	// SupportContact is an email address or https URL customers can reach.
	SupportContact string `yaml:"supportContact"`
	// Publish says where the vendor hosts templates and Lambda code.
	Publish Publish `yaml:"publish"`
	// Partitions enables customers in AWS's other partitions, aws-us-gov
	// (GovCloud) and aws-cn (China), each with the vendor's principal and
	// the regions it publishes to there. PrincipalARN and Publish.Regions
	// are the commercial partition's (aws).
	Partitions map[string]Partition `yaml:"partitions"`
}

// Partition is the vendor's presence in one AWS partition beyond the
// commercial one: accounts there are separate, so the principal is too.
type Partition struct {
	PrincipalARN string   `yaml:"principalArn"`
	Regions      []string `yaml:"regions"`
}

// PartitionOfRegion names the AWS partition a region belongs to.
func PartitionOfRegion(region string) string { return partition.OfRegion(region) }

// EnabledPartitions lists the partitions the vendor onboards customers
// in: aws first, then the others by name.
func (p Profile) EnabledPartitions() []string {
	out := []string{"aws"}
	for _, name := range []string{"aws-cn", "aws-us-gov"} {
		if _, ok := p.Partitions[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// Principal is the vendor's principal in a partition, or "" if the vendor
// does not onboard there.
func (p Profile) Principal(partition string) string {
	if partition == "aws" {
		return p.PrincipalARN
	}
	return p.Partitions[partition].PrincipalARN
}

// Regions are every region the vendor publishes to, in all partitions.
func (p Profile) Regions() []string {
	out := append([]string(nil), p.Publish.Regions...)
	for _, name := range p.EnabledPartitions()[1:] {
		out = append(out, p.Partitions[name].Regions...)
	}
	return out
}

// Callback is the vendor's receiving endpoint.
type Callback struct {
	// URL is the https endpoint that receives signed callbacks.
	URL string `yaml:"url"`
	// Audience is bound into the AWS identity proof so a proof made for one
	// vendor cannot be replayed to another. Defaults to the URL's host.
	Audience string `yaml:"audience"`
}

// Publish names the vendor's artifact buckets.
type Publish struct {
	// BucketPrefix names one bucket per region, "<prefix>-<region>": Lambda
	// code must live in the region of the stack that uses it.
	BucketPrefix string `yaml:"bucketPrefix"`
	// Regions where customers can launch the stack.
	Regions []string `yaml:"regions"`
}

// AccountID returns the vendor's AWS account ID, from PrincipalARN.
func (p Profile) AccountID() string {
	parts := strings.SplitN(p.PrincipalARN, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}

var (
	idPattern        = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)
	namePattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 .&-]{0,39}$`)
	principalPattern = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	roleNamePattern  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	emailPattern     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[a-z]{2,}$`)
	bucketPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
)

// Validate checks every field and reports all problems at once, each naming
// the field and what is allowed.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !idPattern.MatchString(p.ID) {
		bad("id", "%q must be 2-31 lower-case letters, digits or hyphens, starting with a letter", p.ID)
	}
	if !namePattern.MatchString(p.Name) {
		bad("name", "%q must be 1-40 letters, digits, spaces or .&- (it appears in role descriptions and outputs)", p.Name)
	}
	if !principalPattern.MatchString(p.PrincipalARN) || !strings.HasPrefix(p.PrincipalARN, "arn:aws:") {
		bad("principalArn", "%q must be an IAM role or user ARN of the commercial partition such as arn:aws:iam::123456789012:role/Ingest (GovCloud and China principals go under partitions)", p.PrincipalARN)
	}
	if !roleNamePattern.MatchString(p.RoleName) {
		bad("roleName", "%q must be 1-64 characters of letters, digits and +=,.@_-", p.RoleName)
	}
	if err := validateHTTPS(p.Callback.URL); err != nil {
		bad("callback.url", "%v", err)
	} else if p.Callback.Audience == "" {
		u, _ := url.Parse(p.Callback.URL)
		p.Callback.Audience = u.Hostname()
	}
	if strings.ContainsAny(p.Callback.Audience, " \t\r\n") {
		bad("callback.audience", "%q must not contain white space", p.Callback.Audience)
	}
	if !emailPattern.MatchString(p.SupportContact) && validateHTTPS(p.SupportContact) != nil {
		bad("supportContact", "%q must be an email address or an https URL", p.SupportContact)
	}
	if !bucketPattern.MatchString(p.Publish.BucketPrefix) {
		bad("publish.bucketPrefix", "%q must be 3-42 lower-case letters, digits or hyphens (a region is appended to make each bucket name)", p.Publish.BucketPrefix)
	}
	if len(p.Publish.Regions) == 0 {
		bad("publish.regions", "list at least one region, such as us-east-1")
	}
	for _, r := range p.Publish.Regions {
		if !regionPattern.MatchString(r) || PartitionOfRegion(r) != "aws" {
			bad("publish.regions", "%q is not a commercial AWS region name such as us-east-1 (GovCloud and China regions go under partitions)", r)
		}
	}
	for name, part := range p.Partitions {
		field := "partitions." + name
		if name != "aws-us-gov" && name != "aws-cn" {
			bad(field, "%q is not a partition to enable: use aws-us-gov or aws-cn (aws is the profile's top level)", name)
			continue
		}
		if !principalPattern.MatchString(part.PrincipalARN) || !strings.HasPrefix(part.PrincipalARN, "arn:"+name+":") {
			bad(field+".principalArn", "%q must be an IAM role or user ARN of %s, such as arn:%s:iam::123456789012:role/Ingest", part.PrincipalARN, name, name)
		}
		if len(part.Regions) == 0 {
			bad(field+".regions", "list at least one region of %s", name)
		}
		for _, r := range part.Regions {
			if !regionPattern.MatchString(r) || PartitionOfRegion(r) != name {
				bad(field+".regions", "%q is not a region of %s", r, name)
			}
		}
	}
	return errors.Join(errs...)
}

func validateHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q must be an https URL with a host and no user info or fragment", raw)
	}
	return nil
}

// Parse reads a profile from YAML, refusing unknown fields so a typo does
// not silently fall back to a default, and validates it.
func Parse(b []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("vendor profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("vendor profile %q:\n%w", p.ID, err)
	}
	return &p, nil
}

// Load reads the profile at path. Its id must match the file's base name so
// `make synth VENDOR=x` and the file agree.
func Load(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vendor profile: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)); base != p.ID {
		return nil, fmt.Errorf("%s: id %q must match the file name %q", path, p.ID, base)
	}
	return p, nil
}

// Find loads the profile with the given id from dir ("vendors/<id>.yaml"),
// listing the available ones when it does not exist.
func Find(dir, id string) (*Profile, error) {
	path := filepath.Join(dir, id+".yaml")
	if _, err := os.Stat(path); err != nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		var ids []string
		for _, m := range matches {
			ids = append(ids, strings.TrimSuffix(filepath.Base(m), ".yaml"))
		}
		return nil, fmt.Errorf("vendor profile %q not found in %s: choose one of %s, or add %s", id, dir, strings.Join(ids, ", "), path)
	}
	return Load(path)
}
