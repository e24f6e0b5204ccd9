package rehearsal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// AWS's Lambda Runtime Interface Emulator, pinned. Its release tags (such
// as v1.30) are not Go module versions, so the pin is the module proxy's
// pseudo-version of the newest commit when it was chosen.
const (
	RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// rieFunctionARN is the function ARN the emulator hands the runtime
// (Lambda-Runtime-Invoked-Function-Arn): it is fixed in its source, region
// us-east-1 and account 012345678912, whatever the environment says. The
// rehearsal gives the template's function this ARN, so the custom
// resources' ServiceToken is the function Lambda says is running.
const rieFunctionARN = "arn:aws:lambda:us-east-1:012345678912:function:"

// Runtime is the real function and the emulator that runs it.
type Runtime struct {
	// RIE is the aws-lambda-rie binary; Bootstrap the onboarding function
	// built for this host (linux, the host's architecture).
	RIE, Bootstrap string
}

// BuildRuntime installs the pinned emulator into dir and builds the
// function's bootstrap there from the module at root, as `make build` does
// but for the host's architecture, so the emulator can run it.
func BuildRuntime(ctx context.Context, root, dir string) (Runtime, error) {
	if runtime.GOOS != "linux" {
		return Runtime{}, fmt.Errorf("the Lambda runtime emulator runs on linux only, not %s", runtime.GOOS)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Runtime{}, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return Runtime{}, err
	}
	rt := Runtime{RIE: filepath.Join(abs, "aws-lambda-rie"), Bootstrap: filepath.Join(abs, "bootstrap")}
	install := exec.CommandContext(ctx, "go", "install", RIEPackage+"@"+RIEVersion)
	install.Env = append(os.Environ(), "GOBIN="+abs)
	if out, err := install.CombinedOutput(); err != nil {
		return Runtime{}, fmt.Errorf("install the Lambda runtime emulator: %w\n%s", err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", rt.Bootstrap, "./lambda") //nolint:gosec // the output path is ours
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		return Runtime{}, fmt.Errorf("build the function's bootstrap: %w\n%s", err, out)
	}
	return rt, nil
}

// rieFunction is the bootstrap running under the emulator, one process
// per function.
type rieFunction struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startRIE starts the emulator on a free loopback port with the runtime's
// whole environment env (the emulator passes its own on), and waits until
// it listens.
func startRIE(ctx context.Context, rt Runtime, env map[string]string, log io.Writer) (*rieFunction, error) {
	// Two free loopback ports: the invoke endpoint, and the runtime API
	// the bootstrap polls (its default, 9001, would clash between two
	// functions).
	var addrs []string
	var lns []net.Listener
	for range 2 {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	addr := addrs[0]
	// The process outlives this call: stop ends it, not ctx.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), rt.RIE, "--runtime-interface-emulator-address", addr, "--runtime-api-address", addrs[1], rt.Bootstrap) //nolint:gosec // our own binaries
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range env {
			if !yield(k) {
				return
			}
		}
	}) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the Lambda runtime emulator: %w", err)
	}
	f := &rieFunction{cmd: cmd, url: "http://" + addr + "/2015-03-31/functions/function/invocations", done: make(chan error, 1)}
	go func() { f.done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return f, nil
		}
		select {
		case err := <-f.done:
			return nil, fmt.Errorf("the Lambda runtime emulator exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			_ = f.stop()
			return nil, fmt.Errorf("the Lambda runtime emulator does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// invoke sends one event through the emulator's invoke endpoint, as
// Lambda's Invoke API would, and returns the function's error, if any.
func (f *rieFunction) invoke(ctx context.Context, event json.RawMessage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(event))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoke the function: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return fmt.Errorf("invoke the function: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("invoke the function: HTTP %d: %s", resp.StatusCode, clipString(string(body), 300))
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &fnErr) == nil && (fnErr.ErrorMessage != "" || fnErr.ErrorType != "") {
		return errors.New(fnErr.ErrorMessage)
	}
	if strings.HasPrefix(string(body), "Task timed out") {
		return errors.New(string(body))
	}
	return nil
}

// stop ends the emulator and its runtime.
func (f *rieFunction) stop() error {
	if f == nil || f.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM)
	// The exit status is the signal's; nothing to report.
	select {
	case err := <-f.done:
		_ = err
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		err := <-f.done
		_ = err
	}
	return nil
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
