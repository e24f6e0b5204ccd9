// Command rolecall-verify proves that the vendor's read-only role works and
// cannot change anything. Run rolecall-verify --help for the flags, statuses
// and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolecall/rolecall/internal/verify/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cli.Env{
		Args:       os.Args[1:],
		Getenv:     os.Getenv,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		LoadConfig: loadConfig,
		Version:    buildVersion(),
	})
	stop()
	os.Exit(code)
}

// version is the release this binary belongs to, set by the release build
// (-ldflags -X main.version=...).
var version string

// buildVersion is version, or the module version go install recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// loadConfig loads the default credential chain, with the profile and
// region given on the command line if any.
func loadConfig(ctx context.Context, profile, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}
