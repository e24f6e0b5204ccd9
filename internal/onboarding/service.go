package onboarding

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/params"
)

// Service serves the onboarding's custom resources and events. Build it once
// per process with the clients of the function's own identity.
type Service struct {
	Org     orgAPI
	S3      bucketAPI
	Stacks  stacksAPI
	Secrets secretsAPI
	// Queue counts the dead-letter queue's events; nil means not counted.
	Queue     queueAPI
	Verifier  verifier
	NewSender SenderFactory
	// State keeps each account's last verification; nil means none (the
	// deletion then reports every account unverifiable).
	State stateAPI
	// Ledger is the state table's outbox, lease and conditional records,
	// which the scheduled re-verification needs; nil refuses scheduled
	// runs.
	Ledger ledgerAPI
	// Metrics receives the verification's metrics in CloudWatch's
	// embedded metric format (emitMetrics); nil writes none.
	Metrics io.Writer

	// Settings come from the function's environment; SettingsErr, if set,
	// says why they are unusable, and every event is answered with it.
	Settings    Settings
	SettingsErr error

	// CallbackBudget is kept back from verification for the callback;
	// zero means DefaultCallbackBudget.
	CallbackBudget time.Duration

	// Region is the region the function runs in: the default inventory
	// region and the StackSet instances' region.
	Region string
	Now    func() time.Time
	Logger *slog.Logger

	// stampMu guards lastStamp, the outbox's last creation time (stamp).
	stampMu   sync.Mutex
	lastStamp time.Time
}

var _ customresource.Handler = (*Service)(nil)

// Create serves a Create request for either resource type.
func (s *Service) Create(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	return s.dispatch(ctx, req)
}

// Update serves an Update request for either resource type.
func (s *Service) Update(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	return s.dispatch(ctx, req)
}

// Delete serves a Delete request for either resource type.
func (s *Service) Delete(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	return s.dispatch(ctx, req)
}

func (s *Service) dispatch(ctx context.Context, req customresource.Request) (customresource.Result, error) {
	if s.SettingsErr != nil {
		return customresource.Result{}, customresource.Fail(s.SettingsErr)
	}
	if err := s.checkOrigin(ctx, req); err != nil {
		return customresource.Result{}, err
	}
	switch req.ResourceType {
	case params.PreflightType:
		if req.RequestType == cfn.RequestDelete {
			return customresource.Result{}, nil
		}
		return s.preflight(ctx, req)
	case params.VerificationType:
		return s.verification(ctx, req)
	}
	return customresource.Result{}, customresource.Failf("resource type %q is not served by this function (it serves %s and %s): check the template", req.ResourceType, params.PreflightType, params.VerificationType)
}
