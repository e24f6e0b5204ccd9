package callback

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SignerConfig configures NewSigner.
type SignerConfig struct {
	// Secrets are the "whsec_" secrets the vendor issued; each signs every
	// callback. One is usual; two while the vendor rotates.
	Secrets []string
	// Credentials sign the identity proof: the sender's own AWS identity,
	// in the management account.
	Credentials aws.CredentialsProvider
	// Audience names the vendor the proof is for (the vendor profile's
	// callback audience); the verifier requires its own.
	Audience string
	// STSEndpoint and STSRegion are what the proof is signed for; the
	// verifier must use the same. Empty means DefaultSTSEndpoint and
	// DefaultSTSRegion.
	STSEndpoint string
	STSRegion   string
	// Now is the clock of the webhook timestamp and the SigV4 date; nil
	// means time.Now.
	Now func() time.Time
	// Nonce is read for each proof's nonce; nil means crypto/rand.Reader.
	Nonce io.Reader
}

// Signer signs callbacks: the Standard Webhooks headers and the AWS
// identity proof. It is safe for concurrent use if its Nonce reader is.
type Signer struct {
	secrets  []Secret
	creds    aws.CredentialsProvider
	audience string
	endpoint *url.URL
	region   string
	now      func() time.Time
	nonce    io.Reader
	v4       *v4.Signer
}

// NewSigner checks cfg and returns a Signer.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	secrets, err := ParseSecrets(cfg.Secrets)
	if err != nil {
		return nil, fmt.Errorf("callback signer: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("callback signer: no AWS credentials for the identity proof")
	}
	if err := checkAudience(cfg.Audience); err != nil {
		return nil, fmt.Errorf("callback signer: %w", err)
	}
	endpoint, err := parseSTSEndpoint(cmp.Or(cfg.STSEndpoint, DefaultSTSEndpoint))
	if err != nil {
		return nil, fmt.Errorf("callback signer: %w", err)
	}
	region := cmp.Or(cfg.STSRegion, DefaultSTSRegion)
	if !scopePartPattern().MatchString(region) {
		return nil, fmt.Errorf("callback signer: STS region %q", region)
	}
	return &Signer{
		secrets:  secrets,
		creds:    cfg.Credentials,
		audience: cfg.Audience,
		endpoint: endpoint,
		region:   region,
		now:      orNow(cfg.Now),
		nonce:    cmp.Or[io.Reader](cfg.Nonce, rand.Reader),
		v4:       v4.NewSigner(),
	}, nil
}

// Sign returns the headers of one attempt to deliver body under id:
// webhook-id, webhook-timestamp (now), webhook-signature and the identity
// proof, signed now with a fresh nonce. Call it again for every attempt.
func (s *Signer) Sign(ctx context.Context, id string, body []byte) (http.Header, error) {
	if !webhookIDPattern().MatchString(id) {
		return nil, fmt.Errorf("sign callback: id %q must be 1 to 256 letters, digits, _ or -", id)
	}
	now := s.now()
	ts := now.Unix()
	pr, err := s.prove(ctx, body, now)
	if err != nil {
		return nil, fmt.Errorf("sign callback %s: %w", id, err)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, signatureHeader(s.secrets, id, ts, body))
	h.Set(HeaderIdentityProof, pr)
	h.Set(HeaderKeyID, keyIDHeader(s.secrets))
	return h, nil
}

// keyIDHeader returns the x-rolecall-key-id value.
func keyIDHeader(secrets []Secret) string {
	ids := make([]string, len(secrets))
	for i, s := range secrets {
		ids[i] = s.KeyID()
	}
	return strings.Join(ids, " ")
}

// KeyIDs returns the key ids a callback's headers list (HeaderKeyID), at
// most 8, each checked for form; a callback from a sender older than key
// ids lists none.
func KeyIDs(h http.Header) ([]string, error) {
	raw := strings.Fields(h.Get(HeaderKeyID))
	if len(raw) > 8 {
		return nil, fmt.Errorf("%w: %s lists %d key ids, at most 8", ErrMalformedHeader, HeaderKeyID, len(raw))
	}
	for _, id := range raw {
		rest, ok := strings.CutPrefix(id, KeyIDPrefix)
		if _, err := hex.DecodeString(rest); !ok || err != nil || len(rest) != 32 {
			return nil, fmt.Errorf("%w: %s holds %.40q, not %s and 32 hex digits", ErrMalformedHeader, HeaderKeyID, id, KeyIDPrefix)
		}
	}
	return raw, nil
}

// prove signs the sts:GetCallerIdentity request that binds body, the
// audience and a fresh nonce, and encodes it.
func (s *Signer) prove(ctx context.Context, body []byte, now time.Time) (string, error) {
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(s.nonce, nonce); err != nil {
		return "", fmt.Errorf("identity proof nonce: %w", err)
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("identity proof credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint.String(), strings.NewReader(stsBody))
	if err != nil {
		return "", fmt.Errorf("identity proof request: %w", err)
	}
	digest := sha256.Sum256(body)
	req.Header.Set("Content-Type", stsContentType)
	req.Header.Set(BindingBodySHA256, hex.EncodeToString(digest[:]))
	req.Header.Set(BindingAudience, s.audience)
	req.Header.Set(BindingNonce, base64.RawURLEncoding.EncodeToString(nonce))
	payloadHash := sha256.Sum256([]byte(stsBody))
	if err := s.v4.SignHTTP(ctx, creds, req, hex.EncodeToString(payloadHash[:]), stsService, s.region, now); err != nil {
		return "", fmt.Errorf("sign identity proof: %w", err)
	}
	authz := req.Header.Get("Authorization")
	a, err := parseAuthorization(authz)
	if err != nil {
		return "", fmt.Errorf("sign identity proof: %w", err)
	}
	p := &proof{
		Version: proofVersion,
		Method:  req.Method,
		Path:    req.URL.RequestURI(),
		Headers: map[string]string{"authorization": authz},
	}
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
			p.Headers[name] = cmp.Or(req.Host, req.URL.Host)
		case "content-length":
			p.Headers[name] = strconv.FormatInt(req.ContentLength, 10)
		default:
			p.Headers[name] = strings.Join(req.Header.Values(name), ",")
		}
	}
	return p.encode()
}

var webhookIDPattern = lazyRegexp(`^[A-Za-z0-9_-]{1,256}$`)

// checkAudience requires an audience that survives SigV4's header
// canonicalisation unchanged.
func checkAudience(a string) error {
	if a == "" || len(a) > 256 {
		return fmt.Errorf("audience must be 1 to 256 characters, got %d", len(a))
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c <= 0x20 || c > 0x7e {
			return fmt.Errorf("audience %q must be visible ASCII without spaces", a)
		}
	}
	return nil
}

// parseSTSEndpoint accepts an absolute http(s) URL with no query, fragment
// or user; an empty path is "/".
func parseSTSEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("STS endpoint: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("STS endpoint %q must be an http(s) URL with a host and no query", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// signedHost is the host a SigV4 signer signs for u: without the scheme's
// default port.
func signedHost(u *url.URL) string {
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return u.Hostname()
	}
	return u.Host
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
