package publish

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/params"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/synth"
)

// Object is one file of a release and where it goes.
type Object struct {
	Region string
	Bucket string
	Key    string
	Body   []byte
	// ContentType is the object's media type.
	ContentType string
}

// Release is everything a vendor uploads for one version.
type Release struct {
	Vendor  *profile.Profile
	Version string
	Objects []Object
	// Templates maps each region to the URL of its management template.
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

// Build prepares a release: the version is a digest of the function and the
// templates, so a link always opens exactly what was tested.
func Build(p *profile.Profile, functionZip []byte) (*Release, error) {
	local, err := synth.Build(p)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(functionZip)
	for _, f := range local {
		h.Write([]byte(f.Path))
		h.Write(f.Data)
	}
	version := hex.EncodeToString(h.Sum(nil))[:12]
	r := &Release{Vendor: p, Version: version, Templates: map[string]string{}}
	for _, region := range p.Publish.Regions {
		a := synth.Artifacts{Region: region, Bucket: Bucket(p, region), Prefix: "rolecall/" + version}
		files, err := synth.BuildPublished(p, a)
		if err != nil {
			return nil, err
		}
		r.Objects = append(r.Objects, Object{Region: region, Bucket: a.Bucket, Key: a.FunctionKey(), Body: functionZip, ContentType: "application/zip"})
		for _, f := range files {
			r.Objects = append(r.Objects, Object{Region: region, Bucket: a.Bucket, Key: a.Prefix + "/" + f.Path, Body: f.Data, ContentType: "application/x-yaml"})
			if f.Path == synth.ManagementTemplatePath {
				// The links customers get point here, so they open the
				// newest release; it names its versioned parts.
				r.Objects = append(r.Objects, Object{Region: region, Bucket: a.Bucket, Key: LatestKey, Body: f.Data, ContentType: "application/x-yaml"})
			}
		}
		r.Templates[region] = a.URL(a.ManagementTemplateKey())
	}
	return r, nil
}

// LatestKey is where each regional bucket holds the newest management
// template, the one Launch Stack links open.
const LatestKey = "rolecall/latest/" + synth.ManagementTemplatePath

// Bucket names the vendor's bucket in a region.
func Bucket(p *profile.Profile, region string) string {
	return p.Publish.BucketPrefix + "-" + region
}

// s3API is the part of *s3.Client that Upload uses.
type s3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Upload puts every object of the release for one region. The buckets must
// exist and be readable by the customers' CloudFormation (public read on the
// rolecall/ prefix, or a bucket policy); Upload does not change policies.
func Upload(ctx context.Context, client s3API, r *Release, region string) (int, error) {
	n := 0
	for _, o := range r.Objects {
		if o.Region != region {
			continue
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(o.Bucket),
			Key:         aws.String(o.Key),
			Body:        bytes.NewReader(o.Body),
			ContentType: aws.String(o.ContentType),
		}); err != nil {
			return n, fmt.Errorf("upload s3://%s/%s: %w", o.Bucket, o.Key, err)
		}
		n++
	}
	return n, nil
}

var stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// Link is one customer's Launch Stack link: the region, the stack name the
// form suggests and the parameter values it fills in.
type Link struct {
	Region    string
	StackName string
	// Values fill in the form's parameters; each must be a parameter of
	// the template that the console can fill in (not NoEcho).
	Values map[string]string
}

// LaunchURL returns the Launch Stack link: the console's quick-create form
// for the region's newest template, in AWS's documented format
// (#/stacks/create/review?templateURL=...&stackName=...&param_NAME=...).
// The console ignores a param_ for a NoEcho parameter and for one the
// template does not declare, so the customer would meet an empty field:
// LaunchURL reads the template it links to and refuses both. The callback
// secret is NoEcho and never put in a link (links end up in browser
// history and chat logs); the customer pastes it into the form.
func LaunchURL(p *profile.Profile, l Link) (string, error) {
	if !slices.Contains(p.Publish.Regions, l.Region) {
		return "", fmt.Errorf("region %q is not one %s publishes to (%s): choose one of those, or add it to publish.regions in the profile", l.Region, p.Name, strings.Join(p.Publish.Regions, ", "))
	}
	if !stackNamePattern.MatchString(l.StackName) {
		return "", fmt.Errorf("stack name %q: use 1-128 letters, digits and hyphens, starting with a letter", l.StackName)
	}
	decls, err := linkedParameters(p)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	a := synth.Artifacts{Region: l.Region, Bucket: Bucket(p, l.Region)}
	q.Set("templateURL", a.URL(LatestKey))
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
	return fmt.Sprintf("https://%s.console.aws.amazon.com/cloudformation/home?region=%s#/stacks/create/review?%s", l.Region, l.Region, q.Encode()), nil
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
