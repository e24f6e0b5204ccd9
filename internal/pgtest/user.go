package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverUser is the user initdb and postgres run as: nil (the current
// user) unless the test runs as root, which PostgreSQL refuses; then the
// postgres system user that Debian's packages create.
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: the tests run as root, which PostgreSQL refuses, and there is no postgres user to run it as instead (%w): run make postgres (Debian's package creates the user), or run the tests as another user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: the postgres user's ids %q and %q are not numbers: %w", u.Uid, u.Gid, err)
	}
	return &runAs{name: "postgres", uid: uint32(uid), gid: uint32(gid)}, nil
}

// reachable checks that run's user may pass through every directory above
// dir, which it must to reach the data directory.
func reachable(dir string, run *runAs) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if !mayPass(fi, run) {
			return fmt.Errorf("pgtest: the %s user, which runs PostgreSQL because the tests run as root, cannot pass through %s (mode %v) to reach the cluster's directory %s: set TMPDIR to a directory every user can reach, such as /tmp", run.name, d, fi.Mode().Perm(), dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// mayPass reports whether run's user (with only its own group) may pass
// through the directory fi describes.
func mayPass(fi os.FileInfo, run *runAs) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; initdb will say
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == run.uid:
		return perm&0o100 != 0
	case st.Gid == run.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// sweepStale removes the directories of clusters whose test binary died
// without calling Stop (a panicking test or a timeout ends the process
// before any deferred Stop runs; on Linux the kernel then kills the
// server). It leaves alone any directory whose test binary or server is
// still running, and any it cannot read.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			// Just created, or not ours: leave it unless it is old.
			if fi, err := os.Stat(dir); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if pid, err := strconv.Atoi(string(b)); err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscanf(string(b), "%d", &pid); err == nil && alive(pid) {
				continue
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// alive reports whether a process with this id exists and has not exited:
// a zombie (on Linux, where /proc says so) is not alive. A server whose
// test binary died is a zombie until init reaps it, which in a container
// can take a while.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	state := strings.TrimSpace(string(rest))
	return !strings.HasPrefix(state, "Z")
}
