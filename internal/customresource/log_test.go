package customresource

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// TestLogsNeverHoldTheResponseURLOrProperties runs every answer path with a
// secret property and a signed ResponseURL, and checks that the log has one
// line per event and one per outcome, lowerCamel keys, and neither secret.
func TestLogsNeverHoldTheResponseURLOrProperties(t *testing.T) {
	ok := func(context.Context, Request) (Result, error) { return Result{}, nil }
	big := func(context.Context, Request) (Result, error) {
		data := make(map[string]any, 5000)
		for i := range 5000 {
			data[accountID(i)] = "verified"
		}
		return Result{Data: data}, nil
	}
	blocks := func(ctx context.Context, _ Request) (Result, error) {
		SetPhase(ctx, "verifying 3 of 9 accounts")
		<-ctx.Done()
		return Result{}, ctx.Err()
	}
	tests := []struct {
		name        string
		requestType cfn.RequestType
		edit        func(map[string]any)
		handler     func(context.Context, Request) (Result, error)
		reply       func(n int, w http.ResponseWriter, r *http.Request)
		closed      bool   // the server is gone: the send fails on the network
		url         string // replaces the server's URL when set
		allowHTTP   bool
		deadline    bool
		outcome     string // the outcome line's message
	}{
		{name: "create success", requestType: cfn.RequestCreate, handler: ok, outcome: "sent"},
		{name: "create with data cut to fit", requestType: cfn.RequestCreate, handler: big, outcome: "sent"},
		{name: "create reason error", requestType: cfn.RequestCreate, outcome: "sent",
			handler: func(context.Context, Request) (Result, error) { return Result{}, Failf("CUR bucket not found") }},
		{name: "update unexpected error", requestType: cfn.RequestUpdate, outcome: "sent",
			handler: func(context.Context, Request) (Result, error) { return Result{}, errors.New("assume role: denied") }},
		{name: "delete panic", requestType: cfn.RequestDelete, outcome: "sent",
			handler: func(context.Context, Request) (Result, error) { panic("nil map") }},
		{name: "delete of a failed create", requestType: cfn.RequestDelete, handler: ok, outcome: "sent",
			edit: func(m map[string]any) { m["PhysicalResourceId"] = failedCreateID(testStackID, testLogicalID) }},
		{name: "unknown request type", requestType: "Replace", handler: ok, outcome: "sent"},
		{name: "invalid event", requestType: cfn.RequestCreate, handler: ok, outcome: "sent",
			edit: func(m map[string]any) { delete(m, "StackId") }},
		{name: "deadline", requestType: cfn.RequestCreate, handler: blocks, deadline: true, outcome: "sent"},
		{name: "send refused", requestType: cfn.RequestCreate, handler: ok, outcome: "not delivered",
			reply: func(_ int, w http.ResponseWriter, _ *http.Request) { s3Error(w, http.StatusForbidden, "AccessDenied") }},
		{name: "send network error", requestType: cfn.RequestCreate, handler: ok, closed: true, outcome: "not delivered"},
		{name: "http URL not allowed", requestType: cfn.RequestCreate, handler: ok, allowHTTP: false, outcome: "none",
			url: "http://s3.amazonaws.com/cfn/r?X-Amz-Signature=" + testSignature},
		{name: "unparseable URL", requestType: cfn.RequestCreate, handler: ok, outcome: "none",
			url: "https://s3.amazonaws.com/%zz?X-Amz-Signature=" + testSignature},
	}
	outcomes := map[string]string{
		"sent":          "custom resource response sent",
		"not delivered": "custom resource response not delivered; CloudFormation waits for its own timeout",
		"none":          "custom resource event cannot be answered",
	}
	lowerCamel := regexp.MustCompile(`^[a-z][a-zA-Z]*$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newResponseServer(t, tt.reply)
			url := srv.url()
			if tt.url != "" {
				url = tt.url
			}
			if tt.closed {
				srv.Close()
			}
			logs := &logBuffer{}
			r := newRuntime(fakeHandler(tt.handler), logs)
			r.MaxSendAttempts = 2
			r.AllowLoopbackHTTP = tt.url == "" || tt.allowHTTP
			ctx := context.Background()
			if tt.deadline {
				ctx = farDeadline(t, r)
				fire := make(chan time.Time, 1)
				fire <- time.Time{}
				r.deadlineTimer = func(time.Duration) <-chan time.Time { return fire }
			}
			var edits []func(map[string]any)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			if err := r.Handle(ctx, event(t, url, tt.requestType, edits...)); err != nil {
				t.Fatal(err)
			}

			out := logs.String()
			for _, secret := range []string{url, testSignature, testSecret, srv.URL} {
				if strings.Contains(out, secret) {
					t.Errorf("log holds %q:\n%s", secret, out)
				}
			}
			counts := map[string]int{}
			for _, line := range logs.lines(t) {
				msg, _ := line["msg"].(string)
				counts[msg]++
				for k := range line {
					if !lowerCamel.MatchString(k) {
						t.Errorf("log key %q in %q is not lowerCamel", k, msg)
					}
				}
			}
			if n := counts["custom resource event received"]; n != 1 {
				t.Errorf("%d arrival lines, want 1", n)
			}
			outcomeLines := 0
			for _, msg := range outcomes {
				outcomeLines += counts[msg]
			}
			if outcomeLines != 1 || counts[outcomes[tt.outcome]] != 1 {
				t.Errorf("outcome lines %v, want exactly one %q", counts, outcomes[tt.outcome])
			}

			arrival := logs.find(t, "custom resource event received")
			for _, k := range []string{"requestType", "logicalResourceId", "stackId", "cfnRequestId"} {
				if _, ok := arrival[k]; !ok {
					t.Errorf("arrival line lacks %q: %v", k, arrival)
				}
			}
			if tt.outcome != "none" {
				line := logs.find(t, outcomes[tt.outcome])
				for _, k := range []string{"status", "physicalResourceId", "attempts", "duration", "reason"} {
					if _, ok := line[k]; !ok {
						t.Errorf("outcome line lacks %q: %v", k, line)
					}
				}
			}
		})
	}
}
