// Command receiver is the vendor-side reference receiver for rolecall
// callbacks: it verifies each callback (Standard Webhooks signature and
// AWS identity proof), stores accepted onboardings as one JSON file per
// organization under --data-dir, and prints one line per event.
//
//	ROLECALL_CALLBACK_SECRET=whsec_... receiver --audience hooks.vendor.example --data-dir ./onboardings
//
// The secret is read from $ROLECALL_CALLBACK_SECRET (several, separated by
// spaces, during a rotation) unless --secret is given; prefer the
// environment, as command lines are visible to other users. SIGINT or
// SIGTERM stops it gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/receiver"
)

// secretEnv holds the signing secret(s) when --secret is not given.
const secretEnv = "ROLECALL_CALLBACK_SECRET" //nolint:gosec // G101: a variable name, not a secret

func main() {
	var opts receiver.Options
	flag.StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	flag.StringVar(&opts.Path, "path", "", "URL path callbacks are POSTed to (default: any path)")
	flag.Func("secret", "a whsec_ signing secret; repeat during a rotation (default: $"+secretEnv+")", func(s string) error {
		opts.Secrets = append(opts.Secrets, s)
		return nil
	})
	flag.StringVar(&opts.Audience, "audience", "", "the audience bound into identity proofs: your vendor profile's callback audience (required)")
	flag.StringVar(&opts.STSEndpoint, "sts-endpoint", callback.DefaultSTSEndpoint, "STS endpoint identity proofs are verified against (a local emulator's in demos)")
	flag.StringVar(&opts.STSRegion, "sts-region", callback.DefaultSTSRegion, "signing region of the STS endpoint")
	flag.StringVar(&opts.DataDir, "data-dir", "onboardings", "directory of the stored onboardings, one JSON file per organization")
	flag.Int64Var(&opts.MaxBodyMiB, "max-body-mib", 16, "largest callback body accepted, in MiB")
	flag.StringVar(&opts.TLSCert, "tls-cert", "", "serve TLS with this certificate file (with --tls-key)")
	flag.StringVar(&opts.TLSKey, "tls-key", "", "serve TLS with this key file (with --tls-cert)")
	flag.Parse()
	if len(opts.Secrets) == 0 {
		opts.Secrets = strings.Fields(os.Getenv(secretEnv))
	}
	if len(opts.Secrets) == 0 || opts.Audience == "" {
		fmt.Fprintf(os.Stderr, "rolecall-receiver: set $%s (or --secret) and --audience\n", secretEnv)
		os.Exit(2)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := receiver.Run(ctx, opts, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
