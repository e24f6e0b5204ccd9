package emulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// StackSetsServicePrincipal is the service principal for which a
// management account enables trusted access so that service-managed
// StackSets can deploy into its organization.
const StackSetsServicePrincipal = "member.org.stacksets.cloudformation.amazonaws.com"

// OrgSpec describes an organization to seed: member accounts directly under
// the root, and a tree of OUs with member accounts of their own.
type OrgSpec struct {
	// Accounts is the number of member accounts directly under the root.
	Accounts int
	// OUs are the OUs directly under the root.
	OUs []OUSpec
	// ServicePrincipals are given trusted access to the organization, as
	// with EnableAWSServiceAccess; for example StackSetsServicePrincipal.
	ServicePrincipals []string
}

// OUSpec describes one OU: its name, unique among its siblings, the number
// of member accounts directly in it, and its child OUs.
type OUSpec struct {
	Name     string
	Accounts int
	OUs      []OUSpec
}

// Org is a seeded organization.
type Org struct {
	ID                  string
	RootID              string
	ManagementAccountID string
	// OUs lists every OU, parents before children, in the order of the spec.
	OUs []OU
	// Accounts lists every member account (not the management account) in
	// creation order: the root's first, then each OU's in the order of OUs.
	Accounts []Account
}

// OU is an organizational unit of a seeded organization.
type OU struct {
	ID       string
	Name     string
	ParentID string // the root's ID for a top-level OU
	// Path names the OU from the root, such as "Root/Workloads/Prod".
	Path string
	// AccountIDs are the member accounts directly in the OU.
	AccountIDs []string
}

// Account is a member account of a seeded organization. Its name and email
// derive from where it was seeded, such as "workloads-prod-002" and
// "workloads-prod-002@example.com"; accounts under the root are "root-001"
// and so on.
type Account struct {
	ID       string
	Name     string
	Email    string
	ParentID string // the ID of its OU, or of the root
}

// OUByPath returns the OU at path, such as "Root/Workloads/Prod".
func (o *Org) OUByPath(path string) (OU, bool) {
	for _, ou := range o.OUs {
		if ou.Path == path {
			return ou, true
		}
	}
	return OU{}, false
}

// AccountsUnder returns the member accounts in the OU (or root) with ID
// parentID and in every OU below it, in the order of Accounts. This is where
// AWS deploys a service-managed StackSet that targets parentID.
func (o *Org) AccountsUnder(parentID string) []Account {
	in := map[string]bool{parentID: true}
	for _, ou := range o.OUs { // parents come before children
		if in[ou.ParentID] {
			in[ou.ID] = true
		}
	}
	var accounts []Account
	for _, a := range o.Accounts {
		if in[a.ParentID] {
			accounts = append(accounts, a)
		}
	}
	return accounts
}

// SeedOrganization creates an organization (all features) with cfg's
// account as its management account, then the OUs and member accounts of
// spec. Account names and emails are deterministic; their IDs are moto's.
// It makes two calls per account (create, then move into its OU) and one per
// OU, one at a time: moto serialises requests anyway.
func SeedOrganization(ctx context.Context, cfg aws.Config, spec OrgSpec) (*Org, error) {
	client := organizations.NewFromConfig(cfg)
	if _, err := client.CreateOrganization(ctx, &organizations.CreateOrganizationInput{
		FeatureSet: orgtypes.OrganizationFeatureSetAll,
	}); err != nil {
		return nil, fmt.Errorf("seed organization: %w", err)
	}
	desc, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return nil, fmt.Errorf("seed organization: %w", err)
	}
	roots, err := client.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		return nil, fmt.Errorf("seed organization: %w", err)
	}
	if len(roots.Roots) != 1 {
		return nil, fmt.Errorf("seed organization: want one root, got %d", len(roots.Roots))
	}
	org := &Org{
		ID:                  aws.ToString(desc.Organization.Id),
		RootID:              aws.ToString(roots.Roots[0].Id),
		ManagementAccountID: aws.ToString(desc.Organization.MasterAccountId),
	}
	for _, p := range spec.ServicePrincipals {
		if _, err := client.EnableAWSServiceAccess(ctx, &organizations.EnableAWSServiceAccessInput{
			ServicePrincipal: aws.String(p),
		}); err != nil {
			return nil, fmt.Errorf("seed organization: enable %s: %w", p, err)
		}
	}

	s := seeder{client: client, org: org}
	if _, err := s.accounts(ctx, org.RootID, "root", spec.Accounts); err != nil {
		return nil, err
	}
	if err := s.ous(ctx, org.RootID, "Root", spec.OUs); err != nil {
		return nil, err
	}
	return org, nil
}

type seeder struct {
	client *organizations.Client
	org    *Org
}

// ous creates specs under parentID, depth first.
func (s seeder) ous(ctx context.Context, parentID, parentPath string, specs []OUSpec) error {
	seen := map[string]bool{}
	for _, spec := range specs {
		path := parentPath + "/" + spec.Name
		if spec.Name == "" || strings.Contains(spec.Name, "/") || seen[spec.Name] {
			return fmt.Errorf("seed organization: OU %q: name must be unique among its siblings, not empty, and free of '/'", path)
		}
		seen[spec.Name] = true
		out, err := s.client.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{
			ParentId: aws.String(parentID),
			Name:     aws.String(spec.Name),
		})
		if err != nil {
			return fmt.Errorf("seed organization: create OU %s: %w", path, err)
		}
		id := aws.ToString(out.OrganizationalUnit.Id)
		i := len(s.org.OUs)
		s.org.OUs = append(s.org.OUs, OU{ID: id, Name: spec.Name, ParentID: parentID, Path: path})
		ids, err := s.accounts(ctx, id, slug(strings.TrimPrefix(path, "Root/")), spec.Accounts)
		if err != nil {
			return err
		}
		s.org.OUs[i].AccountIDs = ids
		if err := s.ous(ctx, id, path, spec.OUs); err != nil {
			return err
		}
	}
	return nil
}

// accounts creates n accounts named prefix-001... and moves them from the
// root into parentID.
func (s seeder) accounts(ctx context.Context, parentID, prefix string, n int) ([]string, error) {
	var ids []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		email := name + "@example.com"
		id, err := s.createAccount(ctx, name, email)
		if err != nil {
			return nil, fmt.Errorf("seed organization: create account %s: %w", name, err)
		}
		if parentID != s.org.RootID {
			if _, err := s.client.MoveAccount(ctx, &organizations.MoveAccountInput{
				AccountId:           aws.String(id),
				SourceParentId:      aws.String(s.org.RootID),
				DestinationParentId: aws.String(parentID),
			}); err != nil {
				return nil, fmt.Errorf("seed organization: move account %s: %w", name, err)
			}
		}
		s.org.Accounts = append(s.org.Accounts, Account{ID: id, Name: name, Email: email, ParentID: parentID})
		ids = append(ids, id)
	}
	return ids, nil
}

// createAccount creates an account and waits until it exists. Moto creates
// accounts at once; AWS takes minutes, so the wait is bounded by ctx.
func (s seeder) createAccount(ctx context.Context, name, email string) (string, error) {
	out, err := s.client.CreateAccount(ctx, &organizations.CreateAccountInput{
		AccountName: aws.String(name),
		Email:       aws.String(email),
	})
	if err != nil {
		return "", err
	}
	status := out.CreateAccountStatus
	for delay := 50 * time.Millisecond; status.State == orgtypes.CreateAccountStateInProgress; delay = min(2*delay, 5*time.Second) {
		if err := sleep(ctx, delay); err != nil {
			return "", err
		}
		desc, err := s.client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{
			CreateAccountRequestId: status.Id,
		})
		if err != nil {
			return "", err
		}
		status = desc.CreateAccountStatus
	}
	if status.State != orgtypes.CreateAccountStateSucceeded {
		return "", fmt.Errorf("account creation %s: %s", status.State, status.FailureReason)
	}
	return aws.ToString(status.AccountId), nil
}

// slug turns an OU path such as "Workloads/Prod" into "workloads-prod".
func slug(path string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(path) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// sleep waits for d or until ctx ends. It paces polling of an operation in
// another process, never synchronisation within this one.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
