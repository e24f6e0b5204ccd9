package emulator_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

const supportsParentDeathSignal = runtime.GOOS == "linux"

// newOrphanMaker returns a command that runs this test binary as the child
// of TestMotoDiesWithTheProcessThatStartedIt.
func newOrphanMaker(ctx context.Context, exe string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestMotoDiesWithTheProcessThatStartedIt$")
	cmd.Env = append(os.Environ(), "EMULATOR_TEST_ORPHAN=1")
	cmd.Stderr = os.Stderr
	return cmd
}

func readLine(r io.Reader) (string, error) {
	return bufio.NewReader(r).ReadString('\n')
}

// wantErrorCode fails t unless err carries the AWS error code want.
func wantErrorCode(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want an AWS API error %s", err, want)
	}
	if apiErr.ErrorCode() != want {
		t.Fatalf("got error code %q (%v), want %q", apiErr.ErrorCode(), err, want)
	}
}

// httpStatus returns the HTTP status of the response that err came from,
// or 0.
func httpStatus(err error) int {
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}

// wantOutcome checks the outcome of a call: no error if code is empty,
// else an AWS API error with that code.
func wantOutcome(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		return
	}
	wantErrorCode(t, err, code)
}

// wantAllowed checks the outcome of a call: no error if allowed is true,
// AccessDenied otherwise.
func wantAllowed(t *testing.T, err error, allowed bool) {
	t.Helper()
	code := "AccessDenied"
	if allowed {
		code = ""
	}
	wantOutcome(t, err, code)
}
