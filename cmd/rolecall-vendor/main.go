// Command rolecall-vendor is the vendor's control plane for rolecall
// onboardings: it issues each customer's external ID and callback secret,
// receives every customer's callbacks, shows the onboardings to the
// vendor's operators, serves them to ingestion systems as JSON, and
// confirms every reported role with the vendor's own credentials.
//
//	rolecall-vendor --profile vendors/<vendor>.yaml customers add --name "Example Corp"
//	ROLECALL_VENDOR_TOKEN=... rolecall-vendor --profile <vendor> serve --listen :8080
//
// Run it without arguments for the full usage. SIGINT or SIGTERM stops
// serve gracefully.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolecall/rolecall/internal/controlplane/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
