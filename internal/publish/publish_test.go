package publish

import (
	"archive/zip"
	"bytes"
	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/synth"
	"gopkg.in/yaml.v3"
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
	link, err := LaunchURL(p, Link{Region: region, StackName: p.ID + "-onboarding", Values: map[string]string{"ExternalId": "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != region+".console.aws.amazon.com" || u.Path != "/cloudformation/home" || u.Query().Get("region") != region {
		t.Errorf("link %s", link)
	}
	route, query, _ := strings.Cut(u.Fragment, "?")
	if route != "/stacks/create/review" {
		t.Errorf("route %q, want AWS's documented /stacks/create/review", route)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("param_ExternalId") != "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60" || q.Get("stackName") != p.ID+"-onboarding" {
		t.Errorf("query %v", q)
	}
	if want := "https://" + Bucket(p, region) + ".s3." + region + ".amazonaws.com/" + LatestKey; q.Get("templateURL") != want {
		t.Errorf("templateURL %s, want %s", q.Get("templateURL"), want)
	}
	if strings.Contains(link, "CallbackSecret") {
		t.Error("the link carries the callback secret")
	}
}

// Every parameter a link may fill in is one the console fills in: declared
// by the template the link opens, and not NoEcho. Checked against the
// published template itself.
func TestEveryPrefilledParameterIsPrefillable(t *testing.T) {
	for _, p := range []*profile.Profile{vendor(t)} {
		files, err := synth.BuildPublished(p, synth.Artifacts{Region: p.Publish.Regions[0], Bucket: Bucket(p, p.Publish.Regions[0]), Prefix: "rolecall/x"})
		if err != nil {
			t.Fatal(err)
		}
		var tpl struct {
			Parameters map[string]map[string]any `yaml:"Parameters"`
		}
		if err := yaml.Unmarshal(files[0].Data, &tpl); err != nil {
			t.Fatal(err)
		}
		for name, decl := range tpl.Parameters {
			_, err := LaunchURL(p, Link{Region: p.Publish.Regions[0], StackName: "s", Values: map[string]string{name: sample(name)}})
			noEcho := decl["NoEcho"] == true
			if noEcho && err == nil {
				t.Errorf("%s is NoEcho, yet a link fills it in", name)
			}
			if !noEcho && err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if tpl.Parameters["ExternalId"]["NoEcho"] == true || tpl.Parameters["PreviousExternalId"]["NoEcho"] == true {
			t.Error("the external IDs are NoEcho: a link could not fill them in")
		}
	}
}

// sample is a valid value for a parameter.
func sample(name string) string {
	switch name {
	case "ExternalId", "PreviousExternalId":
		return strings.Repeat("e", 40)
	case "CurBucketName":
		return "acme-cur"
	case "CallbackSecret":
		return "whsec_" + strings.Repeat("A", 32)
	}
	for _, p := range params.All() {
		if p.Name == name {
			if p.Default != "" {
				return p.Default
			}
			return ""
		}
	}
	return ""
}

func TestLaunchURLRejectsBadInput(t *testing.T) {
	p := vendor(t)
	region := p.Publish.Regions[0]
	good := map[string]string{"ExternalId": "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"}
	tests := map[string]struct {
		link Link
		want string
	}{
		"unpublished region":   {Link{Region: "ap-east-9", StackName: "onboarding", Values: good}, "not one"},
		"bad stack name":       {Link{Region: region, StackName: "1-onboarding", Values: good}, "stack name"},
		"bad external id":      {Link{Region: region, StackName: "onboarding", Values: map[string]string{"ExternalId": "x y"}}, "ExternalId"},
		"a NoEcho parameter":   {Link{Region: region, StackName: "onboarding", Values: map[string]string{"CallbackSecret": "whsec_" + strings.Repeat("A", 32)}}, "NoEcho"},
		"an unknown parameter": {Link{Region: region, StackName: "onboarding", Values: map[string]string{"ExternalID": "x"}}, "not a parameter"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := LaunchURL(p, tt.link); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LaunchURL: %v, want an error containing %q", err, tt.want)
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
