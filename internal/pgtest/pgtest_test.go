package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// query runs sql against dsn with psql and returns what it prints.
func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{bin: bin}
	cmd := exec.CommandContext(t.Context(), c.tool("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql -c %q against %s: %v\n%s", sql, dsn, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestDatabasesAreDistinctAndWork(t *testing.T) {
	t.Parallel()
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("two calls of Database returned the same DSN %s", a)
	}
	for _, dsn := range []string{a, b} {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("Database returned %q, not a URL: %v", dsn, err)
		}
		if u.Scheme != "postgres" || u.Hostname() != "127.0.0.1" || u.Query().Get("sslmode") != "disable" || u.User.Username() != superuser {
			t.Errorf("Database returned %s, want postgres://%s:PASSWORD@127.0.0.1:PORT/NAME?sslmode=disable", dsn, superuser)
		}
		if got := query(t, dsn, "select 1"); got != "1" {
			t.Errorf("select 1 against %s printed %q", dsn, got)
		}
		if got, want := query(t, dsn, "select current_database()"), strings.TrimPrefix(u.Path, "/"); got != want {
			t.Errorf("the DSN %s reaches database %q, want %q", dsn, got, want)
		}
	}
	// A table in one database is not in the other.
	query(t, a, "create table only_in_a (id int)")
	if got := query(t, b, "select count(*) from pg_tables where tablename = 'only_in_a'"); got != "0" {
		t.Errorf("a table created in %s is visible in %s", a, b)
	}
}

// Tests that run in parallel may create databases at the same moment.
func TestDatabaseInParallel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			dsn := Database(t)
			if got := query(t, dsn, "select 1"); got != "1" {
				t.Errorf("select 1 against %s printed %q", dsn, got)
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[dsn] {
				t.Errorf("Database returned %s twice", dsn)
			}
			seen[dsn] = true
		})
	}
}

func TestStopRemovesEverything(t *testing.T) {
	t.Parallel()
	c, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()
	dsn, err := c.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, dsn, "select 1"); got != "1" {
		t.Fatalf("select 1 against %s printed %q", dsn, got)
	}
	if got := query(t, c.DSN("postgres"), "select current_setting('fsync') || ' ' || current_setting('listen_addresses') || ' [' || current_setting('unix_socket_directories') || ']'"); got != "off 127.0.0.1 []" {
		t.Errorf("fsync, listen_addresses and unix_socket_directories are %q, want %q", got, "off 127.0.0.1 []")
	}
	dir, addr, pgid := c.root, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), c.pgid

	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, the cluster's directory %s is still there (stat: %v)", dir, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("after Stop, %s still accepts connections", addr)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Stop, the server's process group %d still has processes (kill -0: %v)", pgid, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// Not parallel: it replaces pickPort while parallel tests wait.
func TestStartTriesAnotherPortWhenTaken(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	defer func() { pickPort = freePort }()

	// Always taken: Start gives up after portAttempts, quoting the log.
	tries := 0
	pickPort = func(context.Context) (int, error) { tries++; return taken, nil }
	if c, err := Start(t.Context()); err == nil {
		_ = c.Stop()
		t.Fatalf("Start with port %d always taken succeeded", taken)
	} else if !strings.Contains(err.Error(), "Address already in use") || tries != portAttempts {
		t.Errorf("Start with port %d always taken: tried %d ports, failed with %v; want %d tries and the log's complaint", taken, tries, err, portAttempts)
	}

	// Taken once: Start succeeds on the next port.
	tries = 0
	pickPort = func(ctx context.Context) (int, error) {
		tries++
		if tries == 1 {
			return taken, nil
		}
		return freePort(ctx)
	}
	c, err := Start(t.Context())
	if err != nil {
		t.Fatalf("Start with the first port taken: %v", err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if c.port == taken || tries != 2 {
		t.Errorf("Start with the first port taken: listening on %d after %d tries, want another port than %d after 2", c.port, tries, taken)
	}
}

// fatalTB records the message of Fatal and ends the goroutine, as a test's
// Fatal does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                  {}
func (f *fatalTB) Fatal(args ...any)        { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Context() context.Context { return context.Background() }

// Not parallel: it hides the shared cluster while parallel tests wait.
func TestDatabaseWithoutMainSaysWhatToDo(t *testing.T) {
	shared.mu.Lock()
	shared.inMain = false
	shared.mu.Unlock()
	defer func() {
		shared.mu.Lock()
		shared.inMain = true
		shared.mu.Unlock()
	}()

	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Database(tb)
		tb.msg = "Database returned"
	}()
	<-done
	if !strings.Contains(tb.msg, "os.Exit(pgtest.Main(m))") {
		t.Errorf("Database outside Main failed with %q, want the TestMain to add", tb.msg)
	}
}

func TestBinDir(t *testing.T) {
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(dir+"/initdb") || !isExecutable(dir+"/postgres") {
		t.Errorf("BinDir is %s, which lacks initdb or postgres", dir)
	}
	t.Setenv("ROLECALL_PG_BIN", t.TempDir())
	if _, err := BinDir(); err == nil || !strings.Contains(err.Error(), "has no initdb") {
		t.Errorf("BinDir with ROLECALL_PG_BIN at an empty directory: %v, want an error that says it has no initdb", err)
	}
	t.Setenv("ROLECALL_PG_BIN", dir)
	if got, err := BinDir(); got != dir || err != nil {
		t.Errorf("BinDir with ROLECALL_PG_BIN=%s: %s, %v", dir, got, err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"9.6", "10", -1},
		{"15", "16", -1},
		{"17", "9.6", 1},
		{"15", "15", 0},
		{"devel", "9.6", -1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// BenchmarkStart measures Start and Stop of a whole cluster.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		c, err := Start(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewDatabase measures NewDatabase on the shared cluster.
func BenchmarkNewDatabase(b *testing.B) {
	Database(b) // start the shared cluster outside the loop
	for b.Loop() {
		Database(b)
	}
}
