// Package cli is rolecall-vendor's command line: the flags, the
// subcommands and what they print. cmd/rolecall-vendor calls Main.
package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/controlplane"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
	"github.com/rolecall/rolecall/internal/verify"
)

// Environment variables read.
const (
	EnvDatabase = "ROLECALL_VENDOR_DATABASE"
	EnvProfile  = "ROLECALL_VENDOR_PROFILE"
)

// DefaultDatabase is the SQLite file used when no database is given.
const DefaultDatabase = "rolecall-vendor.db"

const usage = `rolecall-vendor: the vendor's control plane for rolecall onboardings.

Usage:
  rolecall-vendor customers add --name NAME [--region R] [--release V|latest] [--stack-name S] [--json]
  rolecall-vendor customers list [--json] [--limit N]
  rolecall-vendor customers show CUSTOMER_ID [--json]
  rolecall-vendor customers rotate CUSTOMER_ID [--restart]
  rolecall-vendor customers revoke CUSTOMER_ID [--reason TEXT]
  rolecall-vendor customers confirm CUSTOMER_ID       (needs the ingestion principal's AWS credentials)
  rolecall-vendor serve [--listen ADDR] [--confirm] [--tls-cert F --tls-key F]
  rolecall-vendor token                                (a new random access token for $ROLECALL_VENDOR_TOKEN)
  rolecall-vendor keys new [--id ID]
  rolecall-vendor keys rewrap
  rolecall-vendor migrate
  rolecall-vendor backup --to FILE                     (SQLite; PostgreSQL: pg_dump)

Every command takes:
  --database D   SQLite file path (default rolecall-vendor.db) or postgres://...  ($ROLECALL_VENDOR_DATABASE)
  --profile P    the vendor profile: a YAML file, or an id in ./vendors            ($ROLECALL_VENDOR_PROFILE)

Secrets are sealed with the keys in $ROLECALL_VENDOR_KEYS (make one with "keys new");
serve guards the page and the API with $ROLECALL_VENDOR_TOKEN.
`

// Env is what Main reads from outside: the environment and the clock.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is called with serve's listening address.
	Ready func(addr string)
}

// Main runs rolecall-vendor with args (without the program name) and
// returns the exit code: 0 done, 1 failed, 2 bad usage.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	args = globalsLast(args)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "customers":
		if len(args) < 2 {
			err = usageError("customers: name an action: add, list, show, rotate, revoke or confirm")
			break
		}
		err = customers(ctx, args[1], args[2:], env)
	case "serve":
		err = serve(ctx, args[1:], env)
	case "keys":
		if len(args) < 2 {
			err = usageError("keys: name an action: new or rewrap")
			break
		}
		err = keys(ctx, args[1], args[2:], env)
	case "migrate":
		err = migrate(ctx, args[1:], env)
	case "backup":
		err = backup(ctx, args[1:], env)
	case "token":
		if len(args) > 1 {
			err = usageError("token takes no arguments")
			break
		}
		b := make([]byte, 24)
		if _, err = rand.Read(b); err == nil {
			fmt.Fprintln(env.Stdout, hex.EncodeToString(b))
		}
	default:
		err = usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "rolecall-vendor: %s\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "rolecall-vendor: %s\n", err)
		return 1
	}
}

// globalsLast moves --database and --profile given before the command
// after it, where each command's flags are parsed.
func globalsLast(args []string) []string {
	var globals []string
	for len(args) > 0 {
		a := args[0]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "database" && name != "profile") {
			break
		}
		if hasValue || len(args) == 1 {
			globals, args = append(globals, a), args[1:]
			continue
		}
		globals, args = append(globals, a, args[1]), args[2:]
	}
	if len(args) == 0 {
		return globals
	}
	n := 1 // the command
	if (args[0] == "customers" || args[0] == "keys") && len(args) > 1 {
		n = 2 // and its action
	}
	out := append([]string{}, args[:n]...)
	out = append(out, globals...)
	return append(out, args[n:]...)
}

type usageError string

func (e usageError) Error() string { return string(e) }

// common are the flags every command takes.
type common struct {
	database, profile string
}

func newFlags(name string, env Env) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &common{}
	fs.StringVar(&c.database, "database", cmp.Or(env.Getenv(EnvDatabase), DefaultDatabase), "SQLite file path or postgres:// URL")
	fs.StringVar(&c.profile, "profile", env.Getenv(EnvProfile), "vendor profile: a YAML file, or an id in ./vendors")
	return fs, c
}

// parse parses args, allowing flags after positional arguments too.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(fmt.Sprintf("%s: %v", fs.Name(), err))
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *common) loadProfile() (*profile.Profile, error) {
	switch {
	case c.profile == "":
		return nil, usageError("no vendor profile: pass --profile (a YAML file, or an id in ./vendors) or set $" + EnvProfile)
	case strings.HasSuffix(c.profile, ".yaml") || strings.HasSuffix(c.profile, ".yml") || strings.ContainsRune(c.profile, os.PathSeparator):
		return profile.Load(c.profile)
	}
	return profile.Find("vendors", c.profile)
}

func (c *common) open(ctx context.Context) (*vendordb.DB, error) {
	return vendordb.Open(ctx, c.database, vendordb.Options{})
}

// service opens everything a command that reads or writes customers needs.
func (c *common) service(ctx context.Context, env Env, extra func(*controlplane.Config)) (*controlplane.Service, func(), error) {
	p, err := c.loadProfile()
	if err != nil {
		return nil, nil, err
	}
	keys, err := vault.ParseKeys(env.Getenv(vault.EnvKeys))
	if err != nil {
		return nil, nil, fmt.Errorf("$%s: %w", vault.EnvKeys, err)
	}
	db, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := controlplane.Config{DB: db, Keys: keys, Profile: p, Out: env.Stdout, Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))}
	if extra != nil {
		extra(&cfg)
	}
	s, err := controlplane.New(cfg)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return s, func() { _ = s.Close(context.WithoutCancel(ctx)); _ = db.Close() }, nil
}

func customers(ctx context.Context, action string, args []string, env Env) error {
	fs, c := newFlags("customers "+action, env)
	switch action {
	case "add":
		var req controlplane.AddRequest
		fs.StringVar(&req.Name, "name", "", "the customer's name (required)")
		fs.StringVar(&req.Region, "region", "", "region the Launch Stack link opens (default: the profile's first)")
		fs.StringVar(&req.Release, "release", "latest", "release the link opens: a version, or latest")
		fs.StringVar(&req.StackName, "stack-name", "", "stack name the form suggests (default <vendor>-onboarding)")
		asJSON := fs.Bool("json", false, "print the hand-over as JSON")
		if err := noPositional(fs, args); err != nil {
			return err
		}
		if req.Name == "" {
			return usageError("customers add: --name is required")
		}
		s, done, err := c.service(ctx, env, nil)
		if err != nil {
			return err
		}
		defer done()
		h, err := s.AddCustomer(ctx, req)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(env.Stdout, h)
		}
		printHandOver(env.Stdout, h)
		return nil
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		limit := fs.Int("limit", 1000, "at most this many customers")
		if err := noPositional(fs, args); err != nil {
			return err
		}
		db, err := c.open(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		return listCustomers(ctx, db, *limit, *asJSON, env.Stdout)
	case "show", "rotate", "revoke", "confirm":
		asJSON := fs.Bool("json", false, "print JSON (show)")
		restart := fs.Bool("restart", false, "rotate: replace a pending rotation with a new value")
		reason := fs.String("reason", "", "revoke: why, for the log")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError(fmt.Sprintf("customers %s: give one customer id (customers list shows them)", action))
		}
		var extra func(*controlplane.Config)
		if action == "confirm" {
			confirmer, err := awsConfirmer(ctx)
			if err != nil {
				return err
			}
			extra = func(cfg *controlplane.Config) { cfg.Confirmer = confirmer }
		}
		s, done, err := c.service(ctx, env, extra)
		if err != nil {
			return err
		}
		defer done()
		switch action {
		case "show":
			v, err := s.Customer(ctx, pos[0], 50)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(env.Stdout, v)
			}
			printCustomer(env.Stdout, v)
			return nil
		case "rotate":
			r, err := s.RotateExternalID(ctx, pos[0], *restart)
			if err != nil {
				return err
			}
			printRotation(env.Stdout, r)
			return nil
		case "revoke":
			if err := s.RevokeCustomer(ctx, pos[0], *reason); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "customer %s revoked: its callbacks are refused from now on. Ask the customer to delete the stack to remove the roles.\n", pos[0])
			return nil
		default:
			orgs, err := s.DB().OrganizationsOf(ctx, pos[0])
			if err != nil {
				return err
			}
			if len(orgs) == 0 {
				return fmt.Errorf("customer %s has no organization yet: nothing to confirm until its stack calls back", pos[0])
			}
			for _, o := range orgs {
				if err := s.ConfirmOrganization(ctx, pos[0], o.Key); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return usageError(fmt.Sprintf("customers: unknown action %q: add, list, show, rotate, revoke or confirm", action))
}

func noPositional(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), pos[0]))
	}
	return nil
}

// awsConfirmer builds the vendor's confirmer from the default AWS
// credential chain: the ingestion principal's role or profile.
func awsConfirmer(ctx context.Context) (controlplane.Confirmer, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("--confirm: load the AWS credentials of your ingestion principal: %w", err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("--confirm: no AWS credentials for your ingestion principal (%w): run where it can assume customer roles, or leave --confirm out", err)
	}
	return controlplane.EngineConfirmer{Engine: verify.New(cfg, verify.Options{Concurrency: 64})}, nil
}

func serve(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("serve", env)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	tlsCert := fs.String("tls-cert", "", "serve TLS with this certificate (with --tls-key)")
	tlsKey := fs.String("tls-key", "", "serve TLS with this key (with --tls-cert)")
	confirm := fs.Bool("confirm", false, "confirm every reported role with your ingestion principal's AWS credentials (default chain)")
	stsEndpoint := fs.String("sts-endpoint", "", "one STS endpoint identity proofs are checked against instead of each partition's (a local emulator's)")
	stsRegion := fs.String("sts-region", callback.DefaultSTSRegion, "signing region of --sts-endpoint")
	maxBody := fs.Int64("max-body-mib", 16, "largest callback body accepted, in MiB")
	if err := noPositional(fs, args); err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usageError("serve: give both --tls-cert and --tls-key, or neither")
	}
	if *maxBody < 1 || *maxBody > 256 {
		return usageError("serve: --max-body-mib must be 1 to 256")
	}
	token := env.Getenv(controlplane.EnvToken)
	var confirmer controlplane.Confirmer
	if *confirm {
		var err error
		if confirmer, err = awsConfirmer(ctx); err != nil {
			return err
		}
	}
	s, done, err := c.service(ctx, env, func(cfg *controlplane.Config) {
		cfg.Confirmer, cfg.STSEndpoint, cfg.STSRegion, cfg.MaxBodyBytes = confirmer, *stsEndpoint, *stsRegion, *maxBody<<20
	})
	if err != nil {
		return err
	}
	defer done()
	p, _ := c.loadProfile()
	u, err := url.Parse(p.Callback.URL)
	if err != nil {
		return err
	}
	h, err := s.Handler(controlplane.HandlerOptions{CallbackPath: u.Path, Token: token})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	log.Info("rolecall-vendor listening", "addr", ln.Addr().String(), "callbackPath", u.Path, "database", s.DB().Where(),
		"audience", p.Callback.Audience, "confirm", *confirm, "tls", *tlsCert != "")
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	go pruneReplay(ctx, s.DB(), log)
	return controlplane.Serve(ctx, ln, h, *tlsCert, *tlsKey)
}

// pruneReplay deletes expired replay ids every ten minutes.
func pruneReplay(ctx context.Context, db *vendordb.DB, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := db.ReplayPrune(ctx, time.Now()); err != nil {
				log.Warn("replay cache not pruned", "err", err)
			}
		}
	}
}

func keys(ctx context.Context, action string, args []string, env Env) error {
	fs, c := newFlags("keys "+action, env)
	switch action {
	case "new":
		id := fs.String("id", time.Now().UTC().Format("k20060102"), "the key's id (1-16 of a-z, 0-9, -)")
		if err := noPositional(fs, args); err != nil {
			return err
		}
		line, err := vault.NewKey(*id)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, line)
		fmt.Fprintf(env.Stderr, "Put it first in $%s (space separated; the first seals, all open), keep it in your secret store, then run: rolecall-vendor keys rewrap\n", vault.EnvKeys)
		return nil
	case "rewrap":
		if err := noPositional(fs, args); err != nil {
			return err
		}
		ring, err := vault.ParseKeys(env.Getenv(vault.EnvKeys))
		if err != nil {
			return fmt.Errorf("$%s: %w", vault.EnvKeys, err)
		}
		db, err := c.open(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		n, total, err := controlplane.Rewrap(ctx, db, ring)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "keys rewrap: %d of %d sealed values moved to key %s; every value is now under it, so older keys may leave $%s\n", n, total, ring.CurrentID(), vault.EnvKeys)
		return nil
	}
	return usageError(fmt.Sprintf("keys: unknown action %q: new or rewrap", action))
}

func migrate(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("migrate", env)
	if err := noPositional(fs, args); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "migrate: %s (%s) is at schema version %d, the latest this build knows\n", db.Where(), db.Dialect(), v)
	return nil
}

func backup(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("backup", env)
	to := fs.String("to", "", "the backup file to write (must not exist)")
	if err := noPositional(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usageError("backup: --to FILE is required")
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, *to); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backup: %s written (mode 0600). The secrets in it are sealed: keep $%s's keys backed up apart from it, or it cannot be read.\n", *to, vault.EnvKeys)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printHandOver(w io.Writer, h *controlplane.HandOver) {
	fmt.Fprintf(w, "Customer %s added: %s\n\n", h.Name, h.CustomerID)
	fmt.Fprintf(w, "Give the customer these two things, separately:\n\n")
	fmt.Fprintf(w, "1. The Launch Stack link (%s; it fills in the external ID):\n\n   %s\n\n", h.Region, h.LaunchURL)
	fmt.Fprintf(w, "2. The callback secret, for the form's CallbackSecret field (through your secret-sharing channel, never in the link):\n\n   %s\n\n", h.Secret)
	fmt.Fprintf(w, "External ID: %s\n", h.ExternalID)
	fmt.Fprintf(w, "The secret is stored sealed and is not shown again. Its key id is %s.\n", h.KeyID)
}

func printRotation(w io.Writer, r *controlplane.Rotation) {
	fmt.Fprintf(w, "External-ID rotation started for %s.\n\n", r.CustomerID)
	fmt.Fprintf(w, "Ask the customer to update the stack %s (%s) with:\n\n", r.StackName, r.Region)
	fmt.Fprintf(w, "  ExternalId         = %s\n  PreviousExternalId = %s\n\nand every other parameter unchanged. With the AWS CLI:\n\n%s\n\n", r.ExternalID, r.Previous, r.Command)
	fmt.Fprintf(w, "Every role then trusts both values. The rotation closes when the new value is confirmed: by your own\n")
	fmt.Fprintf(w, "assumption of every role (serve --confirm), or else by the stack's callback with external_id_rotated.\n")
	fmt.Fprintf(w, "Then the customer updates the stack again with PreviousExternalId empty.\n")
}

func listCustomers(ctx context.Context, db *vendordb.DB, limit int, asJSON bool, out io.Writer) error {
	var all []*vendordb.Listed
	opts := vendordb.ListOptions{Limit: min(limit, 1000)}
	for len(all) < limit {
		page, err := db.ListCustomers(ctx, opts)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < opts.Limit {
			break
		}
		last := page[len(page)-1]
		opts.AfterName, opts.AfterID = last.Name, last.ID
	}
	if len(all) > limit {
		all = all[:limit]
	}
	if asJSON {
		return writeJSON(out, all)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tMANAGEMENT\tACCOUNTS\tVERIFIED\tCONFIRMED\tADDED")
	for _, l := range all {
		var counts callback.Counts
		confirmed := 0
		for _, o := range l.Organizations {
			counts.Merge(o.Counts)
			confirmed += o.Confirmed
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", l.ID, l.Name, vendordb.CustomerStatus(l.RevokedAt != nil, l.Organizations),
			cmp.Or(l.ManagementAccountID, "-"), counts.Accounts, counts.Verified, confirmed, l.CreatedAt.Format(time.DateOnly))
	}
	return tw.Flush()
}

func printCustomer(w io.Writer, v *controlplane.CustomerView) {
	c := v.Customer
	fmt.Fprintf(w, "%s (%s): %s\n", c.Name, c.ID, v.Status)
	fmt.Fprintf(w, "  added %s; link region %s, release %s\n", c.CreatedAt.Format(time.RFC3339), c.Region, c.Release)
	if c.ManagementAccountID != "" {
		fmt.Fprintf(w, "  bound to management account %s on %s\n", c.ManagementAccountID, c.BoundAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "  not bound yet: no verified callback\n")
	}
	fmt.Fprintf(w, "  external ID %s\n", v.ExternalID)
	if v.PendingExternalID != "" {
		fmt.Fprintf(w, "  rotating to %s since %s\n", v.PendingExternalID, c.RotationStartedAt.Format(time.RFC3339))
	}
	if c.RevokedAt != nil {
		fmt.Fprintf(w, "  revoked %s\n", c.RevokedAt.Format(time.RFC3339))
	}
	for _, o := range v.Organizations {
		cnt := o.Row.Counts
		fmt.Fprintf(w, "  organization %s: %s, %d accounts (%d verified, %d gaps, %d finding, %d unverifiable, %d unreachable); vendor confirmed %d\n",
			o.Row.Key, o.Row.Status, cnt.Accounts, cnt.Verified, cnt.Gaps, cnt.Finding, cnt.Unverifiable, cnt.Unreachable, o.Row.Confirmed)
		for _, a := range o.Onboarding.Accounts {
			conf := o.Confirmations[a.AccountID].Status
			fmt.Fprintf(w, "    %s  %-12s %s%s\n", a.AccountID, a.Status, a.RoleARN, map[bool]string{true: "  vendor: " + conf, false: ""}[conf != ""])
		}
	}
	fmt.Fprintf(w, "  last events:\n")
	for _, e := range v.Events {
		fmt.Fprintf(w, "    #%d %s %-30s %s\n", e.Seq, e.ReceivedAt.Format(time.RFC3339), e.Event, e.Outcome)
	}
}
