package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// run runs rolecall-vendor with env and returns its exit code and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, Env{Getenv: func(k string) string { return env[k] }, Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func testEnv(t *testing.T) map[string]string {
	t.Helper()
	key, err := vault.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		vault.EnvKeys: key,
		EnvDatabase:   filepath.Join(t.TempDir(), "vendor.db"),
		EnvProfile:    profilePath(t),
	}
}

// profilePath is the first vendor profile of the checkout: brand names
// live in vendors/ only.
func profilePath(t *testing.T) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "vendors", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatal("no vendor profile in vendors/")
	}
	return paths[0]
}

var customerID = regexp.MustCompile(`cus_[a-z2-7]{16}`)

func TestAddListShowRotateRevoke(t *testing.T) {
	env := testEnv(t)
	code, out, errOut := run(t, env, "customers", "add", "--name", "Example Corp", "--region", "eu-west-1")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	id := customerID.FindString(out)
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(out)
	ext := regexp.MustCompile(`External ID: ([a-z0-9-]+-[a-z2-7]{48})`).FindStringSubmatch(out)
	if id == "" || secret == "" || ext == nil {
		t.Fatalf("the hand-over lacks the customer id, secret or external ID:\n%s", out)
	}
	if !strings.Contains(out, "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/create/review?") ||
		!strings.Contains(out, "param_ExternalId="+ext[1]) || strings.Contains(strings.Split(out, "\n")[4], "whsec_") {
		t.Fatalf("the Launch Stack link is wrong or holds the secret:\n%s", out)
	}

	code, out, _ = run(t, env, "customers", "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "issued") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = run(t, env, "--database", env[EnvDatabase], "customers", "show", id)
	if code != 0 || !strings.Contains(out, ext[1]) || strings.Contains(out, secret) || !strings.Contains(out, "customer.added") {
		t.Fatalf("show (the external ID, never the secret, and the log): %d\n%s", code, out)
	}

	code, out, _ = run(t, env, "customers", "rotate", id)
	if code != 0 || !strings.Contains(out, "PreviousExternalId = "+ext[1]) || !strings.Contains(out, "aws cloudformation update-stack") {
		t.Fatalf("rotate: %d\n%s", code, out)
	}
	if code, _, errOut := run(t, env, "customers", "rotate", id); code != 1 || !strings.Contains(errOut, "--restart") {
		t.Fatalf("a second rotate: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, env, "customers", "rotate", id, "--restart"); code != 0 {
		t.Fatalf("rotate --restart: %d %s", code, errOut)
	}
	if code, out, _ := run(t, env, "customers", "revoke", id, "--reason", "test"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, out, _ := run(t, env, "customers", "list", "--json"); code != 0 || !strings.Contains(out, `"RevokedAt": "`) {
		t.Fatalf("list --json after revoking: %d\n%s", code, out)
	}
	// No AWS credentials here, and no metadata service to ask.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	if code, _, errOut := run(t, env, "customers", "confirm", id); code != 1 || !strings.Contains(errOut, "no AWS credentials for your ingestion principal") {
		t.Fatalf("confirm without AWS: %d %s", code, errOut)
	}
}

func TestBadInputSaysWhatToDo(t *testing.T) {
	env := testEnv(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"customers"}, 2, "name an action"},
		{[]string{"customers", "add"}, 2, "--name is required"},
		{[]string{"customers", "add", "--name", "<script>"}, 1, "use 1 to 128 letters"},
		{[]string{"customers", "add", "--name", "X", "--region", "mars-1"}, 1, "publishes to"},
		{[]string{"customers", "add", "--name", "X", "--frobnicate"}, 2, "flag provided but not defined"},
		{[]string{"customers", "show"}, 2, "give one customer id"},
		{[]string{"customers", "show", "cus_nope"}, 1, "want cus_ and 16"},
		{[]string{"customers", "show", "cus_aaaaaaaaaaaaaaaa"}, 1, "not found"},
		{[]string{"customers", "dance"}, 2, "unknown action"},
		{[]string{"frob"}, 2, "unknown command"},
		{[]string{"keys", "new", "--id", "BAD ID"}, 1, "a key ID is 1 to 16 characters"},
		{[]string{"backup"}, 2, "--to FILE is required"},
		{[]string{"serve", "--tls-cert", "x"}, 2, "both --tls-cert and --tls-key"},
	} {
		code, _, errOut := run(t, env, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	noKeys := testEnv(t)
	delete(noKeys, vault.EnvKeys)
	if code, _, errOut := run(t, noKeys, "customers", "add", "--name", "X"); code != 1 || !strings.Contains(errOut, vault.EnvKeys) {
		t.Errorf("without keys: %d %q", code, errOut)
	}
	noProfile := testEnv(t)
	delete(noProfile, EnvProfile)
	if code, _, errOut := run(t, noProfile, "customers", "add", "--name", "X"); code != 2 || !strings.Contains(errOut, "--profile") {
		t.Errorf("without a profile: %d %q", code, errOut)
	}
}

// A key rotation as the README says: a new key first, rewrap, drop the old.
func TestKeyRotation(t *testing.T) {
	env := testEnv(t)
	for _, name := range []string{"A", "B"} {
		if code, _, errOut := run(t, env, "customers", "add", "--name", name); code != 0 {
			t.Fatal(errOut)
		}
	}
	code, out, _ := run(t, env, "customers", "list")
	ids := customerID.FindAllString(out, -1)
	if code != 0 || len(ids) != 2 {
		t.Fatalf("list: %s", out)
	}
	if code, _, _ := run(t, env, "customers", "rotate", ids[0]); code != 0 {
		t.Fatal("rotate")
	}
	old := env[vault.EnvKeys]
	code, newKey, _ := run(t, env, "keys", "new", "--id", "k2")
	if code != 0 || !strings.HasPrefix(newKey, "k2:") {
		t.Fatalf("keys new: %q", newKey)
	}
	env[vault.EnvKeys] = strings.TrimSpace(newKey) + " " + old
	code, out, _ = run(t, env, "keys", "rewrap")
	if code != 0 || !strings.Contains(out, "5 of 5 sealed values moved to key k2") {
		t.Fatalf("rewrap: %d %s", code, out)
	}
	if code, out, _ := run(t, env, "keys", "rewrap"); code != 0 || !strings.Contains(out, "0 of 5") {
		t.Fatalf("a second rewrap: %d %s", code, out)
	}
	env[vault.EnvKeys] = strings.TrimSpace(newKey)
	for _, id := range ids {
		if code, _, errOut := run(t, env, "customers", "show", id); code != 0 {
			t.Fatalf("show %s under the new key alone: %s", id, errOut)
		}
	}
	// Without the key the values were sealed under, nothing opens.
	other, _ := vault.NewKey("k3")
	env[vault.EnvKeys] = other
	if code, _, errOut := run(t, env, "customers", "show", ids[1]); code != 1 || !strings.Contains(errOut, "k2") {
		t.Fatalf("show under an unrelated key: %d %s", code, errOut)
	}
}

func TestMigrateAndBackup(t *testing.T) {
	env := testEnv(t)
	if code, _, errOut := run(t, env, "customers", "add", "--name", "Backed Up"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, _ := run(t, env, "migrate")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("schema version %d, the latest", vendordb.Latest())) {
		t.Fatalf("migrate: %d %s", code, out)
	}
	to := filepath.Join(t.TempDir(), "backup.db")
	if code, out, errOut := run(t, env, "backup", "--to", to); code != 0 || !strings.Contains(out, vault.EnvKeys) {
		t.Fatalf("backup: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, env, "backup", "--to", to); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("backup over a file: %d %s", code, errOut)
	}
	env[EnvDatabase] = to
	if code, out, _ := run(t, env, "customers", "list"); code != 0 || !strings.Contains(out, "Backed Up") {
		t.Fatalf("the backup does not hold the customer: %s", out)
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode: %v", err)
	}
}

func TestServe(t *testing.T) {
	env := testEnv(t)
	env["ROLECALL_VENDOR_TOKEN"] = "short"
	if code, _, errOut := run(t, env, "serve", "--listen", "127.0.0.1:0"); code != 1 || !strings.Contains(errOut, "at least 24") {
		t.Fatalf("serve with a short token: %d %s", code, errOut)
	}
	code, token, _ := run(t, env, "token")
	if code != 0 || len(strings.TrimSpace(token)) != 48 {
		t.Fatalf("token: %d %q", code, token)
	}
	env["ROLECALL_VENDOR_TOKEN"] = strings.TrimSpace(token)
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"serve", "--listen", "127.0.0.1:0"}, Env{Getenv: func(k string) string { return env[k] }, Stdout: &bytes.Buffer{}, Stderr: &stderr,
			Ready: func(addr string) { ready <- addr }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve never listened")
	}
	get := func(path, token string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", 200}, {"/", "", 401}, {"/", "wrong-token-wrong-token-wrong", 401}, {"/", env["ROLECALL_VENDOR_TOKEN"], 200},
		{"/api/v1/customers", env["ROLECALL_VENDOR_TOKEN"], 200}, {"/v1/aws/onboarding/callback", "", 405},
	} {
		if got := get(c.path, c.token); got != c.want {
			t.Errorf("GET %s (token %t): %d, want %d", c.path, c.token != "", got, c.want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after a graceful stop: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
