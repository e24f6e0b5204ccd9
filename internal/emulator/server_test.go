package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/sdkbody"
)

func TestStartSignsRequestsAsTheAdministrator(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()

	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("Endpoint() = %q, want a loopback URL", srv.Endpoint())
	}
	out, err := sts.NewFromConfig(srv.Config()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:iam::123456789012:user/"+emulator.AdminUserName; got != want {
		t.Errorf("caller ARN = %q, want %q", got, want)
	}
	if got := aws.ToString(out.Account); got != emulator.DefaultAccountID {
		t.Errorf("caller account = %q, want %q", got, emulator.DefaultAccountID)
	}
	if got := srv.Config().Region; got != emulator.DefaultRegion {
		t.Errorf("Config().Region = %q, want %q", got, emulator.DefaultRegion)
	}
}

func TestStartFailsWithInstructionsWhenMotoServerIsMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-moto_server")
	tests := []struct {
		name string
		opts emulator.Options
		env  string
	}{
		{name: "explicit path", opts: emulator.Options{MotoServer: missing}},
		{name: "environment variable", env: missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(emulator.MotoServerEnv, tt.env)
			}
			srv, err := emulator.Start(t.Context(), tt.opts)
			if err == nil {
				_ = srv.Stop()
				t.Fatal("Start succeeded, want an error")
			}
			if !errors.Is(err, emulator.ErrMotoServerNotFound) {
				t.Errorf("error %v is not ErrMotoServerNotFound", err)
			}
			want := "moto_server not found at " + missing + ": run `make tools` (make test and make demo do it for you)"
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
		})
	}
}

func TestStopKillsMotoAndCanBeCalledAgain(t *testing.T) {
	t.Parallel()
	srv, err := emulator.Start(t.Context(), emulator.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	resp, err := http.Get(srv.Endpoint() + "/moto-api/config")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("moto still answers on %s after Stop", srv.Endpoint())
	}
}

func TestStartGivesEachServerItsOwnPort(t *testing.T) {
	t.Parallel()
	a := emulatortest.Start(t)
	b := emulatortest.Start(t)
	if a.Endpoint() == b.Endpoint() {
		t.Fatalf("two servers share %s", a.Endpoint())
	}
	// State is per server: a user created in one is absent from the other.
	if _, err := iam.NewFromConfig(a.Config()).CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String("only-in-a")}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	_, err := iam.NewFromConfig(b.Config()).GetUser(t.Context(), &iam.GetUserInput{UserName: aws.String("only-in-a")})
	if code := emulator.ErrorCode(err); code != "NoSuchEntity" {
		t.Errorf("GetUser on the other server: error code %q (%v), want NoSuchEntity", code, err)
	}
}

func TestResetWipesStateRebootstrapsAndKeepsAuthorisationOn(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	before := srv.Config()
	if _, err := iam.NewFromConfig(before).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ephemeral")}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	if err := srv.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}

	// IAM was wiped, so the old administrator key is unknown, and unknown
	// keys are rejected: authorisation is still on.
	_, err := iam.NewFromConfig(before).ListUsers(ctx, &iam.ListUsersInput{})
	if code := emulator.ErrorCode(err); code != "InvalidClientTokenId" {
		t.Errorf("ListUsers with the key from before Reset: error code %q (%v), want InvalidClientTokenId", code, err)
	}
	_, err = iam.NewFromConfig(srv.Config()).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("ephemeral")})
	if code := emulator.ErrorCode(err); code != "NoSuchEntity" {
		t.Errorf("GetUser after Reset: error code %q (%v), want NoSuchEntity", code, err)
	}
}

func TestAccountConfigActsAsAnAdministratorOfTheAccount(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	ctx := t.Context()
	org, err := emulator.SeedOrganization(ctx, srv.Config(), emulator.OrgSpec{Accounts: 1})
	if err != nil {
		t.Fatalf("SeedOrganization: %v", err)
	}
	member := org.Accounts[0].ID

	for _, account := range []string{emulator.DefaultAccountID, member} {
		t.Run(account, func(t *testing.T) {
			cfg, err := srv.AccountConfig(ctx, account)
			if err != nil {
				t.Fatalf("AccountConfig: %v", err)
			}
			id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if got := aws.ToString(id.Account); got != account {
				t.Errorf("caller account = %q, want %q", got, account)
			}
			// An administrator can write to IAM in its account.
			if _, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("made-by-admin")}); err != nil {
				t.Errorf("CreateUser as administrator of %s: %v", account, err)
			}
		})
	}
}

// TestMotoDiesWithTheProcessThatStartedIt starts a server from a child
// process, kills that process with SIGKILL (no cleanup runs), and checks
// that moto goes too.
func TestMotoDiesWithTheProcessThatStartedIt(t *testing.T) {
	if os.Getenv("EMULATOR_TEST_ORPHAN") == "1" {
		srv, err := emulator.Start(context.Background(), emulator.Options{})
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString(srv.Endpoint() + "\n")
		select {} // wait to be killed
	}
	if !supportsParentDeathSignal {
		t.Skip("only Linux kills a child when its parent dies")
	}
	t.Parallel()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := newOrphanMaker(t.Context(), exe)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := readLine(stdout)
	if err != nil || !strings.HasPrefix(line, "http://") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child printed %q (%v), want an endpoint", line, err)
	}
	endpoint := strings.TrimSpace(line)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// Moto dies asynchronously; poll it for a bounded time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/config")
		if err != nil {
			return // gone
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("moto on %s still answers 10s after its parent died", endpoint)
		}
		time.Sleep(50 * time.Millisecond) // pacing a poll of another process
	}
}

// Every config the server issues keeps a request body over net/http's
// 4 KiB write buffer from losing its response when moto answers at once
// (see internal/sdkbody): the rehearsal's PutRolePolicy of the function's
// StackSet grant failed this way in CI ("use of closed network connection"
// on a 200), and the configs make one attempt, so nothing would hide it.
// The race is too rare against moto to show in a test of its own;
// internal/sdkbody shows it against a faster server.
func TestConfigsSendLargeBodiesSafely(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t)
	cfg := srv.Config()
	var found bool
	var steps []string
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		_, found = stack.Finalize.Get(sdkbody.MiddlewareID)
		steps = stack.Finalize.List()
		return nil
	})
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("the config's APIOptions lack sdkbody.PlainRequestBody; finalize steps: %v", steps)
	}
}
