// Command gate is rolecall's read-only gate: it checks every IAM policy in
// the CloudFormation templates (or IAM policy documents) it is given and
// exits non-zero, naming the action, if any could write.
//
//	go run ./cmd/gate template.yaml templates/*.yaml
//
// S3 access must stay on the CUR bucket and report prefix; in templates
// those are the CurBucketName and CurReportPrefix parameters, for a policy
// document give -cur-bucket and -cur-prefix.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rolecall/rolecall/internal/iamdata"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/policyscan"
)

func main() {
	bucket := flag.String("cur-bucket", "${CurBucketName}", "the only S3 bucket the policies may reach")
	prefix := flag.String("cur-prefix", "${CurReportPrefix}", "the only object prefix in that bucket the policies may read")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gate [-cur-bucket B -cur-prefix P] FILE...\n\nChecks that every IAM policy in the CloudFormation templates or policy documents is read-only.\nExit status: 0 read-only, 1 a policy could write or reach outside the CUR bucket, 2 usage.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	data := iamdata.Embedded()
	fmt.Printf("IAM action dataset: %s\n", data.Source())
	g := permissions.Gate{Data: data, CUR: permissions.CURScope{Bucket: *bucket, Prefix: *prefix}}
	if s := policyscan.CheckFiles(flag.Args(), g, os.Stdout); s.Errors > 0 {
		os.Exit(1)
	}
}
