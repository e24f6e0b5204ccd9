// Command demo rehearses a whole onboarding on a local AWS emulator: make
// demo runs it. Flags choose the organization's size, the vendor, and
// tampered runs that show a finding or an unverifiable account failing the
// stack.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/rehearsal"
)

func main() {
	accounts := flag.Int("accounts", 20, "member accounts in the organization (at least 4)")
	vendor := flag.String("vendor", "", "vendor profile: vendors/<vendor>.yaml (required)")
	vendors := flag.String("vendors", "vendors", "directory of vendor profiles")
	tamper := flag.String("tamper", "", "tamper with member roles after the onboarding: admin, wildcard, denyself, a comma-separated list, or all")
	logFile := flag.String("log", ".build/demo.log", "file for the function's JSON log and the emulator's output")
	runtimeDir := flag.String("runtime", ".build/runtime", "directory for the Lambda runtime emulator and the function's bootstrap, built for this host")
	callAs := flag.String("call-as", "SELF", "SELF: the management account runs the StackSet; DELEGATED_ADMIN: a delegated administrator does, and the management account gets its role from a second stack")
	keep := flag.Bool("keep", false, "pause before the stack is deleted, with the vendor's operator page up, until Enter is pressed")
	flag.Parse()
	if *callAs != "SELF" && *callAs != "DELEGATED_ADMIN" {
		fmt.Fprintf(os.Stderr, "demo: -call-as %q: use SELF or DELEGATED_ADMIN\n", *callAs)
		os.Exit(2)
	}
	if *callAs == "DELEGATED_ADMIN" && *tamper != "" {
		fmt.Fprintln(os.Stderr, "demo: -tamper rehearses the SELF onboarding; drop it with -call-as DELEGATED_ADMIN")
		os.Exit(2)
	}
	if *vendor == "" {
		fmt.Fprintln(os.Stderr, "demo: -vendor is required")
		os.Exit(2)
	}
	p, err := profile.Find(*vendors, *vendor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	tamperings, err := rehearsal.ParseTamper(*tamper)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	logw, err := os.Create(*logFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer logw.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The real function: the bootstrap built from this checkout, run under
	// AWS's Lambda Runtime Interface Emulator.
	rt, err := rehearsal.BuildRuntime(ctx, ".", *runtimeDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	_, err = rehearsal.Run(ctx, rehearsal.Options{Profile: p, Accounts: *accounts, Tamper: tamperings, CallAs: *callAs, Runtime: &rt, Out: os.Stdout, Log: logw, Keep: keepReader(*keep)})
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "\ndemo: interrupted; everything it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo:", err)
		fmt.Fprintln(os.Stderr, "demo: the function's log and the emulator's output are in", *logFile)
		os.Exit(1)
	}
	fmt.Println("The function's log and the emulator's output are in", *logFile)
}

// keepReader is what the rehearsal waits on with -keep: the terminal.
func keepReader(keep bool) io.Reader {
	if !keep {
		return nil
	}
	return os.Stdin
}
