package customresource

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestHandleAnswersEachPathExactlyOnce(t *testing.T) {
	defaultID := physicalID(testStackID, testLogicalID)
	markerID := failedCreateID(testStackID, testLogicalID)
	ok := func(context.Context, Request) (Result, error) {
		return Result{Data: map[string]any{"RoleArn": "arn:aws:iam::111122223333:role/reader"}}, nil
	}
	reasonErr := func(context.Context, Request) (Result, error) {
		return Result{}, Failf("external ID mismatch: confirm the value your vendor gave you")
	}
	unexpected := func(context.Context, Request) (Result, error) {
		return Result{}, errors.New("list accounts: throttled")
	}
	panics := func(context.Context, Request) (Result, error) {
		panic("index out of range [3] with length 3")
	}

	tests := []struct {
		name        string
		requestType cfn.RequestType
		edit        func(map[string]any)
		handler     fakeHandler // nil: the handler must not be called
		wantStatus  cfn.StatusType
		wantID      string
		wantReason  string   // the exact Reason, when reasonParts is nil
		reasonParts []string // parts the Reason must contain
		wantData    map[string]any
		wantNoEcho  bool
	}{
		{
			name: "create success gets the stable default ID and the data", requestType: cfn.RequestCreate,
			handler: ok, wantStatus: cfn.StatusSuccess, wantID: defaultID,
			wantData: map[string]any{"RoleArn": "arn:aws:iam::111122223333:role/reader"},
		},
		{
			name: "create success keeps the handler's ID", requestType: cfn.RequestCreate,
			handler: func(context.Context, Request) (Result, error) {
				return Result{PhysicalResourceID: "org-o-abc123", NoEcho: true}, nil
			},
			wantStatus: cfn.StatusSuccess, wantID: "org-o-abc123", wantNoEcho: true,
		},
		{
			name: "create with a reason error fails with its text and the marker ID", requestType: cfn.RequestCreate,
			handler: reasonErr, wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "external ID mismatch: confirm the value your vendor gave you",
		},
		{
			name: "create with a wrapped reason error answers the reason only", requestType: cfn.RequestCreate,
			handler: func(context.Context, Request) (Result, error) {
				return Result{}, fmt.Errorf("verify management account: %w", Failf("security finding: the role can write"))
			},
			wantStatus: cfn.StatusFailed, wantID: markerID, wantReason: "security finding: the role can write",
		},
		{
			name: "create with an unexpected error fails with a generic reason and the error", requestType: cfn.RequestCreate,
			handler: unexpected, wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "internal error (see the function's log): list accounts: throttled",
		},
		{
			name: "create panic fails without a stack trace", requestType: cfn.RequestCreate,
			handler: panics, wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "internal error: the handler panicked (see the function's log)",
		},
		{
			name: "create with an empty reason still fails with a reason", requestType: cfn.RequestCreate,
			handler: func(context.Context, Request) (Result, error) {
				return Result{}, Failf(" \n")
			},
			wantStatus: cfn.StatusFailed, wantID: markerID, wantReason: "failed without a reason",
		},
		{
			name: "create with an invalid handler ID fails", requestType: cfn.RequestCreate,
			handler: func(context.Context, Request) (Result, error) {
				return Result{PhysicalResourceID: failedCreatePrefix + "x"}, nil
			},
			wantStatus: cfn.StatusFailed, wantID: markerID, reasonParts: []string{"reserved prefix"},
		},
		{
			name: "update success keeps the old ID even when the handler names another", requestType: cfn.RequestUpdate,
			handler: func(context.Context, Request) (Result, error) {
				return Result{PhysicalResourceID: "a-replacement"}, nil
			},
			wantStatus: cfn.StatusSuccess, wantID: testOldID,
		},
		{
			name: "update error fails and keeps the old ID", requestType: cfn.RequestUpdate,
			handler: reasonErr, wantStatus: cfn.StatusFailed, wantID: testOldID,
			wantReason: "external ID mismatch: confirm the value your vendor gave you",
		},
		{
			name: "update panic fails and keeps the old ID", requestType: cfn.RequestUpdate,
			handler: panics, wantStatus: cfn.StatusFailed, wantID: testOldID,
			wantReason: "internal error: the handler panicked (see the function's log)",
		},
		{
			name: "delete success", requestType: cfn.RequestDelete,
			handler: ok, wantStatus: cfn.StatusSuccess, wantID: testOldID,
			wantData: map[string]any{"RoleArn": "arn:aws:iam::111122223333:role/reader"},
		},
		{
			name: "delete error still succeeds and says why", requestType: cfn.RequestDelete,
			handler: unexpected, wantStatus: cfn.StatusSuccess, wantID: testOldID,
			wantReason: "deletion continues despite: internal error (see the function's log): list accounts: throttled",
		},
		{
			name: "delete panic still succeeds", requestType: cfn.RequestDelete,
			handler: panics, wantStatus: cfn.StatusSuccess, wantID: testOldID,
			wantReason: "deletion continues despite: internal error: the handler panicked (see the function's log)",
		},
		{
			name: "delete of a failed create succeeds without the handler", requestType: cfn.RequestDelete,
			edit:       func(m map[string]any) { m["PhysicalResourceId"] = markerID },
			wantStatus: cfn.StatusSuccess, wantID: markerID,
		},
		{
			name: "unknown request type fails", requestType: "Replace",
			edit:       func(m map[string]any) { m["PhysicalResourceId"] = testOldID },
			wantStatus: cfn.StatusFailed, wantID: testOldID,
			wantReason: `invalid custom resource event: unknown RequestType "Replace"`,
		},
		{
			name: "missing request type fails with the marker ID", requestType: "",
			edit:       func(m map[string]any) { delete(m, "PhysicalResourceId") },
			wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "invalid custom resource event: RequestType is missing",
		},
		{
			name: "create missing identifiers fails naming them", requestType: cfn.RequestCreate,
			edit:       func(m map[string]any) { delete(m, "StackId"); delete(m, "RequestId") },
			wantStatus: cfn.StatusFailed, wantID: failedCreateID("", testLogicalID),
			wantReason: "invalid custom resource event: StackId is missing; RequestId is missing",
		},
		{
			name: "create with properties that are not an object fails", requestType: cfn.RequestCreate,
			edit:       func(m map[string]any) { m["ResourceProperties"] = "ExternalId=x" },
			wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "invalid custom resource event: ResourceProperties is not a JSON object",
		},
		{
			name: "update without a physical ID fails with the marker ID", requestType: cfn.RequestUpdate,
			edit:       func(m map[string]any) { delete(m, "PhysicalResourceId") },
			wantStatus: cfn.StatusFailed, wantID: markerID,
			wantReason: "invalid custom resource event: PhysicalResourceId is missing",
		},
		{
			name: "invalid delete still succeeds", requestType: cfn.RequestDelete,
			edit:       func(m map[string]any) { delete(m, "LogicalResourceId") },
			wantStatus: cfn.StatusSuccess, wantID: testOldID,
			wantReason: "deletion continues despite: invalid custom resource event: LogicalResourceId is missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newResponseServer(t, nil)
			var calls atomic.Int32
			h := fakeHandler(func(ctx context.Context, req Request) (Result, error) {
				calls.Add(1)
				if tt.handler == nil {
					return Result{}, errors.New("handler called")
				}
				return tt.handler(ctx, req)
			})
			r := newRuntime(h, nil)
			var edits []func(map[string]any)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			if err := r.Handle(farDeadline(t, r), event(t, srv.url(), tt.requestType, edits...)); err != nil {
				t.Fatalf("Handle returned %v, want nil", err)
			}

			got := srv.only(t).response(t)
			if got.Status != tt.wantStatus {
				t.Errorf("Status = %s, want %s (reason %q)", got.Status, tt.wantStatus, got.Reason)
			}
			if got.PhysicalResourceID != tt.wantID {
				t.Errorf("PhysicalResourceId = %q, want %q", got.PhysicalResourceID, tt.wantID)
			}
			if tt.reasonParts == nil && got.Reason != tt.wantReason {
				t.Errorf("Reason = %q, want %q", got.Reason, tt.wantReason)
			}
			for _, part := range tt.reasonParts {
				if !strings.Contains(got.Reason, part) {
					t.Errorf("Reason = %q, want it to contain %q", got.Reason, part)
				}
			}
			if strings.Contains(got.Reason, "goroutine") || strings.Contains(got.Reason, ".go:") {
				t.Errorf("Reason leaks a stack trace: %q", got.Reason)
			}
			if !reflect.DeepEqual(got.Data, tt.wantData) {
				t.Errorf("Data = %v, want %v", got.Data, tt.wantData)
			}
			if got.NoEcho != tt.wantNoEcho {
				t.Errorf("NoEcho = %v, want %v", got.NoEcho, tt.wantNoEcho)
			}
			if got.StackID != "" && got.StackID != testStackID {
				t.Errorf("StackId = %q, want it echoed", got.StackID)
			}
			wantCalls := int32(1)
			if tt.handler == nil {
				wantCalls = 0
			}
			if n := calls.Load(); n != wantCalls {
				t.Errorf("handler called %d times, want %d", n, wantCalls)
			}
		})
	}
}

func TestHandleDoesNotAnswerWithoutUsableResponseURL(t *testing.T) {
	srv := newResponseServer(t, nil)
	tests := []struct {
		name  string
		raw   func(t *testing.T) []byte
		allow bool
	}{
		{"malformed JSON", func(*testing.T) []byte { return []byte(`{"RequestType":"Create","ResponseURL":"` + srv.url()) }, true},
		{"missing ResponseURL", func(t *testing.T) []byte {
			return event(t, "", cfn.RequestCreate, func(m map[string]any) { delete(m, "ResponseURL") })
		}, true},
		{"http ResponseURL without the loopback option", func(t *testing.T) []byte {
			return event(t, srv.url(), cfn.RequestCreate)
		}, false},
		{"ResponseURL that is not a string", func(t *testing.T) []byte {
			return event(t, "", cfn.RequestCreate, func(m map[string]any) { m["ResponseURL"] = 42 })
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) {
				called = true
				return Result{}, nil
			}), nil)
			r.AllowLoopbackHTTP = tt.allow
			if err := r.Handle(context.Background(), tt.raw(t)); err != nil {
				t.Fatalf("Handle returned %v, want nil", err)
			}
			if n := len(srv.requests()); n != 0 {
				t.Errorf("server received %d requests, want none", n)
			}
			if called {
				t.Error("handler was called for an event that cannot be answered")
			}
		})
	}
}

func TestHandlePassesTheRequest(t *testing.T) {
	srv := newResponseServer(t, nil)
	var got Request
	r := newRuntime(fakeHandler(func(_ context.Context, req Request) (Result, error) {
		got = req
		return Result{}, nil
	}), nil)
	if err := r.Handle(context.Background(), event(t, srv.url(), cfn.RequestUpdate)); err != nil {
		t.Fatal(err)
	}
	want := Request{
		RequestType:        cfn.RequestUpdate,
		StackID:            testStackID,
		RequestID:          "5d0f5c6e-8a52-4c2e-9a77-0f1e2d3c4b5a",
		LogicalResourceID:  testLogicalID,
		ResourceType:       "Custom::Onboarding",
		PhysicalResourceID: testOldID,
		Properties: map[string]any{
			"ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:onboarding",
			"ExternalId":   testSecret,
			"Regions":      []any{"eu-west-1", "us-east-1"},
		},
		OldProperties: map[string]any{"ExternalId": testSecret + "-old"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("handler got\n%#v\nwant\n%#v", got, want)
	}
	srv.only(t)
}

func TestHandleReasonPointsToTheInvocationLog(t *testing.T) {
	srv := newResponseServer(t, nil)
	r := newRuntime(fakeHandler(func(context.Context, Request) (Result, error) {
		panic("boom")
	}), nil)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e812345678"})
	if err := r.Handle(ctx, event(t, srv.url(), cfn.RequestCreate)); err != nil {
		t.Fatal(err)
	}
	want := "internal error: the handler panicked (see the function's log, request c6af9ac6-7b61-11e6-9a41-93e812345678)"
	if got := srv.only(t).response(t).Reason; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

func TestHandleDeadline(t *testing.T) {
	tests := []struct {
		requestType cfn.RequestType
		wantStatus  cfn.StatusType
		wantID      string
		wantReason  string
	}{
		{cfn.RequestCreate, cfn.StatusFailed, failedCreateID(testStackID, testLogicalID),
			"timed out while verifying 120 of 500 accounts"},
		{cfn.RequestUpdate, cfn.StatusFailed, testOldID,
			"timed out while verifying 120 of 500 accounts"},
		{cfn.RequestDelete, cfn.StatusSuccess, testOldID,
			"deletion continues despite: timed out while verifying 120 of 500 accounts"},
	}
	for _, tt := range tests {
		t.Run(string(tt.requestType)+" answers once and discards the late result", func(t *testing.T) {
			srv := newResponseServer(t, nil)
			logs := &logBuffer{}
			started := make(chan struct{})
			release := make(chan struct{})
			cancelled := make(chan bool, 1)
			returned := make(chan struct{})
			r := newRuntime(fakeHandler(func(ctx context.Context, _ Request) (Result, error) {
				SetPhase(ctx, "verifying 120 of 500 accounts")
				close(started)
				// A handler that ignores cancellation and returns
				// success after the answer.
				<-release
				cancelled <- ctx.Err() != nil
				return Result{PhysicalResourceID: "late", Data: map[string]any{"Late": "yes"}}, nil
			}), logs)
			fire := make(chan time.Time)
			var wait time.Duration
			r.deadlineTimer = func(d time.Duration) <-chan time.Time {
				wait = d
				go func() {
					<-started
					fire <- time.Time{}
				}()
				return fire
			}
			r.handlerReturned = func() { close(returned) }
			r.DeadlineMargin = 7 * time.Second

			ctx, cancel := context.WithDeadline(context.Background(), r.Now().Add(time.Minute))
			defer cancel()
			if err := r.Handle(ctx, event(t, srv.url(), tt.requestType)); err != nil {
				t.Fatalf("Handle returned %v, want nil", err)
			}
			if want := time.Minute - 7*time.Second; wait != want {
				t.Errorf("deadline guard armed for %v, want %v", wait, want)
			}
			got := srv.only(t).response(t)
			if got.Status != tt.wantStatus || got.PhysicalResourceID != tt.wantID || got.Reason != tt.wantReason {
				t.Errorf("answer = %s %q %q, want %s %q %q",
					got.Status, got.PhysicalResourceID, got.Reason, tt.wantStatus, tt.wantID, tt.wantReason)
			}
			if got.Data != nil {
				t.Errorf("Data = %v, want none", got.Data)
			}

			close(release)
			if !<-cancelled {
				t.Error("handler context was not cancelled at the deadline")
			}
			<-returned
			srv.only(t) // still exactly one response
			if !strings.Contains(logs.String(), "result is discarded") {
				t.Errorf("late result not logged:\n%s", logs)
			}
		})
	}
}

func TestHandleDeadlineWithRealTimer(t *testing.T) {
	srv := newResponseServer(t, nil)
	r := newRuntime(fakeHandler(func(ctx context.Context, _ Request) (Result, error) {
		<-ctx.Done()
		return Result{}, ctx.Err()
	}), nil)
	// Two milliseconds left: the guard fires after one.
	ctx, cancel := context.WithDeadline(context.Background(), r.Now().Add(time.Hour))
	defer cancel()
	dl, _ := ctx.Deadline()
	now := dl.Add(-2 * time.Millisecond)
	r.Now = func() time.Time { return now }

	if err := r.Handle(ctx, event(t, srv.url(), cfn.RequestCreate)); err != nil {
		t.Fatal(err)
	}
	got := srv.only(t).response(t)
	if got.Status != cfn.StatusFailed || got.Reason != "timed out while handling the Create request" {
		t.Errorf("answer = %s %q, want FAILED with the default phase", got.Status, got.Reason)
	}
}

func TestHandleCancelledContextAnswers(t *testing.T) {
	srv := newResponseServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	r := newRuntime(fakeHandler(func(hctx context.Context, _ Request) (Result, error) {
		SetPhase(hctx, "assuming the management role")
		cancel()
		<-release // returns only after the answer, so the answer is the timeout's
		return Result{}, nil
	}), nil)
	if err := r.Handle(ctx, event(t, srv.url(), cfn.RequestUpdate)); err != nil {
		t.Fatal(err)
	}
	got := srv.only(t).response(t)
	if got.Status != cfn.StatusFailed || got.Reason != "timed out while assuming the management role" {
		t.Errorf("answer = %s %q, want FAILED timed out", got.Status, got.Reason)
	}
}

func TestPhysicalIDs(t *testing.T) {
	id := physicalID(testStackID, testLogicalID)
	if !regexp.MustCompile(`^rolecall-Onboarding-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("physicalID = %q, want rolecall-Onboarding-<12 hex>", id)
	}
	if again := physicalID(testStackID, testLogicalID); again != id {
		t.Errorf("physicalID is not stable: %q then %q", id, again)
	}
	if other := physicalID(testStackID+"x", testLogicalID); other == id {
		t.Errorf("physicalID ignores the stack: %q", other)
	}
	if other := physicalID(testStackID, "Other"); other == id {
		t.Errorf("physicalID ignores the logical ID: %q", other)
	}
	marker := failedCreateID(testStackID, testLogicalID)
	if !strings.HasPrefix(marker, failedCreatePrefix) || strings.HasPrefix(id, failedCreatePrefix) {
		t.Errorf("marker %q and default %q are not told apart by %q", marker, id, failedCreatePrefix)
	}
	if got := physicalID("s", strings.Repeat("A\x00-", 500)); len(got) > 160 || strings.ContainsAny(got, "\x00") {
		t.Errorf("physicalID of a hostile logical ID = %q", got)
	}
}

func TestFailMarksReasons(t *testing.T) {
	base := errors.New("bucket cur-reports is in another account")
	err := fmt.Errorf("preflight: %w", Fail(base))
	var re *ReasonError
	if !errors.As(err, &re) || re.Error() != base.Error() {
		t.Errorf("errors.As(%v) = %v, want the ReasonError", err, re)
	}
	if !errors.Is(err, base) {
		t.Error("a ReasonError does not unwrap to its error")
	}
	if Fail(nil) != nil {
		t.Error("Fail(nil) != nil")
	}
	if got := Failf("CUR prefix %q not found", "cur/").Error(); got != `CUR prefix "cur/" not found` {
		t.Errorf("Failf = %q", got)
	}
}

func TestSetPhaseOutsideHandleIsHarmless(t *testing.T) {
	SetPhase(context.Background(), "anything")
}
