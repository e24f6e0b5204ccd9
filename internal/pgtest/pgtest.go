// Package pgtest starts throwaway PostgreSQL clusters for tests: each one
// in a fresh temporary directory, listening on 127.0.0.1 on a free port
// (no Unix socket), with password authentication and one superuser,
// removed entirely by Stop.
//
// A test package shares one cluster between its tests through TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and each test asks for a database of its own on it:
//
//	dsn := pgtest.Database(t)
//
// The server binaries come from the local PostgreSQL installation (see
// BinDir); `make postgres` installs them from Debian's packages. The
// package adds no Go dependency: it runs initdb, postgres, pg_isready and
// psql. Run as root, it runs initdb and postgres as the postgres system
// user, since PostgreSQL refuses to run as root.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// superuser is the one role of every cluster Start initialises; DSN
	// connects as it.
	superuser = "rolecall"

	// startTimeout bounds how long Start waits for the server to accept
	// connections (over all the ports it tries), unless its context ends
	// sooner.
	startTimeout = 30 * time.Second

	// portAttempts bounds how many free ports Start tries: another
	// process can take the port between our probe and the server's bind.
	portAttempts = 3

	// stopTimeout bounds how long Stop waits for an immediate shutdown
	// before it kills the server's process group.
	stopTimeout = 10 * time.Second

	// logTailSize is how much of the server's log an error quotes.
	logTailSize = 4 << 10

	// dirPrefix names the temporary directories of clusters, so that
	// Start can recognise those a killed test binary left behind.
	dirPrefix = "rolecall-pgtest-"
)

// Cluster is a running throwaway PostgreSQL cluster started by Start. Its
// methods may be called from several goroutines at once.
type Cluster struct {
	bin      string // BinDir
	root     string // the temporary directory: data, pwfile, owner
	data     string // the data directory, root/data
	logPath  string // the server's stderr, in the data directory
	port     int
	password string
	run      *runAs // nil: as the current user

	cmd  *exec.Cmd
	pgid int
	done chan struct{} // closed when the server process has exited

	databases atomic.Int64 // how many NewDatabase has created, for names

	stopOnce sync.Once
	stopErr  error
}

// runAs is the system user initdb and postgres run as when the test runs
// as root.
type runAs struct {
	name     string
	uid, gid uint32
}

// Start initialises a new cluster in a fresh temporary directory, starts it
// listening on 127.0.0.1 on a free port (no Unix socket), waits until it
// accepts connections, and returns it. Stop removes everything. ctx bounds
// the start, and the server gets at most 30 seconds to accept connections;
// once started, it runs on after ctx ends, until Stop. If the server exits
// before it accepts connections, the error quotes the end of its log.
//
// Start takes one to two seconds, most of it initdb's. The server trades
// durability for speed (no fsync, no full-page writes), which is right for
// a cluster that Stop throws away and wrong for anything else.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	run, err := serverUser()
	if err != nil {
		return nil, err
	}
	sweepStale()

	root, err := os.MkdirTemp("", dirPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("pgtest: create the cluster's directory: %w (set TMPDIR to a writable directory)", err)
	}
	c := &Cluster{
		bin:     bin,
		root:    root,
		data:    filepath.Join(root, "data"),
		run:     run,
		logPath: filepath.Join(root, "data", "postgres.log"),
		done:    closed(), // no server yet
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()
	// The owner file lets a later Start remove this directory if the
	// test binary dies without calling Stop (a panicking test, a timeout).
	if err := os.WriteFile(filepath.Join(root, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if run != nil {
		if err := reachable(root, run); err != nil {
			return nil, err
		}
		if err := os.Chown(root, int(run.uid), int(run.gid)); err != nil {
			return nil, fmt.Errorf("pgtest: give %s to the %s user: %w", root, run.name, err)
		}
	}
	if c.password, err = randomHex(16); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		port, err := pickPort(ctx)
		if err != nil {
			return nil, err
		}
		err = c.launch(ctx, port)
		if err == nil {
			ok = true
			return c, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		if attempt == portAttempts {
			return nil, fmt.Errorf("%w\n(Start tried %d free ports and lost each to another process: retry, or see what takes ports on 127.0.0.1)", err, portAttempts)
		}
		// The server exited; try another port.
	}
}

// errPortTaken is in launch's error when the server could not bind its
// port.
var errPortTaken = errors.New("another process took the port")

// initdb initialises the data directory with a superuser whose
// password is c.password, from a password file that is removed at once.
func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: write the password file: %w", err)
	}
	defer os.Remove(pwfile)
	if c.run != nil {
		if err := os.Chown(pwfile, int(c.run.uid), int(c.run.gid)); err != nil {
			return fmt.Errorf("pgtest: give the password file to the %s user: %w", c.run.name, err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"), //nolint:gosec // the installation's own initdb, found by BinDir
		"-D", c.data,
		"--username="+superuser,
		"--pwfile="+pwfile,
		"--auth=scram-sha-256",
		"-E", "UTF8",
		"--no-locale",
		"--no-sync", // the cluster is thrown away; nothing needs to reach the disk
	)
	cmd.Dir = c.root // initdb must be able to read its working directory
	cmd.Env = childEnv()
	cmd.SysProcAttr = c.procAttr(false)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s failed: %w\n%s", cmd.Path, err, tail(out.Bytes()))
	}
	return nil
}

// launch starts the server on port and waits until it accepts connections
// there. When the server exits because it could not bind the port, the
// error wraps errPortTaken.
func (c *Cluster) launch(ctx context.Context, port int) error {
	log, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: create the server's log: %w", err)
	}
	defer log.Close() // the child has its own copy
	if c.run != nil {
		_ = os.Chown(c.logPath, int(c.run.uid), int(c.run.gid))
	}

	// fsync, synchronous_commit and full_page_writes off make the server
	// fast and unsafe across a crash, which is fine for a cluster that is
	// thrown away; 200 connections leave room for tests that run in
	// parallel with a pool each.
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), //nolint:gosec,noctx // the installation's own postgres; it outlives the start ctx until Stop
		"-D", c.data,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(port),
		"-k", "", // no Unix socket
		"-F",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	cmd.Dir = c.root
	cmd.Env = childEnv()
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = c.procAttr(true)
	cmd.WaitDelay = 5 * time.Second
	done := make(chan struct{})
	c.cmd, c.port, c.done, c.pgid = cmd, port, done, 0

	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that forked
		// the child exits, not the process: keep this goroutine on its
		// thread until the server is gone.
		runtime.LockOSThread()
		defer close(done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // Stop ends the server; its exit status says nothing
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: run %s: %w", cmd.Path, err)
	}
	c.pgid = cmd.Process.Pid // its own process group (procAttr)
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return err
	}
	return nil
}

// waitReady polls until the server accepts TCP connections on c.port,
// says in postmaster.pid that it is ready (so that it is this server that
// answers, not another one on the same port), and pg_isready agrees.
func (c *Cluster) waitReady(ctx context.Context) error {
	const interval = 20 * time.Millisecond
	isready := c.tool("pg_isready")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
	var dialer net.Dialer
	for {
		select {
		case <-c.done:
			log := c.logTail()
			if strings.Contains(log, "could not create any TCP/IP sockets") || strings.Contains(log, "Address already in use") {
				return fmt.Errorf("pgtest: postgres could not listen on %s: %w; the end of its log:\n%s", addr, errPortTaken, log)
			}
			return fmt.Errorf("pgtest: postgres exited before accepting connections on %s; the end of its log:\n%s", addr, log)
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres did not accept connections on %s in time (%w); the end of its log:\n%s", addr, context.Cause(ctx), c.logTail())
		case <-time.After(interval):
		}
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			continue
		}
		_ = conn.Close()
		if !c.pidFileReady() {
			continue
		}
		cmd := exec.CommandContext(ctx, isready, "-q", "-t", "2", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", superuser, "-d", "postgres") //nolint:gosec // the installation's own pg_isready
		cmd.Env = childEnv()
		if cmd.Run() == nil {
			return nil
		}
	}
}

// pidFileReady reports whether postmaster.pid says the server listens on
// c.port and is ready for connections.
func (c *Cluster) pidFileReady() bool {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return false
	}
	// Lines: pid, data directory, start time, port, socket directory,
	// listen address, shared memory key, status.
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 &&
		strings.TrimSpace(lines[3]) == strconv.Itoa(c.port) &&
		strings.TrimSpace(lines[7]) == "ready"
}

// Stop shuts the server down at once (an immediate shutdown: no
// checkpoint), kills whatever is left of its process group, waits for it,
// and removes the cluster's directory. Calling it again does nothing more
// and returns what the first call returned.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
		select {
		case <-c.done:
		case <-time.After(stopTimeout):
		}
		c.kill()
	}
	if err := os.RemoveAll(c.root); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove the cluster's directory: %w (remove it by hand)", err))
	}
	return errors.Join(errs...)
}

// kill kills the server's process group, backends included, and waits for
// the server to be reaped.
func (c *Cluster) kill() {
	if c.pgid > 0 {
		_ = syscall.Kill(-c.pgid, syscall.SIGKILL)
	}
	<-c.done
}

// DSN is the connection URL of database on the cluster, as the superuser
// (rolecall), without TLS:
// postgres://USER:PASSWORD@127.0.0.1:PORT/DATABASE?sslmode=disable.
// The database "postgres" always exists; NewDatabase makes others.
func (c *Cluster) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates a new empty database with a name unique on the
// cluster (CREATE DATABASE, through psql) and returns its DSN. It registers
// nothing with any test: the database goes when Stop removes the cluster.
// Each takes a tenth of a second or two and about 8 MB of disk (a copy of
// template1).
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", c.databases.Add(1))
	if err := c.psql(ctx, "postgres", `CREATE DATABASE "`+name+`"`); err != nil {
		return "", err
	}
	return c.DSN(name), nil
}

// psql runs sql in database with psql, as the superuser, stopping at the
// first error; the error quotes psql's output.
func (c *Cluster) psql(ctx context.Context, database, sql string) error {
	cmd := exec.CommandContext(ctx, c.tool("psql"), //nolint:gosec // the installation's own psql
		"-X", "-q",
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(c.port),
		"-U", superuser,
		"-d", database,
		"-v", "ON_ERROR_STOP=1",
		"-c", sql,
	)
	cmd.Env = append(childEnv(), "PGPASSWORD="+c.password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: psql in database %q on port %d: %s: %w\n%s", database, c.port, sql, err, tail(out.Bytes()))
	}
	return nil
}

// tool is the path of a client program (psql, pg_isready): in BinDir if it
// is there, else as found on $PATH.
func (c *Cluster) tool(name string) string {
	p := filepath.Join(c.bin, name)
	if isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return p // the error will name the path that is missing
}

// procAttr puts a child in a process group of its own, so that Stop can
// kill all of it and a terminal's ^C reaches only the test binary (which
// stops the cluster itself); as the postgres user when the test runs as
// root; and, for the server, killed by the kernel if the test binary dies.
func (c *Cluster) procAttr(server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if c.run != nil {
		a.Credential = &syscall.Credential{Uid: c.run.uid, Gid: c.run.gid, Groups: []uint32{c.run.gid}}
	}
	if server {
		setParentDeathSignal(a)
	}
	return a
}

// logTail is the end of the server's log.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(b)
}

// tail is the last logTailSize bytes of b, as text.
func tail(b []byte) string {
	if len(b) > logTailSize {
		b = b[len(b)-logTailSize:]
	}
	return strings.TrimSpace(string(bytes.ToValidUTF8(b, nil)))
}

// childEnv is this process's environment without the libpq variables
// (PGHOST, PGPORT, PGDATA, PGOPTIONS...) that would point a child at
// another server or change its settings.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// pickPort is freePort, except in the tests of port collisions.
var pickPort = freePort

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before the server binds it; Start then tries another.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgtest: make a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func closed() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}
