// Command rolecall-receiver is the vendor-side reference receiver for rolecall
// callbacks: it verifies each callback (Standard Webhooks signature and
// AWS identity proof), stores accepted onboardings as one JSON file per
// organization under --data-dir, and prints one line per event.
//
//	ROLECALL_CALLBACK_SECRET=whsec_... rolecall-receiver --audience hooks.vendor.example --data-dir ./onboardings
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
	flag.Func("partitions", "comma-separated AWS partitions whose customers you onboard: aws, aws-us-gov, aws-cn (default aws); each proof is checked with its partition's STS", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			if _, err := callback.PartitionSTS(p); err != nil {
				return err
			}
			opts.Partitions = append(opts.Partitions, p)
		}
		return nil
	})
	flag.StringVar(&opts.STSEndpoint, "sts-endpoint", "", "one STS endpoint identity proofs are verified against instead (a local emulator's in demos)")
	flag.StringVar(&opts.STSRegion, "sts-region", callback.DefaultSTSRegion, "signing region of --sts-endpoint")
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
		fmt.Fprintln(os.Stderr, "rolecall-receiver:", err)
		os.Exit(1)
	}
}
