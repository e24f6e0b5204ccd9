package controlplane

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// externalIDRandomChars is the random part of an external ID: 48 base32
// characters, 240 bits.
const externalIDRandomChars = 48

var (
	namePattern       = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} .,&'()_-]{0,127}$`)
	customerIDPattern = regexp.MustCompile(`^cus_[a-z2-7]{16}$`)
)

// checkCustomerID refuses what is not a customer id.
func checkCustomerID(id string) error {
	if !customerIDPattern.MatchString(id) {
		return fmt.Errorf("customer id %q: want cus_ and 16 letters and digits (rolecall-vendor customers list shows them)", id)
	}
	return nil
}

// AddRequest describes a new customer.
type AddRequest struct {
	// Name is the operators' name for the customer (1-128 letters, digits,
	// spaces and .,&'()_-).
	Name string
	// Region is where the customer's Launch Stack link opens; empty means
	// the profile's first publish region.
	Region string
	// Release is the release the link opens (a version), or "latest".
	Release string
	// StackName is the stack name the form suggests; empty means
	// <vendor>-onboarding.
	StackName string
}

// HandOver is what an operator gives a new customer.
type HandOver struct {
	CustomerID string
	Name       string
	// ExternalID goes in the link; Secret is given separately (the form's
	// CallbackSecret field): a link never holds a secret.
	ExternalID string
	Secret     string
	Region     string
	LaunchURL  string
	KeyID      string
}

// AddCustomer mints a customer's external ID and callback secret, stores
// them sealed, and returns the hand-over.
func (s *Service) AddCustomer(ctx context.Context, req AddRequest) (*HandOver, error) {
	if !namePattern.MatchString(req.Name) {
		return nil, fmt.Errorf("customer name %q: use 1 to 128 letters, digits, spaces and .,&'()_- starting with a letter or digit", req.Name)
	}
	region := req.Region
	if region == "" {
		region = s.profile.Regions()[0]
	}
	release := req.Release
	if release == "" {
		release = publish.Latest
	}
	id, err := s.randomToken(16)
	if err != nil {
		return nil, err
	}
	id = "cus_" + id
	externalID, err := s.newExternalID()
	if err != nil {
		return nil, err
	}
	secret, err := callback.GenerateSecret(s.rand)
	if err != nil {
		return nil, err
	}
	keyID, err := callback.KeyIDOf(secret)
	if err != nil {
		return nil, err
	}
	link, err := s.launchURL(region, release, req.StackName, externalID)
	if err != nil {
		return nil, err
	}
	c := &vendordb.Customer{ID: id, Name: req.Name, CreatedAt: s.now().UTC(), Region: region, Release: release,
		ExternalIDHash: hashExternalID(externalID), KeyID: keyID}
	if c.ExternalIDSealed, err = s.keys.Seal([]byte(externalID), aadExternalID(id)); err != nil {
		return nil, err
	}
	if c.SecretSealed, err = s.keys.Seal([]byte(secret), aadSecret(id)); err != nil {
		return nil, err
	}
	eventID, err := s.eventID()
	if err != nil {
		return nil, err
	}
	if err := s.db.AddCustomer(ctx, c, eventID); err != nil {
		return nil, err
	}
	return &HandOver{CustomerID: id, Name: req.Name, ExternalID: externalID, Secret: secret, Region: region, LaunchURL: link, KeyID: keyID}, nil
}

// newExternalID returns "<vendor>-" and 48 random base32 characters.
func (s *Service) newExternalID() (string, error) {
	r, err := s.randomToken(externalIDRandomChars)
	if err != nil {
		return "", err
	}
	id := s.profile.ID + "-" + r
	if err := params.ExternalID.Validate(id); err != nil {
		return "", fmt.Errorf("the vendor id %q makes an invalid external ID: %w", s.profile.ID, err)
	}
	return id, nil
}

func (s *Service) eventID() (string, error) {
	r, err := s.randomToken(20)
	if err != nil {
		return "", err
	}
	return "op_" + r, nil
}

func (s *Service) launchURL(region, release, stackName, externalID string) (string, error) {
	if stackName == "" {
		stackName = s.profile.ID + "-onboarding"
	}
	return publish.LaunchURL(s.profile, publish.Link{Region: region, Release: release, StackName: stackName,
		Values: map[string]string{params.ExternalID.Name: externalID}})
}

// Rotation is what an operator gives a customer to rotate its external ID.
type Rotation struct {
	CustomerID           string
	ExternalID, Previous string
	StackName, Region    string
	// Command is the AWS CLI update that rotates: the new value, the old as
	// PreviousExternalId, every other parameter kept.
	Command   string
	StartedAt time.Time
}

// ErrRotationPending: a rotation is already waiting for its confirmation.
var ErrRotationPending = errors.New("a rotation is already pending")

// RotateExternalID mints a new external ID for a customer, kept pending
// until the stack is confirmed to use it (see closeRotation). With restart,
// a pending rotation is replaced by a new one.
func (s *Service) RotateExternalID(ctx context.Context, customerID string, restart bool) (*Rotation, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, err
	}
	next, err := s.newExternalID()
	if err != nil {
		return nil, err
	}
	eventID, err := s.eventID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var previous string
	c, err := s.db.UpdateCustomer(ctx, customerID, func(c *vendordb.Customer) (*vendordb.Event, error) {
		switch {
		case c.RevokedAt != nil:
			return nil, fmt.Errorf("customer %s was revoked on %s: add it again to onboard it anew", c.ID, c.RevokedAt.Format(time.DateOnly))
		case c.PendingExternalIDSealed != "" && !restart:
			return nil, fmt.Errorf("customer %s: %w since %s; the customer updates the stack with it, or rotate again with --restart for a new value", c.ID, ErrRotationPending, c.RotationStartedAt.Format(time.RFC3339))
		}
		if previous, err = s.openExternalID(c, false); err != nil {
			return nil, err
		}
		sealed, err := s.keys.Seal([]byte(next), aadPendingID(c.ID))
		if err != nil {
			return nil, err
		}
		c.PendingExternalIDSealed, c.PendingExternalIDHash, c.RotationStartedAt = sealed, hashExternalID(next), &now
		return &vendordb.Event{EventID: eventID, Event: vendordb.EventRotationStarted, Outcome: "recorded", OccurredAt: now, ReceivedAt: now}, nil
	})
	if err != nil {
		return nil, err
	}
	stack := s.profile.ID + "-onboarding"
	region := c.Region
	if orgs, err := s.db.OrganizationsOf(ctx, c.ID); err == nil {
		for _, o := range orgs {
			if _, ob, err := s.db.Onboarding(ctx, o.Key); err == nil && ob.StackID != "" {
				stack, region = stackNameOf(ob.StackID), ob.Region
			}
		}
	}
	return &Rotation{CustomerID: c.ID, ExternalID: next, Previous: previous, StackName: stack, Region: region, StartedAt: now,
		Command: rotationCommand(stack, region, next, previous)}, nil
}

// stackNameOf returns the name in a stack ARN.
func stackNameOf(stackID string) string {
	parts := strings.Split(stackID, "/")
	if len(parts) >= 2 {
		return parts[1]
	}
	return stackID
}

// rotationCommand is the AWS CLI update that rotates.
func rotationCommand(stack, region, next, previous string) string {
	args := []string{"aws cloudformation update-stack", "--region " + region, "--stack-name " + stack, "--use-previous-template",
		"--capabilities CAPABILITY_NAMED_IAM", "--parameters",
		"ParameterKey=" + params.ExternalID.Name + ",ParameterValue=" + next,
		"ParameterKey=" + params.PreviousExternalID.Name + ",ParameterValue=" + previous}
	for _, p := range params.All() {
		if p.Name == params.ExternalID.Name || p.Name == params.PreviousExternalID.Name {
			continue
		}
		args = append(args, "ParameterKey="+p.Name+",UsePreviousValue=true")
	}
	return strings.Join(args, " \\\n  ")
}

// closeRotation makes a customer's pending external ID its current one.
func (s *Service) closeRotation(ctx context.Context, customerID, how string) error {
	eventID, err := s.eventID()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	_, err = s.db.UpdateCustomer(ctx, customerID, func(c *vendordb.Customer) (*vendordb.Event, error) {
		if c.PendingExternalIDSealed == "" {
			return nil, nil // closed already
		}
		next, err := s.openExternalID(c, true)
		if err != nil {
			return nil, err
		}
		sealed, err := s.keys.Seal([]byte(next), aadExternalID(c.ID))
		if err != nil {
			return nil, err
		}
		c.ExternalIDSealed, c.ExternalIDHash = sealed, c.PendingExternalIDHash
		c.PendingExternalIDSealed, c.PendingExternalIDHash, c.RotationStartedAt = "", "", nil
		return &vendordb.Event{EventID: eventID, Event: vendordb.EventRotationClosed, Outcome: "recorded", OccurredAt: now, ReceivedAt: now,
			Entry: []byte(fmt.Sprintf(`{"confirmed_by":%q}`, how))}, nil
	})
	if err == nil {
		s.printf("%s customer %s: external-ID rotation closed (%s); the customer may now clear PreviousExternalId\n", now.Format(time.RFC3339), customerID, how)
	}
	return err
}

// RevokeCustomer refuses every later callback of a customer and stops
// confirming its roles. It does not touch the customer's AWS accounts:
// the customer deletes the stack.
func (s *Service) RevokeCustomer(ctx context.Context, customerID, reason string) error {
	if err := checkCustomerID(customerID); err != nil {
		return err
	}
	eventID, err := s.eventID()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	_, err = s.db.UpdateCustomer(ctx, customerID, func(c *vendordb.Customer) (*vendordb.Event, error) {
		if c.RevokedAt != nil {
			return nil, fmt.Errorf("customer %s was revoked already, on %s", c.ID, c.RevokedAt.Format(time.RFC3339))
		}
		c.RevokedAt = &now
		return &vendordb.Event{EventID: eventID, Event: vendordb.EventCustomerRevoked, Outcome: "recorded", OccurredAt: now, ReceivedAt: now,
			Entry: mustJSON(map[string]string{"reason": reason})}, nil
	})
	return err
}

// CustomerView is everything about one customer an operator sees.
type CustomerView struct {
	Customer *vendordb.Customer
	// ExternalID and PendingExternalID are opened; the secret is not.
	ExternalID, PendingExternalID string
	Status                        string
	Organizations                 []OrganizationView
	Events                        []vendordb.Event
}

// OrganizationView is one organization of a customer's.
type OrganizationView struct {
	Row           *vendordb.Organization
	Onboarding    *ledger.Onboarding
	Confirmations map[string]vendordb.Confirmation
}

// Customer returns a customer's view, with its last events (at most
// events of them).
func (s *Service) Customer(ctx context.Context, customerID string, events int) (*CustomerView, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, fmt.Errorf("%w: %w", err, vendordb.ErrNotFound)
	}
	c, err := s.db.Customer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	v := &CustomerView{Customer: c}
	if v.ExternalID, err = s.openExternalID(c, false); err != nil {
		return nil, err
	}
	if c.PendingExternalIDSealed != "" {
		if v.PendingExternalID, err = s.openExternalID(c, true); err != nil {
			return nil, err
		}
	}
	orgs, err := s.db.OrganizationsOf(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		ob, err := s.db.Timeline(ctx, o.Key, 200)
		if err != nil {
			return nil, err
		}
		conf, err := s.db.Confirmations(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		v.Organizations = append(v.Organizations, OrganizationView{Row: o, Onboarding: ob, Confirmations: conf})
	}
	if v.Events, err = s.db.CustomerEvents(ctx, c.ID, events); err != nil {
		return nil, err
	}
	v.Status = StatusOf(c.RevokedAt != nil, orgRows(v.Organizations))
	return v, nil
}

func orgRows(views []OrganizationView) []*vendordb.Organization {
	out := make([]*vendordb.Organization, len(views))
	for i, v := range views {
		out[i] = v.Row
	}
	return out
}

// Customer statuses at a glance (see vendordb.CustomerStatus).
const (
	StatusRevoked   = vendordb.StatusRevoked
	StatusFailed    = vendordb.StatusFailed
	StatusFinding   = vendordb.StatusFinding
	StatusAttention = vendordb.StatusAttention
	StatusDeleted   = vendordb.StatusDeleted
	StatusIssued    = vendordb.StatusIssued
	StatusVerified  = vendordb.StatusVerified
)

// Statuses lists the statuses in the order the page shows them.
func Statuses() []string { return vendordb.Statuses() }

// StatusOf is vendordb.CustomerStatus.
func StatusOf(revoked bool, orgs []*vendordb.Organization) string {
	return vendordb.CustomerStatus(revoked, orgs)
}
