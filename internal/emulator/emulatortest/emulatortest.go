// Package emulatortest starts a local AWS (package emulator) for one test,
// or one for a whole test package (Shared).
package emulatortest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/emulator"
)

// Start starts a moto server for t, stopped when t and its subtests end,
// with IAM authorisation enforced and the administrator bootstrapped. It
// fails t (it does not skip it) if moto cannot start, for example because
// moto_server is missing: the message says to run `make tools`. If t fails,
// the end of moto's output is logged.
//
// Each call starts a server of its own (about half a second), so tests may
// run in parallel without sharing state.
func Start(t testing.TB) *emulator.Server {
	t.Helper()
	return StartWith(t, emulator.Options{})
}

// StartWith is Start with options, such as AuthOff for a stand-in of
// CloudFormation's response bucket, or a raw moto_server to pin moto's
// own behaviour. Output is always the test's tail buffer.
func StartWith(t testing.TB, opts emulator.Options) *emulator.Server {
	t.Helper()
	out := &tailBuffer{}
	opts.Output = out
	srv, err := emulator.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start local AWS: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop local AWS: %v", err)
		}
		if t.Failed() {
			t.Logf("moto output (last %d bytes):\n%s", tailSize, out.String())
		}
	})
	return srv
}

// shared is the server Shared hands out, started on first use.
var shared struct {
	once sync.Once
	srv  *emulator.Server
	out  *tailBuffer
	err  error
}

// Shared returns one moto server for the whole test binary, started by the
// first test that asks (about a second saved per test that shares it). The
// tests that share it must keep out of each other's way: each its own
// tables, users, roles and accounts, and none that resets or reconfigures
// the server. A package that uses it stops it in TestMain with Main. If t
// fails, the end of moto's output is logged.
func Shared(t testing.TB) *emulator.Server {
	t.Helper()
	shared.once.Do(func() {
		shared.out = &tailBuffer{}
		shared.srv, shared.err = emulator.Start(context.Background(), emulator.Options{Output: shared.out})
	})
	if shared.err != nil {
		t.Fatalf("start local AWS: %v", shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto output, shared by the package's tests (last %d bytes):\n%s", tailSize, shared.out.String())
		}
	})
	return shared.srv
}

// Main runs a test package that uses Shared, and stops the shared server
// when its tests are done: call it from TestMain. m is a *testing.M, or
// anything that runs the tests (RunFunc combines it with another Main).
func Main(m interface{ Run() int }) {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the shared local AWS: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// RunFunc runs tests as a function: emulatortest.Main(RunFunc(func() int
// { return pgtest.Main(m) })) shares moto and PostgreSQL in one package.
type RunFunc func() int

// Run implements Main's argument.
func (f RunFunc) Run() int { return f() }

const tailSize = 16 << 10

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailSize {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.ToValidUTF8(b.buf, nil))
}
