package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BinDir finds the PostgreSQL server binaries (initdb, postgres): the
// directory $ROLECALL_PG_BIN names if it is set; else `pg_config --bindir`
// if that directory has initdb; else the highest-numbered
// /usr/lib/postgresql/VERSION/bin with initdb (Debian's layout, where
// initdb is not on $PATH). The error says to run `make postgres` when
// there are none.
func BinDir() (string, error) {
	if dir := os.Getenv("ROLECALL_PG_BIN"); dir != "" {
		if !isExecutable(filepath.Join(dir, "initdb")) {
			return "", fmt.Errorf("pgtest: ROLECALL_PG_BIN is %s, which has no initdb: set it to the directory of PostgreSQL's initdb and postgres, or unset it to search the usual places", dir)
		}
		return dir, nil
	}
	if dir := pgConfigBinDir(); dir != "" && isExecutable(filepath.Join(dir, "initdb")) {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	var dirs []string
	for _, initdb := range found {
		if isExecutable(initdb) {
			dirs = append(dirs, filepath.Dir(initdb))
		}
	}
	if len(dirs) == 0 {
		return "", fmt.Errorf("pgtest: no PostgreSQL server binaries: no initdb in $ROLECALL_PG_BIN, in pg_config --bindir or in /usr/lib/postgresql/*/bin; run make postgres to install them, or set ROLECALL_PG_BIN to the directory that holds initdb")
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	return dirs[len(dirs)-1], nil
}

// pgConfigBinDir is what `pg_config --bindir` prints, or "" if pg_config
// is missing or fails.
func pgConfigBinDir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// compareVersions orders PostgreSQL major versions as numbers, so that
// 9.6 < 10 < 15; a name that is not a version sorts first.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		na, nb := -1, -1
		if i < len(pa) {
			na = atoiOr(pa[i], -1)
		}
		if i < len(pb) {
			nb = atoiOr(pb[i], -1)
		}
		if na != nb {
			if na < nb {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func atoiOr(s string, or int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return or
	}
	return n
}

// isExecutable reports whether path is a regular file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
