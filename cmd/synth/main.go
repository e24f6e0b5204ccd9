// Command synth writes rolecall's CloudFormation templates for one vendor
// profile: template.yaml (the management-account stack) and
// templates/member-role.yaml (the role every account gets).
//
//	go run ./cmd/synth -vendor NAME          # write them (make synth VENDOR=NAME)
//	go run ./cmd/synth -vendor NAME -check   # fail if the files on disk differ
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
)

func main() {
	vendor := flag.String("vendor", "", "vendor profile to build: vendors/<vendor>.yaml (required)")
	dir := flag.String("vendors", "vendors", "directory of vendor profiles")
	out := flag.String("out", ".", "directory to write template.yaml and templates/ into")
	check := flag.Bool("check", false, "write nothing; exit 1 if the files in -out differ from what synth would write")
	quotas := flag.Bool("quotas", false, "print the worst-case size of every policy and template against its AWS quota (and write nothing)")
	flag.Parse()
	if *vendor == "" {
		fmt.Fprintln(os.Stderr, "synth: -vendor is required: the base name of a profile in", *dir)
		os.Exit(2)
	}

	p, err := profile.Find(*dir, *vendor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(2)
	}
	files, err := synth.Build(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
	if *quotas {
		qs, err := synth.Quotas(files)
		if err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			os.Exit(1)
		}
		fmt.Printf("synth: worst cases for %s, every accepted input at its longest:\n", p.Name)
		for _, q := range qs {
			fmt.Println("  " + q.String())
		}
		if !*check {
			return
		}
	}
	if *check {
		stale, err := synth.Check(*out, files)
		if err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			os.Exit(2)
		}
		for _, path := range stale {
			fmt.Fprintf(os.Stderr, "synth: %s is not what `make synth VENDOR=%s` writes; run it and commit the result\n", path, p.ID)
		}
		if len(stale) > 0 {
			os.Exit(1)
		}
		fmt.Printf("synth: %d generated files match vendor profile %s\n", len(synth.Paths(files)), p.ID)
		return
	}
	wrote, err := synth.Write(*out, files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
	for _, path := range wrote {
		fmt.Printf("synth: wrote %s for %s\n", path, p.Name)
	}
	fmt.Printf("synth: %d generated files for %s, %d changed\n", len(synth.Paths(files)), p.Name, len(wrote))
}
