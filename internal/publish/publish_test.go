package publish

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/permissions"
	"github.com/rolecall/rolecall/internal/synth"

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
	r1, err := Build(p, []byte("zip-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := Build(p, []byte("zip-2"), nil)
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
	link, err := LaunchURL(p, Link{Region: region, Release: "0123456789ab", StackName: p.ID + "-onboarding", Values: map[string]string{"ExternalId": "ext-7f3c9e1d-2b4a-4c8e-9a1f-0b2c3d4e5f60"}})
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
	// The release's own template, which never changes.
	if want := "https://" + Bucket(p, region) + ".s3." + region + ".amazonaws.com/rolecall/0123456789ab/template.yaml"; q.Get("templateURL") != want {
		t.Errorf("templateURL %s, want %s", q.Get("templateURL"), want)
	}
	latest, err := LaunchURL(p, Link{Region: region, Release: Latest, StackName: p.ID + "-onboarding"})
	if err != nil || !strings.Contains(latest, url.QueryEscape(LatestKey)) {
		t.Errorf("a link to latest: %s, %v", latest, err)
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
			_, err := LaunchURL(p, Link{Region: p.Publish.Regions[0], Release: Latest, StackName: "s", Values: map[string]string{name: sample(name)}})
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
		"unpublished region":   {Link{Region: "ap-east-9", Release: Latest, StackName: "onboarding", Values: good}, "not one"},
		"bad stack name":       {Link{Region: region, Release: Latest, StackName: "1-onboarding", Values: good}, "stack name"},
		"no release":           {Link{Region: region, StackName: "onboarding", Values: good}, "give a release version"},
		"a mutable name":       {Link{Region: region, Release: "v1", StackName: "onboarding", Values: good}, "give a release version"},
		"bad external id":      {Link{Region: region, Release: Latest, StackName: "onboarding", Values: map[string]string{"ExternalId": "x y"}}, "ExternalId"},
		"a NoEcho parameter":   {Link{Region: region, Release: Latest, StackName: "onboarding", Values: map[string]string{"CallbackSecret": "whsec_" + strings.Repeat("A", 32)}}, "NoEcho"},
		"an unknown parameter": {Link{Region: region, Release: Latest, StackName: "onboarding", Values: map[string]string{"ExternalID": "x"}}, "not a parameter"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := LaunchURL(p, tt.link); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LaunchURL: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A release goes up in dependency order: every artifact (code, nested
// template, verify binaries, SHA256SUMS) before the template that names
// them, the latest alias last; SHA256SUMS covers every file.
func TestBuildOrdersTheReleaseAndChecksumsIt(t *testing.T) {
	p := vendor(t)
	bins := map[string][]byte{"rolecall-verify-linux-amd64": []byte("elf"), "rolecall-verify-windows-amd64.exe": []byte("pe")}
	r, err := Build(p, []byte("zip"), bins)
	if err != nil {
		t.Fatal(err)
	}
	for _, region := range p.Publish.Regions {
		var kinds []Kind
		var sums string
		byKey := map[string]Object{}
		for _, o := range r.Objects {
			if o.Region != region {
				continue
			}
			kinds = append(kinds, o.Kind)
			byKey[o.Key] = o
			if strings.HasSuffix(o.Key, "/"+SumsKey) {
				sums = string(o.Body)
			}
		}
		if !slices.IsSorted(kinds) || kinds[len(kinds)-1] != Alias || kinds[len(kinds)-2] != ReleaseTemplate {
			t.Errorf("%s: kinds in upload order %v, want artifacts, the template, the alias", region, kinds)
		}
		lines := strings.Split(strings.TrimSpace(sums), "\n")
		if len(lines) != len(byKey)-2 { // all but SHA256SUMS and the alias
			t.Errorf("%s: SHA256SUMS has %d lines for %d files", region, len(lines), len(byKey)-2)
		}
		for _, line := range lines {
			sum, rel, _ := strings.Cut(line, "  ")
			o, ok := byKey[ReleasePrefix(r.Version)+"/"+rel]
			if !ok || o.SHA256() != sum {
				t.Errorf("%s: SHA256SUMS line %q does not match a file of the release", region, line)
			}
		}
		if _, ok := byKey[ReleasePrefix(r.Version)+"/verify/rolecall-verify-windows-amd64.exe"]; !ok {
			t.Errorf("%s: no verify binary in the release", region)
		}
	}
}

// failingS3 is the emulator's S3 with a fault: PutObject of the key
// failPut fails, GetObject after a put of corruptKey returns other bytes;
// every put is recorded.
type failingS3 struct {
	s3API
	failPut, corruptKey string
	puts                []string
}

func (f *failingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if aws.ToString(in.Key) == f.failPut {
		return nil, errors.New("connection reset by peer")
	}
	f.puts = append(f.puts, aws.ToString(in.Key))
	return f.s3API.PutObject(ctx, in, opts...)
}

func (f *failingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := f.s3API.GetObject(ctx, in, opts...)
	if err == nil && aws.ToString(in.Key) == f.corruptKey && slices.Contains(f.puts, f.corruptKey) {
		out.Body = io.NopCloser(strings.NewReader("truncated"))
	}
	return out, err
}

// uploadEnv is a vendor bucket in the emulator's S3 and two releases.
func uploadEnv(t *testing.T) (*profile.Profile, string, s3API, *Release, *Release) {
	t.Helper()
	p := vendor(t)
	srv := emulatortest.Start(t)
	cfg := srv.Config()
	region := p.Publish.Regions[0]
	cfg.Region = region
	if err := emulator.CreateBucket(t.Context(), cfg, Bucket(p, region)); err != nil {
		t.Fatal(err)
	}
	a, err := Build(p, []byte("zip-a"), map[string][]byte{"rolecall-verify-linux-amd64": []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(p, []byte("zip-b"), map[string][]byte{"rolecall-verify-linux-amd64": []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	return p, region, emulator.S3Client(cfg), a, b
}

func latestNames(t *testing.T, client s3API, p *profile.Profile, region, version string) bool {
	t.Helper()
	body, found, err := read(t.Context(), client, Object{Bucket: Bucket(p, region), Key: LatestKey})
	if err != nil || !found {
		t.Fatalf("read latest: %v (found %v)", err, found)
	}
	return strings.Contains(string(body), "rolecall/"+version+"/function.zip")
}

// Against the emulator's S3: the upload goes in order, reads each object
// back, and the alias comes last.
func TestUploadGoesInOrderAndReadsBack(t *testing.T) {
	p, region, client, a, _ := uploadEnv(t)
	f := &failingS3{s3API: client}
	rep, err := Upload(t.Context(), f, a, region)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range a.Objects {
		if o.Region == region {
			want = append(want, o.Key)
		}
	}
	if !slices.Equal(f.puts, want) || rep.Uploaded != len(want) || f.puts[len(f.puts)-1] != LatestKey {
		t.Errorf("puts %v (report %+v), want %v", f.puts, rep, want)
	}
	if !latestNames(t, client, p, region, a.Version) {
		t.Error("latest does not name the release")
	}
	// Uploading it again changes nothing.
	f.puts = nil
	rep, err = Upload(t.Context(), f, a, region)
	if err != nil || rep.Present != len(want)-1 || !slices.Equal(f.puts, []string{LatestKey}) {
		t.Errorf("a second upload: %+v, puts %v, %v", rep, f.puts, err)
	}
}

// An upload that fails halfway leaves the previous release working: the
// alias still names it and its objects are untouched; running the upload
// again completes the new one.
func TestAFailedUploadLeavesThePreviousReleaseWorking(t *testing.T) {
	p, region, client, a, b := uploadEnv(t)
	if _, err := Upload(t.Context(), client, a, region); err != nil {
		t.Fatal(err)
	}
	templateB := ReleasePrefix(b.Version) + "/" + synth.ManagementTemplatePath
	f := &failingS3{s3API: client, failPut: templateB}
	if _, err := Upload(t.Context(), f, b, region); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Upload with a failing put: %v", err)
	}
	if !latestNames(t, client, p, region, a.Version) {
		t.Error("after the failed upload latest no longer names the previous release")
	}
	for _, o := range a.Objects {
		if o.Region != region || o.Kind == Alias {
			continue
		}
		if body, found, err := read(t.Context(), client, o); err != nil || !found || !bytes.Equal(body, o.Body) {
			t.Errorf("the previous release's %s is gone or changed (%v)", o.Key, err)
		}
	}
	rep, err := Upload(t.Context(), client, b, region)
	if err != nil || rep.Present == 0 || !latestNames(t, client, p, region, b.Version) {
		t.Errorf("resuming: %+v, %v; latest names the new release: %v", rep, err, latestNames(t, client, p, region, b.Version))
	}
}

// A read-back that differs stops the upload before anything references
// the object; a release object that exists with other bytes is never
// overwritten.
func TestUploadStopsOnABadReadBackAndNeverOverwritesARelease(t *testing.T) {
	p, region, client, a, _ := uploadEnv(t)
	zipKey := ReleasePrefix(a.Version) + "/function.zip"
	f := &failingS3{s3API: client, corruptKey: zipKey}
	_, err := Upload(t.Context(), f, a, region)
	if err == nil || !strings.Contains(err.Error(), "read back") || slices.Contains(f.puts, LatestKey) {
		t.Fatalf("a corrupted read-back: %v; puts %v", err, f.puts)
	}
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(Bucket(p, region)), Key: aws.String(zipKey), Body: strings.NewReader("tampered")}); err != nil {
		t.Fatal(err)
	}
	if _, err := Upload(t.Context(), client, a, region); !errors.Is(err, ErrImmutable) {
		t.Errorf("uploading over other bytes: %v, want ErrImmutable", err)
	}
}

// Two builds of the verify binary from the same checkout, the second with
// an empty build cache, are byte for byte the same, and the binary says
// which release and permission set it is.
func TestVerifyBuildsAreReproducible(t *testing.T) {
	target := []Target{{runtime.GOOS, runtime.GOARCH}}
	first, err := BuildVerify(t.Context(), "../..", "0123456789ab", "", target)
	if err != nil {
		t.Fatal(err)
	}
	second, err := BuildVerify(t.Context(), "../..", "0123456789ab", t.TempDir(), target)
	if err != nil {
		t.Fatal(err)
	}
	name := target[0].Name()
	if len(first[name]) == 0 || !bytes.Equal(first[name], second[name]) {
		t.Fatalf("two builds of %s differ (%d and %d bytes)", name, len(first[name]), len(second[name]))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, first[name], 0o755); err != nil { //nolint:gosec // an executable we built
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), path, "--version").Output()
	if err != nil || !strings.Contains(string(out), "rolecall-verify 0123456789ab (checks permission set "+permissions.Version) {
		t.Errorf("--version: %q, %v", out, err)
	}
	if _, err := BuildVerify(t.Context(), "../..", "latest", "", target); err == nil {
		t.Error("a binary was built for a version that names no release")
	}
}

func TestCloudShellLineChecksTheBinaryBeforeRunningIt(t *testing.T) {
	p := vendor(t)
	region := p.Publish.Regions[0]
	line, err := CloudShellLine(p, region, "0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	check := strings.Index(line, "sha256sum -c")
	run := strings.Index(line, "--version")
	if check < 0 || run < check || !strings.Contains(line, Bucket(p, region)+".s3."+region+".amazonaws.com/rolecall/0123456789ab") {
		t.Errorf("line %s", line)
	}
	if _, err := CloudShellLine(p, region, Latest); err == nil {
		t.Error("a CloudShell line for the mutable alias")
	}
}

// Each partition has its own console: a link for GovCloud or China opens
// it, for the partition's own template.
func TestLinksUseEachPartitionsConsole(t *testing.T) {
	p := *vendor(t)
	p.Partitions = map[string]profile.Partition{
		"aws-us-gov": {PrincipalARN: "arn:aws-us-gov:iam::123456789012:role/Ingest", Regions: []string{"us-gov-west-1"}},
		"aws-cn":     {PrincipalARN: "arn:aws-cn:iam::123456789012:role/Ingest", Regions: []string{"cn-north-1"}},
	}
	for region, want := range map[string]string{
		p.Publish.Regions[0]: "https://" + p.Publish.Regions[0] + ".console.aws.amazon.com/cloudformation/home?region=" + p.Publish.Regions[0] + "#",
		"us-gov-west-1":      "https://console.amazonaws-us-gov.com/cloudformation/home?region=us-gov-west-1#",
		"cn-north-1":         "https://console.amazonaws.cn/cloudformation/home?region=cn-north-1#",
	} {
		link, err := LaunchURL(&p, Link{Region: region, Release: "0123456789ab", StackName: "onboarding"})
		if err != nil || !strings.HasPrefix(link, want) {
			t.Errorf("%s: %s, %v; want %s...", region, link, err, want)
		}
	}
	r, err := Build(&p, []byte("zip"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.Templates["cn-north-1"], ".s3.cn-north-1.amazonaws.com.cn/rolecall/"+r.Version+"/template.yaml") {
		t.Errorf("China template at %s", r.Templates["cn-north-1"])
	}
}
