package onboarding

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/customresource"
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
}

// Function is the onboarding function: one entry point for the custom
// resources' events and the StackSet instance events.
type Function struct {
	runtime *customresource.Runtime
	service *Service
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
	svc := &Service{
		Org:               organizations.NewFromConfig(cfg),
		S3:                s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
		Region:            cfg.Region,
		AllowLoopbackHTTP: opts.AllowLoopbackHTTP,
		Now:               now,
		Logger:            logger,
	}
	return &Function{
		service: svc,
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

// Invoke handles one Lambda invocation. It returns an error only for an
// event it could not handle at all and that Lambda should retry; a
// custom-resource event is always answered and never retried.
func (f *Function) Invoke(ctx context.Context, raw json.RawMessage) error {
	if customresource.IsEvent(raw) {
		return f.runtime.Handle(ctx, raw)
	}
	f.logger.WarnContext(ctx, "ignored an event that is neither a custom-resource event nor a StackSet instance event", "bytes", len(raw))
	return nil
}
