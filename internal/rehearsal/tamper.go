package rehearsal

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
)

// A Tampering is something a customer's administrator does to a member
// role after the onboarding, which the next verification must catch.
type Tampering struct {
	// Name is what TAMPER= takes.
	Name string
	// What says in a line what was done.
	What string
	// Want is the status the account must end with.
	Want callback.Status
	// apply changes the role; undo puts it back.
	apply func(ctx context.Context, c *iam.Client, role string) (undo func(context.Context) error, err error)
}

// Tamperings returns the variants the rehearsal can show, in order.
func Tamperings() []Tampering {
	attach := func(ctx context.Context, c *iam.Client, role, name, doc string) (func(context.Context) error, error) {
		pol, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		if err != nil {
			return nil, err
		}
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: pol.Policy.Arn}); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: pol.Policy.Arn})
			return err
		}, nil
	}
	inline := func(ctx context.Context, c *iam.Client, role, name, doc string) (func(context.Context) error, error) {
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
			return err
		}, nil
	}
	return []Tampering{
		{
			Name: "admin", What: `attached a customer-managed administrator policy BreakGlassAdmin (Action "*")`, Want: callback.StatusFinding,
			apply: func(ctx context.Context, c *iam.Client, role string) (func(context.Context) error, error) {
				return attach(ctx, c, role, "BreakGlassAdmin", emulator.AllowPolicy("*"))
			},
		},
		{
			Name: "wildcard", What: `added an inline policy uploads allowing "s3:Put*" on every bucket`, Want: callback.StatusFinding,
			apply: func(ctx context.Context, c *iam.Client, role string) (func(context.Context) error, error) {
				return inline(ctx, c, role, "uploads", `{"Version":"2012-10-17","Statement":[{"Sid":"Uploads","Effect":"Allow","Action":"s3:Put*","Resource":"*"}]}`)
			},
		},
		{
			Name: "denyself", What: "attached a policy allowing ec2:TerminateInstances, and denied the role's own reads of managed policies", Want: callback.StatusUnverifiable,
			apply: func(ctx context.Context, c *iam.Client, role string) (func(context.Context) error, error) {
				undoWrite, err := attach(ctx, c, role, "Operations", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:TerminateInstances","Resource":"*"}]}`)
				if err != nil {
					return nil, err
				}
				undoDeny, err := inline(ctx, c, role, "no-self-check", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["iam:GetPolicy","iam:GetPolicyVersion"],"Resource":"*"}]}`)
				if err != nil {
					return nil, err
				}
				return func(ctx context.Context) error {
					if err := undoDeny(ctx); err != nil {
						return err
					}
					return undoWrite(ctx)
				}, nil
			},
		},
	}
}

// ParseTamper turns TAMPER= (a comma-separated list of variant names, or
// "1" or "all") into variants.
func ParseTamper(s string) ([]Tampering, error) {
	all := Tamperings()
	switch strings.TrimSpace(s) {
	case "":
		return nil, nil
	case "1":
		return all[:1], nil
	case "all":
		return all, nil
	}
	var out []Tampering
	var names []string
	for _, t := range all {
		names = append(names, t.Name)
	}
	for _, name := range strings.Split(s, ",") {
		i := slices.IndexFunc(all, func(t Tampering) bool { return t.Name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("TAMPER=%q: %q is not a variant; use %s, all, or a comma-separated list of them", s, name, strings.Join(names, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Tampered is what one variant led to.
type Tampered struct {
	Variant string
	Account string
	// Update is the function's answer to the update that followed: FAILED.
	Update Response
	// Rollback is its answer to CloudFormation's rollback: SUCCESS.
	Rollback Response
	// Stored is the account as the vendor stored it.
	Stored callback.Account
}

// tamper applies each variant to its own member role, updates the stack
// (which must fail, and tell the vendor), plays the rollback (which must
// succeed), and puts the role back.
func (r *rehearsal) tamper(ctx context.Context) error {
	for i, t := range r.opts.Tamper {
		victim := r.org.Accounts[(len(r.org.Accounts)/2+i)%len(r.org.Accounts)]
		acct, err := r.aws.AccountConfig(ctx, victim.ID)
		if err != nil {
			return err
		}
		client := iam.NewFromConfig(acct)
		undo, err := t.apply(ctx, client, r.opts.Profile.RoleName)
		if err != nil {
			return fmt.Errorf("tamper %s: %w", t.Name, err)
		}
		r.printf("   [%s] someone in %s (%s) %s on %s\n", t.Name, victim.Name, victim.ID, t.What, r.opts.Profile.RoleName)
		props, err := r.d.stack.Properties(synth.VerificationLogicalID)
		if err != nil {
			return err
		}
		res := Tampered{Variant: t.Name, Account: victim.ID}
		r.stack.SetStatus("UPDATE_IN_PROGRESS")
		res.Update, err = r.invoke(ctx, r.event(cfn.RequestUpdate, synth.VerificationLogicalID, params.VerificationType, props, r.res.Create.PhysicalResourceID), cfn.StatusFailed)
		if err != nil {
			return fmt.Errorf("tamper %s: a member role can write or cannot be proven read-only, yet: %w", t.Name, err)
		}
		stored, err := r.stored(ctx)
		if err != nil {
			return err
		}
		for _, a := range stored.Accounts {
			if a.AccountID == victim.ID {
				res.Stored = a
			}
		}
		r.printf("     vendor: %s is %s", victim.ID, res.Stored.Status)
		for _, f := range res.Stored.Findings {
			label := f.Action
			if f.NotAction {
				label = "NotAction " + strings.Join(f.Patterns, ",")
			}
			r.printf("; finding %s %q in %s statement %s", f.Kind, label, f.Source, f.Statement)
		}
		for _, u := range res.Stored.Unproven {
			r.printf("; unproven %s on %s (%s)", u.Check, u.Target, u.Code)
		}
		r.printf("\n")
		if res.Stored.Status != t.Want {
			return fmt.Errorf("tamper %s: the vendor stored %s for %s, want %s", t.Name, res.Stored.Status, victim.ID, t.Want)
		}
		// CloudFormation rolls the update back and sends the old
		// properties; the function answers SUCCESS so the rollback
		// completes, and says what it found.
		r.stack.SetStatus("UPDATE_ROLLBACK_IN_PROGRESS")
		res.Rollback, err = r.invoke(ctx, r.event(cfn.RequestUpdate, synth.VerificationLogicalID, params.VerificationType, props, r.res.Create.PhysicalResourceID), cfn.StatusSuccess, params.DataVerificationStatus)
		if err != nil {
			return fmt.Errorf("tamper %s: the rollback: %w", t.Name, err)
		}
		r.stack.SetStatus("UPDATE_ROLLBACK_COMPLETE")
		if err := undo(ctx); err != nil {
			return fmt.Errorf("tamper %s: undo: %w", t.Name, err)
		}
		r.printf("   [%s] the customer removed it again\n", t.Name)
		r.res.Tampered = append(r.res.Tampered, res)
	}
	return nil
}
