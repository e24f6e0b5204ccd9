package onboarding

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/state"
	"github.com/rolecall/rolecall/internal/verify"
)

// Options adjust NewFunction for the local rehearsal and tests; production
// uses the zero value.
type Options struct {
	// AllowLoopbackHTTP accepts http response and callback URLs on loopback.
	AllowLoopbackHTTP bool
	// HTTPClient sends the custom-resource responses; nil means a default
	// client.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Getenv reads the function's environment; nil means os.Getenv.
	Getenv func(string) string
	// Verify configures the verification engine; its S3PathStyle, Logger
	// and Now are filled in when zero.
	Verify verify.Options
	// STSEndpoint and STSRegion are what the callback's identity proof is
	// signed for; empty means the global STS endpoint the vendor's verifier
	// uses by default.
	STSEndpoint, STSRegion string
	// Callback configures delivery; its Signer, AllowLoopback, Logger and
	// Now are set by the function.
	Callback callback.SenderConfig
	// Metrics receives the metrics lines (embedded metric format); nil
	// means standard output, where Lambda passes them to CloudWatch Logs.
	Metrics io.Writer
}

// Function is the onboarding function: one entry point for the custom
// resources' events and the StackSet instance events.
type Function struct {
	runtime *customresource.Runtime
	service *Service
	getenv  func(string) string
	logger  *slog.Logger
}

// NewFunction builds the function's clients once, from the configuration of
// the function's own identity (its execution role).
func NewFunction(cfg aws.Config, opts Options) *Function {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	local := cfg.BaseEndpoint != nil
	vopts := opts.Verify
	if vopts.Concurrency == 0 {
		vopts.Concurrency = params.FunctionConcurrency
	}
	vopts.S3PathStyle = vopts.S3PathStyle || local
	if vopts.Logger == nil {
		vopts.Logger = logger
	}
	if vopts.Now == nil {
		vopts.Now = now
	}
	svc := &Service{
		Org:      organizations.NewFromConfig(cfg),
		S3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = local }),
		Stacks:   cloudformation.NewFromConfig(cfg),
		Secrets:  secretsmanager.NewFromConfig(cfg),
		Queue:    sqs.NewFromConfig(cfg),
		Verifier: verify.New(cfg, vopts),
		Region:   cfg.Region,
		Metrics:  cmp.Or[io.Writer](opts.Metrics, os.Stdout),
		Now:      now,
		Logger:   logger,
	}
	svc.Settings, svc.SettingsErr = LoadSettings(getenv, opts.AllowLoopbackHTTP)
	if svc.SettingsErr == nil {
		store := state.New(dynamodb.NewFromConfig(cfg), svc.Settings.StateTable)
		svc.State, svc.Ledger = store, store
	}
	// The identity proof is signed for the STS endpoint of the function's
	// own partition, which the vendor's verifier must enable.
	stsEndpoint, stsRegion := opts.STSEndpoint, opts.STSRegion
	if stsEndpoint == "" {
		if part, err := callback.PartitionSTS(callback.PartitionOfRegion(cfg.Region)); err == nil {
			stsEndpoint, stsRegion = part.Endpoint, part.Region
		}
	}
	svc.NewSender = func(secret, audience string) (deliverer, error) {
		signer, err := callback.NewSigner(callback.SignerConfig{
			Secrets:     []string{secret},
			Credentials: cfg.Credentials,
			Audience:    audience,
			STSEndpoint: stsEndpoint,
			STSRegion:   stsRegion,
			Now:         now,
		})
		if err != nil {
			return nil, err
		}
		sc := opts.Callback
		sc.Signer = signer
		sc.AllowLoopback = opts.AllowLoopbackHTTP
		sc.Logger = logger
		sc.Now = now
		return callback.NewSender(sc)
	}
	return &Function{
		service: svc,
		getenv:  getenv,
		logger:  logger,
		runtime: &customresource.Runtime{
			Handler:           svc,
			HTTPClient:        opts.HTTPClient,
			Now:               now,
			Logger:            logger,
			AllowLoopbackHTTP: opts.AllowLoopbackHTTP,
		},
	}
}

// Invoke handles one Lambda invocation: a custom-resource event, a
// StackSet instance event, or the stack's schedule. It returns an error
// only for an event it could not handle at all and that Lambda should
// retry; a custom-resource event is always answered and never retried.
func (f *Function) Invoke(ctx context.Context, raw json.RawMessage) error {
	if IsStackInstanceEvent(raw) {
		return f.service.HandleStackInstanceEvent(ctx, raw)
	}
	if customresource.IsEvent(raw) {
		return f.runtime.Handle(ctx, raw)
	}
	if IsScheduledEvent(raw) {
		_, err := f.service.Reconcile(ctx, raw)
		return err
	}
	f.logger.WarnContext(ctx, "ignored an event that is neither a custom-resource event, a StackSet instance event nor the stack's schedule", "bytes", len(raw))
	return nil
}
