// Command gate is rolecall's read-only gate: it checks every IAM policy in
// the CloudFormation templates (or IAM policy documents) it is given and
// exits non-zero, naming the resource and action, if any could write, read
// data contents everywhere, or reach outside the CUR bucket, and if
// anything in them cannot be evaluated.
//
//	go run ./cmd/rolecall-gate -vendor NAME template.yaml templates/*.yaml
//	go run ./cmd/rolecall-gate -resolve https://BUCKET.s3.REGION.amazonaws.com/=DIR release.yaml
//	go run ./cmd/rolecall-gate -vendor NAME -release .build/release/NAME   # a release from make package
//
// S3 access must stay on the CUR bucket and report prefix; in templates
// those are the CurBucketName and CurReportPrefix parameters, for a policy
// document give -cur-bucket and -cur-prefix.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/policyscan"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/publish"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	bucket := flag.String("cur-bucket", "${CurBucketName}", "the only S3 bucket the policies may reach")
	prefix := flag.String("cur-prefix", "${CurReportPrefix}", "the only object prefix in that bucket the policies may read")
	vendor := flag.String("vendor", "", "vendor profile (vendors/<vendor>.yaml) whose principal resource policies are gated for")
	vendors := flag.String("vendors", "vendors", "directory of vendor profiles")
	var principals, resolves, releases listFlag
	flag.Var(&principals, "vendor-principal", "a principal (ARN or account ID) resource policies are gated for; repeatable (default: every AWS principal)")
	flag.Var(&resolves, "resolve", "URL_PREFIX=DIR: read nested templates under URL_PREFIX from DIR; repeatable")
	flag.Var(&releases, "release", "a release directory written by make package: gate every template in it, nested ones read from it; repeatable")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: rolecall-gate [flags] FILE...\n\nChecks that every IAM policy in the CloudFormation templates or policy documents is read-only.\nWhatever it cannot evaluate (a policy built at deploy time, a template it cannot read) is an error.\nExit status: 0 read-only, 1 a policy could write, reaches too far or could not be evaluated, 2 usage.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 && len(releases) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	files := flag.Args()
	opts := policyscan.CheckOptions{Resolve: map[string]string{}}
	opts.Scan.VendorPrincipals = principals
	if *vendor != "" {
		p, err := profile.Find(*vendors, *vendor)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rolecall-gate:", err)
			os.Exit(2)
		}
		opts.Scan.VendorPrincipals = append(opts.Scan.VendorPrincipals, p.PrincipalARN)
	}
	for _, r := range resolves {
		url, dir, ok := strings.Cut(r, "=")
		if !ok || !strings.Contains(url, "://") || dir == "" {
			fmt.Fprintf(os.Stderr, "rolecall-gate: -resolve %q: write URL_PREFIX=DIR, such as https://bucket.s3.amazonaws.com/=.build/release/files\n", r)
			os.Exit(2)
		}
		opts.Resolve[url] = dir
	}
	for _, dir := range releases {
		resolve, templates, err := publish.ReadDir(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rolecall-gate:", err)
			os.Exit(2)
		}
		for url, local := range resolve {
			opts.Resolve[url] = local
		}
		files = append(files, templates...)
	}
	data := iamdata.Embedded()
	fmt.Printf("IAM action dataset: %s (%d actions)\n", data.Source(), data.Len())
	g := permissions.Gate{Data: data, CUR: permissions.CURScope{Bucket: *bucket, Prefix: *prefix}}
	if s := policyscan.CheckFiles(files, g, opts, os.Stdout); s.Errors > 0 {
		os.Exit(1)
	}
}
