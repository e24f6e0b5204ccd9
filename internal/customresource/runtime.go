package customresource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Handler does the work of a custom resource. Each method returns the
// resource's attributes, or an error: a *ReasonError (see Fail) whose text
// the runtime answers as it is, or any other error, answered as unexpected.
// The context is cancelled when the invocation's deadline comes within the
// runtime's margin; by then the runtime has answered, and what the method
// returns is discarded. A method must then return promptly and start
// nothing new: its goroutine is not stopped, and Lambda freezes it with the
// execution environment, to run on during a later invocation.
type Handler interface {
	Create(ctx context.Context, req Request) (Result, error)
	Update(ctx context.Context, req Request) (Result, error)
	Delete(ctx context.Context, req Request) (Result, error)
}

// Result is what a successful Handler method returns.
type Result struct {
	// PhysicalResourceID names the resource. It is read on Create only,
	// where it replaces the runtime's stable default; an Update always
	// keeps the ID it was sent, so that CloudFormation never sees a
	// replacement.
	PhysicalResourceID string
	// Data are the attributes Fn::GetAtt reads; values should be strings.
	// The runtime shortens or drops values that would not fit the
	// response, and then sets the key "DataTruncated".
	Data map[string]any
	// NoEcho asks CloudFormation to mask Data wherever it shows it.
	NoEcho bool
}

// Defaults for the Runtime fields left zero.
const (
	// DefaultDeadlineMargin leaves time for a few tries at the response
	// PUT after the handler is given up on.
	DefaultDeadlineMargin = 10 * time.Second
	// DefaultSendTimeout bounds one try at the response PUT; S3 answers a
	// 4 KB PUT in well under a second.
	DefaultSendTimeout = 4 * time.Second
	// DefaultMaxSendAttempts bounds the tries at the response PUT.
	DefaultMaxSendAttempts = 5
)

// Runtime answers CloudFormation custom-resource events with a Handler.
// A Runtime with only Handler set is ready to use. It is safe for concurrent
// use, and its fields must not change once Handle has been called.
//
// The deadline guard uses the deadline of the context given to Handle,
// which Lambda always sets; without one, the handler runs until it returns.
type Runtime struct {
	// Handler does the work.
	Handler Handler
	// HTTPClient sends the response; nil means http.DefaultClient. The
	// runtime bounds each try with a context, so the client needs no
	// Timeout of its own.
	HTTPClient *http.Client
	// Now is the clock for the durations in the log and for how much time
	// is left when an event arrives; nil means time.Now.
	Now func() time.Time
	// DeadlineMargin is how long before the invocation's deadline the
	// handler is given up on. It is capped at half the time left when the
	// event arrives, so that a short function timeout still leaves the
	// handler some time. Zero means DefaultDeadlineMargin.
	DeadlineMargin time.Duration
	// SendTimeout bounds one try at the response PUT; zero means
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// MaxSendAttempts bounds the tries at the response PUT; zero means
	// DefaultMaxSendAttempts.
	MaxSendAttempts int
	// Logger receives one line per event and one per outcome; nil means
	// slog.Default().
	Logger *slog.Logger
	// AllowLoopbackHTTP accepts a plain-http ResponseURL on a loopback
	// host, for tests against httptest or a local S3 emulator. Otherwise
	// only https is answered.
	AllowLoopbackHTTP bool

	// retryDelay, when set, replaces the backoff between tries (tests).
	retryDelay func(attempt int) time.Duration
	// deadlineTimer, when set, replaces the timer that fires when the
	// handler is given up on (tests).
	deadlineTimer func(wait time.Duration) <-chan time.Time
	// handlerReturned, when set, is called once a handler has returned and
	// its result has been used or discarded (tests).
	handlerReturned func()
}

// Handle is the Lambda entry point for custom-resource events. It parses
// raw, runs the Handler, and answers CloudFormation exactly once, as
// described in the package documentation.
//
// Handle always returns nil, even when the event was malformed or the
// response could not be delivered: for an asynchronous invocation, as
// CloudFormation's is, an error makes Lambda invoke the function again,
// which would run the handler and its side effects a second time while the
// first answer stands. Every failure is logged instead.
func (r *Runtime) Handle(ctx context.Context, raw json.RawMessage) error {
	start := r.now()
	log := r.logger()
	ev, err := parseEvent(raw, r.AllowLoopbackHTTP)
	// The CloudFormation request ID is logged as cfnRequestId: the Lambda
	// logger adds the invocation's own ID as requestId.
	log.InfoContext(ctx, "custom resource event received",
		"requestType", clip(string(ev.RequestType), 40),
		"logicalResourceId", clip(ev.LogicalResourceID, maxLogicalIDLen),
		"stackId", clip(ev.StackID, maxStackIDLen),
		"cfnRequestId", clip(ev.RequestID, maxRequestIDLen),
	)

	var a answer
	switch {
	case err != nil && ev.ResponseURL == "":
		log.ErrorContext(ctx, "custom resource event cannot be answered", "error", err.Error())
		return nil
	case err != nil:
		log.ErrorContext(ctx, "custom resource event is invalid", "error", err.Error())
		a = failure(ev, err.Error())
	case ev.RequestType == cfn.RequestDelete && strings.HasPrefix(ev.PhysicalResourceID, failedCreatePrefix):
		log.InfoContext(ctx, "custom resource was never created; its delete succeeds without the handler")
		a = answer{status: cfn.StatusSuccess, physicalID: ev.PhysicalResourceID}
	default:
		a = r.run(ctx, ev)
	}
	r.respond(ctx, ev, a, start)
	return nil
}

// outcome is what a handler call ended with.
type outcome struct {
	res      Result
	err      error
	panicked bool
}

// run calls the handler and turns its outcome, or the approach of the
// deadline, into an answer.
func (r *Runtime) run(ctx context.Context, ev cfn.Event) answer {
	ph := &phase{}
	hctx, cancel := context.WithCancel(context.WithValue(ctx, phaseKey{}, ph))
	defer cancel()

	// The handler and the deadline race to decide the answer; the first to
	// swap winner from undecided decides, so a late handler result can
	// never make a second answer.
	const (
		undecided int32 = iota
		handlerWon
		deadlineWon
	)
	var winner atomic.Int32
	done := make(chan outcome, 1)
	go func() {
		o := r.call(hctx, requestOf(ev))
		if winner.CompareAndSwap(undecided, handlerWon) {
			done <- o
		} else {
			r.logger().WarnContext(ctx, "custom resource handler returned after the deadline answer; its result is discarded",
				"failed", o.panicked || o.err != nil)
		}
		if r.handlerReturned != nil {
			r.handlerReturned()
		}
	}()

	var deadline <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(r.now())
		wait := left - min(r.deadlineMargin(), left/2)
		if r.deadlineTimer != nil {
			deadline = r.deadlineTimer(wait)
		} else {
			t := time.NewTimer(wait)
			defer t.Stop()
			deadline = t.C
		}
	}
	select {
	case o := <-done:
		return r.outcomeAnswer(ctx, ev, o)
	case <-deadline:
	case <-ctx.Done():
	}
	if !winner.CompareAndSwap(undecided, deadlineWon) {
		return r.outcomeAnswer(ctx, ev, <-done)
	}
	cancel()
	doing := ph.get()
	if doing == "" {
		doing = "handling the " + string(ev.RequestType) + " request"
	}
	r.logger().WarnContext(ctx, "custom resource handler timed out", "phase", doing)
	return failure(ev, "timed out while "+doing)
}

// call runs the handler method for the request type and recovers a panic,
// logging its stack: the stack belongs in the log, never in a Reason.
func (r *Runtime) call(ctx context.Context, req Request) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			r.logger().ErrorContext(ctx, "custom resource handler panicked",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			o = outcome{panicked: true}
		}
	}()
	switch req.RequestType {
	case cfn.RequestCreate:
		o.res, o.err = r.Handler.Create(ctx, req)
	case cfn.RequestUpdate:
		o.res, o.err = r.Handler.Update(ctx, req)
	case cfn.RequestDelete:
		o.res, o.err = r.Handler.Delete(ctx, req)
	}
	return o
}

// outcomeAnswer turns a handler outcome into an answer.
func (r *Runtime) outcomeAnswer(ctx context.Context, ev cfn.Event, o outcome) answer {
	log := r.logger()
	if o.panicked {
		return failure(ev, "internal error: the handler panicked"+logHint(ctx))
	}
	if o.err != nil {
		var re *ReasonError
		if errors.As(o.err, &re) {
			log.WarnContext(ctx, "custom resource handler failed", "error", o.err.Error())
			return failure(ev, re.Error())
		}
		log.ErrorContext(ctx, "custom resource handler failed unexpectedly", "error", o.err.Error())
		return failure(ev, "internal error"+logHint(ctx)+": "+o.err.Error())
	}

	id := ev.PhysicalResourceID
	switch ev.RequestType {
	case cfn.RequestCreate:
		id = physicalID(ev.StackID, ev.LogicalResourceID)
		if got := o.res.PhysicalResourceID; got != "" {
			if problem := checkPhysicalID(got); problem != "" {
				log.ErrorContext(ctx, "custom resource handler returned an invalid physical resource ID", "problem", problem)
				return failure(ev, "internal error"+logHint(ctx)+": the handler returned a physical resource ID that "+problem)
			}
			id = got
		}
	case cfn.RequestUpdate:
		if got := o.res.PhysicalResourceID; got != "" && got != id {
			log.WarnContext(ctx, "custom resource handler asked for a new physical resource ID on update; keeping the old one")
		}
	}
	return answer{status: cfn.StatusSuccess, physicalID: id, data: o.res.Data, noEcho: o.res.NoEcho}
}

// checkPhysicalID says why a handler's physical ID cannot be answered, or
// "" if it can.
func checkPhysicalID(id string) string {
	switch {
	case len(id) > maxPhysicalIDLen:
		return fmt.Sprintf("is longer than %d bytes", maxPhysicalIDLen)
	case strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "contains control characters"
	case strings.HasPrefix(id, failedCreatePrefix):
		return "starts with the reserved prefix " + failedCreatePrefix
	}
	return ""
}

// failure answers an event that went wrong. A Delete is answered SUCCESS
// all the same, because nothing may block stack deletion; its Reason still
// says what went wrong.
func failure(ev cfn.Event, reason string) answer {
	if ev.RequestType == cfn.RequestDelete {
		id := ev.PhysicalResourceID
		if id == "" {
			id = physicalID(ev.StackID, ev.LogicalResourceID)
		}
		return answer{status: cfn.StatusSuccess, physicalID: id, reason: "deletion continues despite: " + reason}
	}
	id := ev.PhysicalResourceID
	if ev.RequestType == cfn.RequestCreate || id == "" {
		id = failedCreateID(ev.StackID, ev.LogicalResourceID)
	}
	return answer{status: cfn.StatusFailed, physicalID: id, reason: reason}
}

// logHint points the reader of a Reason to the log lines of this
// invocation.
func logHint(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return " (see the function's log, request " + lc.AwsRequestID + ")"
	}
	return " (see the function's log)"
}

// respond sends the answer and logs the outcome.
func (r *Runtime) respond(ctx context.Context, ev cfn.Event, a answer, start time.Time) {
	log := r.logger()
	body, resp, note := encodeResponse(ev, a)
	if note != "" {
		log.WarnContext(ctx, "custom resource data cut to fit the response", "note", note)
	}
	attempts, err := r.send(ctx, ev.ResponseURL, body)
	attrs := []any{
		"status", string(resp.Status),
		"physicalResourceId", resp.PhysicalResourceID,
		"attempts", attempts,
		"duration", r.now().Sub(start),
		"reason", resp.Reason,
	}
	if err != nil {
		log.ErrorContext(ctx, "custom resource response not delivered; CloudFormation waits for its own timeout",
			append(attrs, "error", err.Error())...)
		return
	}
	log.InfoContext(ctx, "custom resource response sent", attrs...)
}

func (r *Runtime) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runtime) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Runtime) deadlineMargin() time.Duration {
	if r.DeadlineMargin > 0 {
		return r.DeadlineMargin
	}
	return DefaultDeadlineMargin
}
