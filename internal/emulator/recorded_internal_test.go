package emulator

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// A request through the front survives an authorisation window that
// starts while it is in flight: the window waits for the request, the
// request waits for the window. A client that held the server's gate too
// (as Through's configs once did) would deadlock here: its read lock held,
// the window waiting for it, the front's own read lock waiting for the
// window.
func TestRequestsThroughTheFrontSurviveAWindowThatStartsMidway(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	fakes, err := srv.StartRecordedFakes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fakes.Close() }()

	windowOpen := make(chan struct{})
	fakes.mu.Lock()
	fakes.received = func() {
		go func() {
			srv.gate.Lock() // a window, as AccountConfig opens one
			close(windowOpen)
			time.Sleep(100 * time.Millisecond)
			srv.gate.Unlock()
		}()
		// Let the window's Lock start waiting, if anything holds the gate.
		time.Sleep(200 * time.Millisecond)
	}
	fakes.mu.Unlock()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if _, err := sts.NewFromConfig(fakes.Config()).GetCallerIdentity(rctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("a request through the front during a window: %v", err)
	}
	select {
	case <-windowOpen:
	case <-ctx.Done():
		t.Fatal("the window never opened")
	}
}
