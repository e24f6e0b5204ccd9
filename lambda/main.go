// Command bootstrap is the onboarding function (provided.al2023, arm64):
// it serves the Preflight and RoleVerification custom resources and the
// StackSet instance events. It only wires things together: the logger, one
// AWS configuration for the function's own role, the function, the runtime.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolecall/rolecall/internal/onboarding"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRetryMode(aws.RetryModeAdaptive))
	if err != nil {
		slog.Error("load the AWS configuration", "error", err)
		os.Exit(1)
	}
	fn := onboarding.NewFunction(cfg, onboarding.Options{})
	lambda.Start(fn.Invoke)
}
