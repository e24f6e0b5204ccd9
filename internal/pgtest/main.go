package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shared is the cluster Main runs for a test package and Database hands
// out, started by the first test that asks.
var shared struct {
	mu      sync.Mutex
	inMain  bool // Main is running the package's tests
	started bool // Start has been called (cluster or err is set)
	cluster *Cluster
	err     error
}

// Main runs a test package whose tests share one cluster through Database,
// and returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// m is a *testing.M, or anything that runs the tests (to combine it with
// another package's Main).
//
// The cluster starts when the first test calls Database (so a run whose
// tests need no database starts none) and stops when the tests are done,
// when m.Run panics, and on SIGINT or SIGTERM (the binary then dies of the
// signal). A panicking test or a timeout ends the binary at once, before
// any deferred call; on Linux the kernel then kills the server, and the
// next Start removes the directory left behind. If stopping fails, the
// exit code is 1.
func Main(m interface{ Run() int }) (code int) {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			_ = stopShared()
			signal.Stop(sigs)
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), s)
				time.Sleep(time.Second) // another handler caught it
			}
			os.Exit(1)
		case <-finished:
		}
	}()

	defer func() {
		close(finished)
		signal.Stop(sigs)
		if err := stopShared(); err != nil {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			code = 1
		}
	}()
	return m.Run()
}

// stopShared stops the shared cluster if it was started, and makes
// Database refuse to start another.
func stopShared() error {
	shared.mu.Lock()
	shared.inMain = false
	c := shared.cluster
	shared.mu.Unlock()
	if c == nil {
		return nil
	}
	if err := c.Stop(); err != nil {
		return fmt.Errorf("pgtest: stop the package's shared cluster: %w", err)
	}
	return nil
}

// errNoMain is sharedCluster's error outside Main.
var errNoMain = errors.New("pgtest.Database needs the package's shared cluster, which pgtest.Main runs; " +
	"add func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) } to the package's tests, " +
	"or start a cluster of the test's own with pgtest.Start")

// sharedCluster is the package's shared cluster, started on first use.
func sharedCluster() (*Cluster, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		return nil, errNoMain
	}
	if !shared.started {
		shared.started = true
		shared.cluster, shared.err = Start(context.Background())
		if shared.err != nil {
			shared.err = fmt.Errorf("start the package's shared cluster: %w", shared.err)
		}
	}
	return shared.cluster, shared.err
}

// Database creates a new empty database on the package's shared cluster
// (see Main) and returns its DSN. It fails t, with what to do, if the
// package's TestMain does not use Main or the cluster cannot start, and
// does not skip it. The database lasts until the cluster stops; tests
// that run in parallel each get their own.
func Database(t testing.TB) string {
	t.Helper()
	c, err := sharedCluster()
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := c.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
