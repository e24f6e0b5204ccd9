package callback

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Header names. The webhook-* headers are Standard Webhooks'.
const (
	HeaderID            = "webhook-id"
	HeaderTimestamp     = "webhook-timestamp"
	HeaderSignature     = "webhook-signature"
	HeaderIdentityProof = "x-rolecall-identity-proof"
	// HeaderKeyID lists the key ids (Secret.KeyID) of the secrets that
	// signed, space separated, in the order of the signatures.
	HeaderKeyID = "x-rolecall-key-id"
)

// The headers that bind an identity proof to one callback. Each must be
// among the proof's SignedHeaders.
const (
	BindingBodySHA256 = "x-rolecall-body-sha256"
	BindingAudience   = "x-rolecall-audience"
	BindingNonce      = "x-rolecall-nonce"
)

// Defaults for the STS endpoint a proof is signed for and verified against.
const (
	DefaultSTSEndpoint = "https://sts.amazonaws.com"
	DefaultSTSRegion   = "us-east-1"
)

// The one request a proof may be: the body is fixed, so a proof can only
// ever ask STS who signed it.
const (
	stsBody        = "Action=GetCallerIdentity&Version=2011-06-15"
	stsContentType = "application/x-www-form-urlencoded; charset=utf-8"
	stsService     = "sts"
	proofVersion   = 1
	amzDateLayout  = "20060102T150405Z"
	sigV4Algorithm = "AWS4-HMAC-SHA256"
)

// Limits on outside input, so parsing stays cheap whatever arrives.
const (
	maxProofHeaderBytes = 16 << 10
	maxProofHeaders     = 32
	maxSignatureHeader  = 4 << 10
	maxSignatures       = 16
)

// proof is the decoded x-rolecall-identity-proof header.
type proof struct {
	Version int    `json:"v"`
	Method  string `json:"method"`
	Path    string `json:"path"` // path and query, as signed
	// Headers holds every signed header and authorization, by lower-case
	// name. host and content-length are there too, although Go sends
	// them from other fields.
	Headers map[string]string `json:"headers"`
}

func (p *proof) encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var headerNamePattern = lazyRegexp(`^[a-z0-9-]{1,64}$`)

// decodeProof reads a proof header. It checks shape only; what the proof
// must say is the verifier's business.
func decodeProof(s string) (*proof, error) {
	if len(s) > maxProofHeaderBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedProof, len(s), maxProofHeaderBytes)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrMalformedProof)
	}
	var p proof
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: not the proof JSON", ErrMalformedProof)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformedProof)
	}
	if p.Version != proofVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformedProof, p.Version, proofVersion)
	}
	if len(p.Headers) == 0 || len(p.Headers) > maxProofHeaders {
		return nil, fmt.Errorf("%w: %d headers", ErrMalformedProof, len(p.Headers))
	}
	for name, value := range p.Headers {
		if !headerNamePattern().MatchString(name) {
			return nil, fmt.Errorf("%w: header name %q", ErrMalformedProof, name)
		}
		if !validHeaderValue(value) {
			return nil, fmt.Errorf("%w: header %s has a value HTTP cannot carry", ErrMalformedProof, name)
		}
	}
	return &p, nil
}

// validHeaderValue reports whether v is visible ASCII and spaces: what
// SigV4 canonicalises the same way everywhere.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders []string // lower-case, as listed
	signature     string
}

var (
	scopeDatePattern = lazyRegexp(`^[0-9]{8}$`)
	signaturePattern = lazyRegexp(`^[0-9a-f]{64}$`)
	accessKeyPattern = lazyRegexp(`^[A-Z0-9]{16,128}$`)
	scopePartPattern = lazyRegexp(`^[a-z0-9-]{1,64}$`)
)

// parseAuthorization reads
//
//	AWS4-HMAC-SHA256 Credential=AKID/20261102/us-east-1/sts/aws4_request, SignedHeaders=a;b, Signature=hex
func parseAuthorization(v string) (authorization, error) {
	rest, ok := strings.CutPrefix(v, sigV4Algorithm+" ")
	if !ok {
		return authorization{}, fmt.Errorf("%w: authorization is not %s", ErrMalformedProof, sigV4Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, dup := fields[k]; !ok || dup {
			return authorization{}, fmt.Errorf("%w: authorization has a malformed or repeated field", ErrMalformedProof)
		}
		fields[k] = val
	}
	if len(fields) != 3 || fields["Credential"] == "" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return authorization{}, fmt.Errorf("%w: authorization needs exactly Credential, SignedHeaders and Signature", ErrMalformedProof)
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || !accessKeyPattern().MatchString(scope[0]) ||
		!scopeDatePattern().MatchString(scope[1]) || !scopePartPattern().MatchString(scope[2]) || !scopePartPattern().MatchString(scope[3]) {
		return authorization{}, fmt.Errorf("%w: credential scope", ErrMalformedProof)
	}
	if !signaturePattern().MatchString(fields["Signature"]) {
		return authorization{}, fmt.Errorf("%w: signature", ErrMalformedProof)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if len(signed) > maxProofHeaders {
		return authorization{}, fmt.Errorf("%w: %d signed headers", ErrMalformedProof, len(signed))
	}
	for i, h := range signed {
		if !headerNamePattern().MatchString(h) || (i > 0 && signed[i-1] >= h) {
			return authorization{}, fmt.Errorf("%w: signed headers must be sorted lower-case names", ErrMalformedProof)
		}
	}
	return authorization{
		accessKeyID:   scope[0],
		date:          scope[1],
		region:        scope[2],
		service:       scope[3],
		signedHeaders: signed,
		signature:     fields["Signature"],
	}, nil
}

// parseAmzDate reads an X-Amz-Date value.
func parseAmzDate(v string) (time.Time, error) {
	t, err := time.Parse(amzDateLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: x-amz-date %q", ErrMalformedProof, v)
	}
	return t, nil
}
