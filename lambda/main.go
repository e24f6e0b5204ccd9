// Command bootstrap is the onboarding function (provided.al2023, arm64):
// it serves the Preflight and RoleVerification custom resources and the
// StackSet instance events. It only wires things together: the logger, one
// AWS configuration for the function's own role, the function, the runtime.
package main

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/sdkbody"
	"github.com/rolecall/rolecall/internal/verify"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	// Lambda says how much memory the function has; the collector is
	// sized to it (verify.TuneRuntime), and turned back on: the template
	// starts the process with GOGC=off for a faster cold start.
	mb, _ := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	verify.TuneRuntime(mb)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRetryMode(aws.RetryModeAdaptive),
		config.WithAPIOptions([]func(*middleware.Stack) error{sdkbody.PlainRequestBody}))
	if err != nil {
		slog.Error("load the AWS configuration", "error", err)
		os.Exit(1)
	}
	fn := onboarding.NewFunction(cfg, localOptions(cfg))
	lambda.Start(fn.Invoke)
}

// localOptions are the zero Options on AWS. Only when AWS_ENDPOINT_URL
// points the SDK at a loopback address (a local AWS emulator, as in the
// rehearsal, where this binary runs under Lambda's runtime interface
// emulator) does the function accept loopback http URLs for its responses
// and callbacks, and sign its identity proof for that endpoint's STS.
func localOptions(cfg aws.Config) onboarding.Options {
	if cfg.BaseEndpoint == nil {
		return onboarding.Options{}
	}
	u, err := url.Parse(*cfg.BaseEndpoint)
	if err != nil {
		return onboarding.Options{}
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return onboarding.Options{}
	}
	return onboarding.Options{AllowLoopbackHTTP: true, STSEndpoint: *cfg.BaseEndpoint, STSRegion: cfg.Region}
}
