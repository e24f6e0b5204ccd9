// Package emulatortest starts a local AWS (package emulator) for one test.
package emulatortest

import (
	"bytes"
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
