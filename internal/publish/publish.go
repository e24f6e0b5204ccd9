package publish

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
)

// Kind orders a release's objects: what is referenced goes up before what
// references it, so an upload that stops halfway never leaves a template
// pointing at a missing file.
type Kind int

const (
	// Artifact is referenced and references nothing: the function's code,
	// nested templates, the verify binaries, SHA256SUMS.
	Artifact Kind = iota
	// ReleaseTemplate is the release's immutable management template.
	ReleaseTemplate
	// Alias is the region's latest template, written last of all.
	Alias
)

// Object is one file of a release and where it goes.
type Object struct {
	Region string
	Bucket string
	Key    string
	Body   []byte
	// ContentType is the object's media type.
	ContentType string
	Kind        Kind
}

// SHA256 is the object's checksum, hex.
func (o Object) SHA256() string {
	h := sha256.Sum256(o.Body)
	return hex.EncodeToString(h[:])
}

// Release is everything a vendor uploads for one version. Objects are in
// upload order.
type Release struct {
	Vendor  *profile.Profile
	Version string
	Objects []Object
	// Templates maps each region to the URL of its release's immutable
	// management template.
	Templates map[string]string
}

// zipEpoch is the fixed time stamped on the zip entry, so the same binary
// always zips to the same bytes (and the same version).
var zipEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Zip packs the Lambda bootstrap the way the provided.al2023 runtime wants
// it: one executable file named bootstrap at the root, deterministically.
func Zip(bootstrap []byte) ([]byte, error) {
	if len(bootstrap) == 0 {
		return nil, fmt.Errorf("zip the function: the bootstrap binary is empty; run make build first")
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: zipEpoch}
	h.SetMode(0o755)
	f, err := w.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(bootstrap); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Version is the release's version: a digest of the function and the
// templates, so a link always opens exactly what was tested, and a release
// is never overwritten by another under the same name.
func Version(p *profile.Profile, functionZip []byte) (string, error) {
	local, err := synth.Build(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(functionZip)
	for _, f := range local {
		h.Write([]byte(f.Path))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// SumsKey is each release's checksum file, relative to its prefix.
const SumsKey = "SHA256SUMS"

// Build prepares a release: per region, the function's code, the nested
// template and the verify binaries (keyed by file name, such as
// rolecall-verify-linux-amd64), then SHA256SUMS over all of them and the
// management template, then that template, then the latest alias.
func Build(p *profile.Profile, functionZip []byte, verify map[string][]byte) (*Release, error) {
	version, err := Version(p, functionZip)
	if err != nil {
		return nil, err
	}
	r := &Release{Vendor: p, Version: version, Templates: map[string]string{}}
	for _, region := range p.Regions() {
		a := synth.Artifacts{Region: region, Bucket: Bucket(p, region), Prefix: ReleasePrefix(version)}
		files, err := synth.BuildPublished(p, a)
		if err != nil {
			return nil, err
		}
		obj := func(key string, body []byte, typ string, kind Kind) Object {
			return Object{Region: region, Bucket: a.Bucket, Key: key, Body: body, ContentType: typ, Kind: kind}
		}
		artifacts := []Object{obj(a.FunctionKey(), functionZip, "application/zip", Artifact)}
		var template Object
		for _, f := range files {
			o := obj(a.Prefix+"/"+f.Path, f.Data, "application/x-yaml", Artifact)
			if f.Path == synth.ManagementTemplatePath {
				o.Kind = ReleaseTemplate
				template = o
				continue
			}
			artifacts = append(artifacts, o)
		}
		for _, name := range slices.Sorted(maps.Keys(verify)) {
			artifacts = append(artifacts, obj(a.Prefix+"/"+VerifyDir+"/"+name, verify[name], "application/octet-stream", Artifact))
		}
		var sums strings.Builder
		for _, o := range slices.SortedFunc(slices.Values(append(slices.Clone(artifacts), template)), func(x, y Object) int { return strings.Compare(x.Key, y.Key) }) {
			fmt.Fprintf(&sums, "%s  %s\n", o.SHA256(), strings.TrimPrefix(o.Key, a.Prefix+"/"))
		}
		artifacts = append(artifacts, obj(a.Prefix+"/"+SumsKey, []byte(sums.String()), "text/plain", Artifact))
		r.Objects = append(r.Objects, artifacts...)
		r.Objects = append(r.Objects, template, obj(LatestKey, template.Body, "application/x-yaml", Alias))
		r.Templates[region] = a.URL(a.ManagementTemplateKey())
	}
	return r, nil
}

// ReleasePrefix is where a release's objects live in each bucket.
func ReleasePrefix(version string) string { return "rolecall/" + version }

// VerifyDir holds the prebuilt verify binaries of a release.
const VerifyDir = "verify"

// LatestKey is where each regional bucket holds the newest management
// template, the alias a link opens on request.
const LatestKey = "rolecall/latest/" + synth.ManagementTemplatePath

// Bucket names the vendor's bucket in a region.
func Bucket(p *profile.Profile, region string) string {
	return p.Publish.BucketPrefix + "-" + region
}

// s3API is the part of *s3.Client that Upload uses.
type s3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// UploadReport says what Upload did in one region.
type UploadReport struct {
	// Uploaded were put and read back; Present were there already, with
	// the same bytes (an upload resumed after a failure).
	Uploaded, Present int
}

// ErrImmutable is wrapped when a release's object exists with other
// bytes: a release is never changed once uploaded.
var ErrImmutable = errors.New("a release object exists with other content")

// Upload puts every object of the release for one region, in order:
// artifacts, then the release's template, then the latest alias. Each is
// sent with its SHA-256 (S3 refuses a corrupted body) and read back
// (size and checksum) before the next; an object already there with the
// same bytes is left alone, one with other bytes stops the upload. So an
// upload that fails anywhere leaves the alias on the previous release,
// which still works, and running it again completes it. The buckets must
// exist and be readable by the customers' CloudFormation (public read on
// the rolecall/ prefix, or a bucket policy); Upload does not change
// policies.
func Upload(ctx context.Context, client s3API, r *Release, region string) (UploadReport, error) {
	var rep UploadReport
	for _, o := range r.Objects {
		if o.Region != region {
			continue
		}
		where := "s3://" + o.Bucket + "/" + o.Key
		if o.Kind != Alias {
			body, found, err := read(ctx, client, o)
			if err != nil {
				return rep, fmt.Errorf("check %s: %w", where, err)
			}
			if found {
				if !bytes.Equal(body, o.Body) {
					return rep, fmt.Errorf("%s: %w (%d bytes there, %d in this release): releases are immutable; a release version names one content", where, ErrImmutable, len(body), len(o.Body))
				}
				rep.Present++
				continue
			}
		}
		sum := sha256.Sum256(o.Body)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:         aws.String(o.Bucket),
			Key:            aws.String(o.Key),
			Body:           bytes.NewReader(o.Body),
			ContentType:    aws.String(o.ContentType),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		}); err != nil {
			return rep, fmt.Errorf("upload %s: %w", where, err)
		}
		body, found, err := read(ctx, client, o)
		switch {
		case err != nil:
			return rep, fmt.Errorf("read back %s: %w", where, err)
		case !found:
			return rep, fmt.Errorf("read back %s: not found after the upload", where)
		case len(body) != len(o.Body) || sha256.Sum256(body) != sum:
			return rep, fmt.Errorf("read back %s: %d bytes, sha256 %x; uploaded %d bytes, sha256 %x", where, len(body), sha256.Sum256(body), len(o.Body), sum)
		}
		rep.Uploaded++
	}
	return rep, nil
}

// read returns an object's bytes, or found false if there is none.
func read(ctx context.Context, client s3API, o Object) ([]byte, bool, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 1<<30))
	return body, true, err
}

var stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// Latest names the latest alias in a Link, instead of a release.
const Latest = "latest"

// TemplateKey is the key of the management template a link to release
// opens: the release's own, or the latest alias.
func TemplateKey(release string) (string, error) {
	switch {
	case release == Latest:
		return LatestKey, nil
	case versionPattern.MatchString(release):
		return ReleasePrefix(release) + "/" + synth.ManagementTemplatePath, nil
	}
	return "", fmt.Errorf("release %q: give a release version (12 hex digits, as make package prints it) or %q", release, Latest)
}

// Link is one customer's Launch Stack link: the region, the stack name the
// form suggests and the parameter values it fills in.
type Link struct {
	Region string
	// Release is the release whose immutable template the link opens (its
	// version), or Latest for the region's latest alias.
	Release   string
	StackName string
	// Values fill in the form's parameters; each must be a parameter of
	// the template that the console can fill in (not NoEcho).
	Values map[string]string
}

// LaunchURL returns the Launch Stack link: the console's quick-create form
// for the release's template in the region, in AWS's documented format
// (#/stacks/create/review?templateURL=...&stackName=...&param_NAME=...).
// The console ignores a param_ for a NoEcho parameter and for one the
// template does not declare, so the customer would meet an empty field:
// LaunchURL reads the template it links to and refuses both. The callback
// secret is NoEcho and never put in a link (links end up in browser
// history and chat logs); the customer pastes it into the form.
func LaunchURL(p *profile.Profile, l Link) (string, error) {
	if !slices.Contains(p.Regions(), l.Region) {
		return "", fmt.Errorf("region %q is not one %s publishes to (%s): choose one of those, or add it to publish.regions (or a partition's regions) in the profile", l.Region, p.Name, strings.Join(p.Regions(), ", "))
	}
	if !stackNamePattern.MatchString(l.StackName) {
		return "", fmt.Errorf("stack name %q: use 1-128 letters, digits and hyphens, starting with a letter", l.StackName)
	}
	decls, err := linkedParameters(p)
	if err != nil {
		return "", err
	}
	key, err := TemplateKey(l.Release)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	a := synth.Artifacts{Region: l.Region, Bucket: Bucket(p, l.Region)}
	q.Set("templateURL", a.URL(key))
	q.Set("stackName", l.StackName)
	for _, name := range slices.Sorted(maps.Keys(l.Values)) {
		decl, ok := decls[name]
		switch {
		case !ok:
			return "", fmt.Errorf("%s is not a parameter of the template the link opens: the console would ignore it", name)
		case decl.noEcho:
			return "", fmt.Errorf("%s is a NoEcho parameter: the console cannot fill it in from a link, and a secret never goes in one; give it to the customer another way", name)
		}
		if prm, known := paramByName(name); known {
			if err := prm.Validate(l.Values[name]); err != nil {
				return "", err
			}
		}
		q.Set("param_"+name, l.Values[name])
	}
	return fmt.Sprintf("https://%s/cloudformation/home?region=%s#/stacks/create/review?%s", ConsoleHost(l.Region), l.Region, q.Encode()), nil
}

// ConsoleHost is the AWS console's host for a region: each partition has
// its own console.
func ConsoleHost(region string) string {
	switch profile.PartitionOfRegion(region) {
	case "aws-us-gov":
		return "console.amazonaws-us-gov.com"
	case "aws-cn":
		return "console.amazonaws.cn"
	}
	return region + ".console.aws.amazon.com"
}

// CloudShellLine is the line a customer pastes into AWS CloudShell (or any
// Linux shell with curl and sha256sum) to download the release's verify
// binary for the machine, check it against the release's SHA256SUMS, and
// print its version.
func CloudShellLine(p *profile.Profile, region, release string) (string, error) {
	if !versionPattern.MatchString(release) {
		return "", fmt.Errorf("release %q: give a release version (12 hex digits)", release)
	}
	base := synth.Artifacts{Region: region, Bucket: Bucket(p, region)}.URL(ReleasePrefix(release))
	return `A=$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/') && B=` + base + ` && ` +
		`curl -fsSLO "$B/` + SumsKey + `" && curl -fsSL --create-dirs -o "` + VerifyDir + `/rolecall-verify-linux-$A" "$B/` + VerifyDir + `/rolecall-verify-linux-$A" && ` +
		`grep " ` + VerifyDir + `/rolecall-verify-linux-$A\$" ` + SumsKey + ` | sha256sum -c - && chmod +x "` + VerifyDir + `/rolecall-verify-linux-$A" && ` +
		`"./` + VerifyDir + `/rolecall-verify-linux-$A" --version`, nil
}

// linkedParameter is what a link needs to know of a template parameter.
type linkedParameter struct{ noEcho bool }

// linkedParameters reads the parameters of the management template the
// vendor publishes.
func linkedParameters(p *profile.Profile) (map[string]linkedParameter, error) {
	files, err := synth.BuildPublished(p, synth.Artifacts{Region: p.Publish.Regions[0], Bucket: Bucket(p, p.Publish.Regions[0]), Prefix: "rolecall/link"})
	if err != nil {
		return nil, err
	}
	var tpl struct {
		Parameters map[string]struct {
			NoEcho any `yaml:"NoEcho"`
		} `yaml:"Parameters"`
	}
	for _, f := range files {
		if f.Path == synth.ManagementTemplatePath {
			if err := yaml.Unmarshal(f.Data, &tpl); err != nil {
				return nil, fmt.Errorf("read the template the link opens: %w", err)
			}
		}
	}
	out := map[string]linkedParameter{}
	for name, decl := range tpl.Parameters {
		out[name] = linkedParameter{noEcho: fmt.Sprint(decl.NoEcho) == "true"}
	}
	if len(out) == 0 {
		return nil, errors.New("the template the link opens declares no parameters")
	}
	return out, nil
}

func paramByName(name string) (params.Param, bool) {
	for _, p := range params.All() {
		if p.Name == name {
			return p, true
		}
	}
	return params.Param{}, false
}

// WriteDir writes the release under dir as <region>/<bucket>/<key>, so it
// can be inspected or uploaded by other means.
func WriteDir(r *Release, dir string) error {
	for _, o := range r.Objects {
		path := filepath.Join(dir, o.Region, o.Bucket, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, o.Body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReadDir finds what WriteDir wrote under dir: for each region and bucket,
// the URL prefix its objects have in the release's templates and the
// local directory that holds them, and every management template. The
// read-only gate checks a release with them, following each nested
// template's URL to its local copy.
func ReadDir(dir string) (resolve map[string]string, templates []string, err error) {
	regions, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read release %s: %w", dir, err)
	}
	resolve = map[string]string{}
	for _, r := range regions {
		if !r.IsDir() {
			continue
		}
		buckets, err := os.ReadDir(filepath.Join(dir, r.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, b := range buckets {
			if !b.IsDir() {
				continue
			}
			local := filepath.Join(dir, r.Name(), b.Name())
			resolve[synth.Artifacts{Region: r.Name(), Bucket: b.Name()}.URL("")] = local
			err := filepath.WalkDir(local, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && d.Name() == synth.ManagementTemplatePath {
					templates = append(templates, path)
				}
				return err
			})
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if len(templates) == 0 {
		return nil, nil, fmt.Errorf("release %s holds no %s: run make package first", dir, synth.ManagementTemplatePath)
	}
	slices.Sort(templates)
	return resolve, templates, nil
}
