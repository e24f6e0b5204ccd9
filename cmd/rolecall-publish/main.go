// Command rolecall-publish releases the kit for a vendor and hands out
// Launch Stack links:
//
//	rolecall-publish package -vendor NAME -bootstrap .build/bootstrap -out DIR   # offline: the release as files
//	rolecall-publish upload  -vendor NAME -bootstrap .build/bootstrap            # to the vendor's buckets (vendor's AWS credentials)
//	rolecall-publish link    -vendor NAME -region R -external-id ID [-release V|latest] [-stack-name N]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/sdkbody"
)

const usage = `usage:
  rolecall-publish package -vendor NAME -bootstrap FILE -out DIR [-verify=false]
  rolecall-publish upload  -vendor NAME -bootstrap FILE [-profile P]
  rolecall-publish link    -vendor NAME -region REGION -external-id ID [-release VERSION|latest] [-stack-name NAME]
  rolecall-publish size    -bootstrap FILE
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	vendor := fs.String("vendor", "", "vendor profile: vendors/<vendor>.yaml (required)")
	vendors := fs.String("vendors", "vendors", "directory of vendor profiles")
	bootstrap := fs.String("bootstrap", ".build/bootstrap", "the function binary built by make build")
	out := fs.String("out", "", "package: directory to write the release into")
	awsProfile := fs.String("profile", "", "upload: AWS shared-config profile with the vendor's credentials")
	region := fs.String("region", "", "link: the region the customer launches in")
	externalID := fs.String("external-id", "", "link: the customer's external ID")
	stackName := fs.String("stack-name", "", "link: the stack name the form suggests (default <vendor>-onboarding)")
	release := fs.String("release", "", "link: the release the link opens: its version (default: the release this checkout builds) or latest")
	withVerify := fs.Bool("verify", true, "package: build the verify binaries for every platform (the read-only gate needs only the templates)")
	_ = fs.Parse(os.Args[2:])
	if cmd == "size" {
		bin, zipped := zipBootstrap(*bootstrap)
		fmt.Printf("size: bootstrap %.1f MB, function.zip %.1f MB (%d bytes; Lambda allows 50 MB zipped, target under 10 MB)\n",
			float64(len(bin))/1e6, float64(len(zipped))/1e6, len(zipped))
		return
	}
	if *vendor == "" {
		fail(2, "-vendor is required")
	}
	p, err := profile.Find(*vendors, *vendor)
	if err != nil {
		fail(2, "%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch cmd {
	case "link":
		name := *stackName
		if name == "" {
			name = p.ID + "-onboarding"
		}
		if *externalID == "" {
			fail(2, "link: -external-id is required: the external ID you issued this customer")
		}
		v := *release
		if v == "" {
			_, zipped := zipBootstrap(*bootstrap)
			if v, err = publish.Version(p, zipped); err != nil {
				fail(1, "%v", err)
			}
		}
		link, err := publish.LaunchURL(p, publish.Link{Region: *region, Release: v, StackName: name, Values: map[string]string{params.ExternalID.Name: *externalID}})
		if err != nil {
			fail(2, "%v", err)
		}
		fmt.Println(link)
		if v != publish.Latest {
			line, err := publish.CloudShellLine(p, *region, v)
			if err != nil {
				fail(1, "%v", err)
			}
			fmt.Fprintf(os.Stderr, "\nThe customer's security team verifies with the release's prebuilt binary (AWS CloudShell, or any Linux shell):\n%s\n", line)
		}
	case "package", "upload":
		_, zipped := zipBootstrap(*bootstrap)
		v, err := publish.Version(p, zipped)
		if err != nil {
			fail(1, "%v", err)
		}
		var bins map[string][]byte
		if *withVerify || cmd == "upload" {
			if bins, err = publish.BuildVerify(ctx, ".", v, "", publish.VerifyTargets); err != nil {
				fail(1, "%v", err)
			}
		}
		r, err := publish.Build(p, zipped, bins)
		if err != nil {
			fail(1, "%v", err)
		}
		if cmd == "package" {
			if *out == "" {
				fail(2, "package: -out is required")
			}
			if err := os.RemoveAll(*out); err != nil {
				fail(1, "%v", err)
			}
			if err := publish.WriteDir(r, *out); err != nil {
				fail(1, "%v", err)
			}
			fmt.Printf("rolecall-publish: release %s for %s written to %s: %d objects in %d regions, in upload order:\n", r.Version, p.Name, *out, len(r.Objects), len(p.Regions()))
			for _, o := range r.Objects {
				fmt.Printf("  %s  %9d  %s/%s/%s\n", o.SHA256(), len(o.Body), o.Region, o.Bucket, o.Key)
			}
			return
		}
		for _, reg := range p.Regions() {
			opts := []func(*config.LoadOptions) error{config.WithRegion(reg), config.WithAPIOptions([]func(*middleware.Stack) error{sdkbody.PlainRequestBody})}
			if *awsProfile != "" {
				opts = append(opts, config.WithSharedConfigProfile(*awsProfile))
			}
			cfg, err := config.LoadDefaultConfig(ctx, opts...)
			if err != nil {
				fail(1, "%v", err)
			}
			rep, err := publish.Upload(ctx, s3.NewFromConfig(cfg), r, reg)
			if err != nil {
				fail(1, "%s: %v (the latest alias still names the previous release; run upload again to complete this one)", reg, err)
			}
			fmt.Printf("rolecall-publish: %s: release %s: %d objects uploaded and read back, %d already there; template %s\n", reg, r.Version, rep.Uploaded, rep.Present, r.Templates[reg])
		}
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

// zipBootstrap reads the built function and zips it as Lambda wants it.
func zipBootstrap(path string) (bin, zipped []byte) {
	bin, err := os.ReadFile(path)
	if err != nil {
		fail(2, "%v: run make build first", err)
	}
	zipped, err = publish.Zip(bin)
	if err != nil {
		fail(1, "%v", err)
	}
	return bin, zipped
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rolecall-publish: "+format+"\n", args...)
	os.Exit(code)
}
