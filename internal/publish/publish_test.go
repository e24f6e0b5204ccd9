package publish

import (
	"archive/zip"
	"bytes"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
	"github.com/rolecall/rolecall/internal/profile"
)

func vendor(t *testing.T) *profile.Profile {
	t.Helper()
	matches, _ := filepath.Glob("../../vendors/*.yaml")
	if len(matches) == 0 {
		t.Fatal("no vendor profiles")
	}
	p, err := profile.Load(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestZipIsDeterministicAndExecutable(t *testing.T) {
	a, err := Zip([]byte("binary"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Zip([]byte("binary"))
	if !bytes.Equal(a, b) {
		t.Error("two zips of the same binary differ")
	}
	r, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil || len(r.File) != 1 || r.File[0].Name != "bootstrap" || r.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip holds %v (%v)", r.File, err)
	}
	f, _ := r.File[0].Open()
	got, _ := io.ReadAll(f)
	if string(got) != "binary" {
		t.Errorf("bootstrap = %q", got)
	}
	if _, err := Zip(nil); err == nil {
		t.Error("an empty bootstrap zipped")
	}
}

func TestBuildVersionsTheRelease(t *testing.T) {
	p := vendor(t)
	r1, err := Build(p, []byte("zip-1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Build(p, []byte("zip-2"))
	if r1.Version == r2.Version {
		t.Error("different code gave the same version")
	}
	if len(r1.Templates) != len(p.Publish.Regions) {
		t.Errorf("templates for %d regions, want %d", len(r1.Templates), len(p.Publish.Regions))
	}
	for _, o := range r1.Objects {
		if !strings.HasPrefix(o.Key, "rolecall/"+r1.Version+"/") && o.Key != LatestKey {
			t.Errorf("object %s is outside the release", o.Key)
		}
		if o.Bucket != Bucket(p, o.Region) {
			t.Errorf("object %s goes to bucket %s in %s", o.Key, o.Bucket, o.Region)
		}
	}
}

func TestLaunchURLPrefillsTheExternalID(t *testing.T) {
	p := vendor(t)
	region := p.Publish.Regions[0]
	link, err := LaunchURL(p, region, p.ID+"-onboarding", "ext-7f3c9e1d-2b4a")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != region+".console.aws.amazon.com" {
		t.Errorf("host %s", u.Host)
	}
	q, err := url.ParseQuery(strings.SplitN(u.Fragment, "?", 2)[1])
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("param_ExternalId") != "ext-7f3c9e1d-2b4a" || q.Get("stackName") != p.ID+"-onboarding" {
		t.Errorf("query %v", q)
	}
	if want := "https://" + Bucket(p, region) + ".s3." + region + ".amazonaws.com/" + LatestKey; q.Get("templateURL") != want {
		t.Errorf("templateURL %s, want %s", q.Get("templateURL"), want)
	}
	if strings.Contains(link, "CallbackSecret") {
		t.Error("the link carries the callback secret")
	}
}

func TestLaunchURLRejectsBadInput(t *testing.T) {
	p := vendor(t)
	region := p.Publish.Regions[0]
	tests := map[string][3]string{
		"unpublished region": {"ap-east-9", "onboarding", "ext-7f3c9e1d-2b4a"},
		"bad stack name":     {region, "1-onboarding", "ext-7f3c9e1d-2b4a"},
		"bad external id":    {region, "onboarding", "x y"},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := LaunchURL(p, in[0], in[1], in[2]); err == nil {
				t.Fatal("LaunchURL succeeded")
			}
		})
	}
}

// Upload against the local S3: every object of a region lands where its
// template says it is.
func TestUploadPutsTheReleaseInTheRegionalBucket(t *testing.T) {
	p := vendor(t)
	srv := emulatortest.Start(t)
	cfg := srv.Config()
	region := p.Publish.Regions[0]
	cfg.Region = region
	if err := emulator.CreateBucket(t.Context(), cfg, Bucket(p, region)); err != nil {
		t.Fatal(err)
	}
	r, err := Build(p, []byte("zip"))
	if err != nil {
		t.Fatal(err)
	}
	client := emulator.S3Client(cfg)
	n, err := Upload(t.Context(), client, r, region)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("uploaded %d objects, want function, two templates and latest", n)
	}
	out, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(Bucket(p, region)), Key: aws.String(LatestKey)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	if !strings.Contains(string(body), "rolecall/"+r.Version+"/function.zip") {
		t.Error("the latest template does not name this release's function")
	}
}
