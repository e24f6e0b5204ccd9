package callback

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook timestamp and a proof's X-Amz-Date
// may be from the verifier's clock, either way.
const DefaultTolerance = 5 * time.Minute

// HTTPClient sends the rebuilt STS request; *http.Client is one.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	// Secrets are the "whsec_" secrets issued to the customer. A callback
	// passes if one of its signatures matches one of them, so during a
	// rotation list both.
	Secrets []string
	// Audience must equal the audience bound into the identity proof (the
	// vendor profile's callback audience, by default the callback URL's
	// host).
	Audience string
	// Partitions are the AWS partitions whose customers the vendor
	// onboards (aws, aws-us-gov, aws-cn); a proof is sent to the STS
	// endpoint of its partition (see PartitionSTS), and one signed for any
	// other endpoint is refused. Empty means aws only.
	Partitions []string
	// STSEndpoint and STSRegion, if set, replace Partitions with this one
	// endpoint: point them at a local emulator only in tests and demos.
	STSEndpoint string
	STSRegion   string
	// Tolerance bounds the age (and the lead) of webhook-timestamp and of
	// the proof's X-Amz-Date. Zero means DefaultTolerance.
	Tolerance time.Duration
	// ReplayCache remembers accepted webhook-ids. Nil means a
	// MemoryReplayCache of DefaultReplayCacheSize entries; plug in a shared
	// store (Redis SET NX PXAT, a database) when several instances receive.
	ReplayCache ReplayCache
	// HTTPClient reaches STS. Nil means an http.Client with a 10-second
	// timeout that follows no redirect.
	HTTPClient HTTPClient
	// ConfirmMembers, if set, is asked about the member accounts of every
	// callback that lists any (accounts other than the management account,
	// which the proof cannot cover). Return an error to refuse the
	// callback; it is wrapped in ErrMembership. A typical implementation
	// assumes the vendor's role in the management account and checks each
	// account with organizations:ListAccounts.
	ConfirmMembers func(ctx context.Context, p *Payload, memberAccountIDs []string) error
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks callbacks. It is safe for concurrent use.
type Verifier struct {
	secrets   []Secret
	audience  string
	endpoints []verifierEndpoint
	tolerance time.Duration
	replay    ReplayCache
	client    HTTPClient
	confirm   func(context.Context, *Payload, []string) error
	now       func() time.Time
}

// Identity is who signed an identity proof, as STS answered.
type Identity struct {
	Account string
	ARN     string
	UserID  string
}

// Message is a verified callback.
type Message struct {
	// ID is the webhook-id, equal to Payload.ID.
	ID string
	// Timestamp is the webhook-timestamp of this attempt.
	Timestamp time.Time
	Payload   Payload
	// Body is the payload exactly as received.
	Body []byte
	// Caller is the identity STS reported for the proof: a principal of
	// Payload.ManagementAccountID.
	Caller Identity
	// AssertedAccounts are the member accounts in Payload.Accounts: listed
	// by the management account, authentic, but not proven by the identity
	// proof (see the package documentation).
	AssertedAccounts []string
	// MembersConfirmed reports that VerifierConfig.ConfirmMembers accepted
	// AssertedAccounts.
	MembersConfirmed bool
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	secrets, err := ParseSecrets(cfg.Secrets)
	if err != nil {
		return nil, fmt.Errorf("callback verifier: %w", err)
	}
	if err := checkAudience(cfg.Audience); err != nil {
		return nil, fmt.Errorf("callback verifier: %w", err)
	}
	var endpoints []verifierEndpoint
	add := func(raw, region, partition string) error {
		u, err := parseSTSEndpoint(raw)
		if err != nil {
			return err
		}
		if !scopePartPattern().MatchString(region) {
			return fmt.Errorf("STS region %q", region)
		}
		endpoints = append(endpoints, verifierEndpoint{url: u, host: signedHost(u), region: region, partition: partition})
		return nil
	}
	if cfg.STSEndpoint != "" {
		if err := add(cfg.STSEndpoint, cmp.Or(cfg.STSRegion, DefaultSTSRegion), ""); err != nil {
			return nil, fmt.Errorf("callback verifier: %w", err)
		}
	} else {
		names := cfg.Partitions
		if len(names) == 0 {
			names = []string{"aws"}
		}
		for _, name := range names {
			p, err := PartitionSTS(name)
			if err != nil {
				return nil, fmt.Errorf("callback verifier: %w", err)
			}
			if err := add(p.Endpoint, p.Region, p.Name); err != nil {
				return nil, fmt.Errorf("callback verifier: %w", err)
			}
		}
	}
	if cfg.Tolerance < 0 {
		return nil, fmt.Errorf("callback verifier: negative tolerance %s", cfg.Tolerance)
	}
	now := orNow(cfg.Now)
	v := &Verifier{
		secrets:   secrets,
		audience:  cfg.Audience,
		endpoints: endpoints,
		tolerance: cmp.Or(cfg.Tolerance, DefaultTolerance),
		replay:    cfg.ReplayCache,
		client:    cfg.HTTPClient,
		confirm:   cfg.ConfirmMembers,
		now:       now,
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayCache(DefaultReplayCacheSize, now)
	}
	if v.client == nil {
		v.client = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return v, nil
}

// Verify checks one callback: its headers h and its body, read in full and
// unchanged. It returns the verified message, or an error wrapping one of
// the Err* rejections, checked in this order: webhook headers, proof
// header present and readable, timestamp, body against the proof's digest,
// signature, payload, proof (endpoint, binding headers, audience,
// freshness), STS's answer, account, member confirmation, replay.
// ErrReplay comes last, so it marks an authentic re-delivery (see
// ReplayError). An error wrapping none of them is the verifier's own
// failure (its replay cache).
//
// Verify calls STS once per callback that passes the local checks.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) (*Message, error) {
	w, err := parseWebhookHeaders(h)
	if err != nil {
		return nil, err
	}
	pr, err := readProofHeader(h)
	if err != nil {
		return nil, err
	}
	now := v.now()
	sent := time.Unix(w.timestamp, 0)
	if d := now.Sub(sent); d > v.tolerance || d < -v.tolerance {
		return nil, fmt.Errorf("%w: %s is %s from the verifier's clock (tolerance %s)", ErrTimestamp, HeaderTimestamp, d.Round(time.Second), v.tolerance)
	}
	digest := sha256.Sum256(body)
	if claimed, ok := pr.Headers[BindingBodySHA256]; ok && !hmac.Equal([]byte(claimed), []byte(hex.EncodeToString(digest[:]))) {
		return nil, fmt.Errorf("%w: the body was changed after signing", ErrBodyDigest)
	}
	if !v.signatureMatches(w, body) {
		return nil, fmt.Errorf("%w: checked %d signature(s) against %d secret(s): wrong secret, or the id, timestamp or body changed", ErrSignature, len(w.signatures), len(v.secrets))
	}
	p, err := parsePayload(body)
	if err != nil {
		return nil, err
	}
	if p.ID != w.id {
		return nil, fmt.Errorf("%w: id %q is not the %s %q", ErrInvalidPayload, p.ID, HeaderID, w.id)
	}
	ep, err := v.checkProof(pr, now)
	if err != nil {
		return nil, err
	}
	caller, err := v.askSTS(ctx, ep, pr)
	if err != nil {
		return nil, err
	}
	if err := checkPartition(ep, p, caller); err != nil {
		return nil, err
	}
	asserted, err := checkAccounts(p, caller)
	if err != nil {
		return nil, err
	}
	m := &Message{
		ID:               w.id,
		Timestamp:        sent,
		Payload:          *p,
		Body:             body,
		Caller:           caller,
		AssertedAccounts: asserted,
	}
	if v.confirm != nil && len(asserted) > 0 {
		if err := v.confirm(ctx, p, slices.Clone(asserted)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMembership, err)
		}
		m.MembersConfirmed = true
	}
	added, err := v.replay.Add(ctx, w.id, now.Add(2*v.tolerance))
	if err != nil {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if !added {
		return nil, &ReplayError{Message: m}
	}
	return m, nil
}

// Forget removes id from the replay cache, so that the sender's next
// attempt is accepted. Call it when a verified message could not be
// processed (and answer with a 5xx, so that the sender retries).
func (v *Verifier) Forget(ctx context.Context, id string) error {
	return v.replay.Remove(ctx, id)
}

// webhookHeaders are the parsed Standard Webhooks headers.
type webhookHeaders struct {
	id         string
	timestamp  int64
	signatures [][]byte // decoded v1 signatures
}

var timestampPattern = lazyRegexp(`^[0-9]{1,12}$`)

func parseWebhookHeaders(h http.Header) (webhookHeaders, error) {
	var missing []string
	for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		if h.Get(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return webhookHeaders{}, fmt.Errorf("%w: %s", ErrMissingHeader, strings.Join(missing, ", "))
	}
	id := h.Get(HeaderID)
	if !webhookIDPattern().MatchString(id) {
		return webhookHeaders{}, fmt.Errorf("%w: %s must be 1 to 256 letters, digits, _ or -", ErrMalformedHeader, HeaderID)
	}
	ts, err := parseTimestamp(h.Get(HeaderTimestamp))
	if err != nil {
		return webhookHeaders{}, err
	}
	sigs, err := parseSignatures(h.Get(HeaderSignature))
	if err != nil {
		return webhookHeaders{}, err
	}
	return webhookHeaders{id: id, timestamp: ts, signatures: sigs}, nil
}

// parseTimestamp reads webhook-timestamp: unix seconds, digits only.
func parseTimestamp(s string) (int64, error) {
	if !timestampPattern().MatchString(s) {
		return 0, fmt.Errorf("%w: %s must be unix seconds", ErrMalformedHeader, HeaderTimestamp)
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be unix seconds", ErrMalformedHeader, HeaderTimestamp)
	}
	return ts, nil
}

// parseSignatures reads webhook-signature: space-separated "version,base64"
// entries. Versions other than v1 (such as v1a, asymmetric) are skipped,
// as Standard Webhooks asks; a header without any v1 entry is malformed.
func parseSignatures(s string) ([][]byte, error) {
	if len(s) > maxSignatureHeader {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrMalformedHeader, HeaderSignature, len(s), maxSignatureHeader)
	}
	var sigs [][]byte
	for entry := range strings.FieldsSeq(s) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			return nil, fmt.Errorf("%w: %s entries must be version,signature", ErrMalformedHeader, HeaderSignature)
		}
		if version != "v1" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%w: %s has a v1 entry that is not a base64 HMAC-SHA256", ErrMalformedHeader, HeaderSignature)
		}
		if len(sigs) == maxSignatures {
			return nil, fmt.Errorf("%w: %s has more than %d v1 entries", ErrMalformedHeader, HeaderSignature, maxSignatures)
		}
		sigs = append(sigs, raw)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: %s has no v1 signature", ErrMalformedHeader, HeaderSignature)
	}
	return sigs, nil
}

// signatureMatches compares every signature with every secret's, in
// constant time for each pair.
func (v *Verifier) signatureMatches(w webhookHeaders, body []byte) bool {
	match := false
	for _, s := range v.secrets {
		want := s.sign(w.id, w.timestamp, body)
		for _, got := range w.signatures {
			if hmac.Equal(want, got) {
				match = true
			}
		}
	}
	return match
}

func readProofHeader(h http.Header) (*proof, error) {
	s := h.Get(HeaderIdentityProof)
	if s == "" {
		return nil, fmt.Errorf("%w: no %s header", ErrMissingProof, HeaderIdentityProof)
	}
	return decodeProof(s)
}

// parsePayload checks body against the schema and reads it.
func parsePayload(body []byte) (*Payload, error) {
	if err := validateSchema(body); err != nil {
		return nil, err
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	if err := p.checkConsistency(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Hop-by-hop and framing headers have no place in a proof: they would
// change how the request travels, not what it asks.
var forbiddenProofHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-authorization": true, "proxy-connection": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "expect": true,
	"content-encoding": true,
}

var noncePattern = lazyRegexp(`^[A-Za-z0-9_-]{22,128}$`)

// checkProof checks everything about the proof that needs no network:
// that it is GetCallerIdentity for this verifier's endpoint, that every
// binding header is signed and says the right thing, and that it is fresh.
// The body digest was checked before the signature.
func (v *Verifier) checkProof(p *proof, now time.Time) (verifierEndpoint, error) {
	a, err := parseAuthorization(p.Headers["authorization"])
	if err != nil {
		return verifierEndpoint{}, err
	}
	var ep verifierEndpoint
	found := false
	for _, e := range v.endpoints {
		if p.Method == http.MethodPost && p.Path == e.url.RequestURI() && p.Headers["host"] == e.host && a.service == stsService && a.region == e.region {
			ep, found = e, true
			break
		}
	}
	if !found {
		var want []string
		for _, e := range v.endpoints {
			want = append(want, fmt.Sprintf("POST %s%s (%s in %s)", e.host, e.url.RequestURI(), stsService, e.region))
		}
		return ep, fmt.Errorf("%w: %s %s%s signed for %s in %s; this verifier accepts only %s", ErrProofEndpoint, p.Method, p.Headers["host"], p.Path, a.service, a.region, strings.Join(want, ", "))
	}
	signed := make(map[string]bool, len(a.signedHeaders))
	for _, name := range a.signedHeaders {
		signed[name] = true
	}
	for _, name := range []string{BindingBodySHA256, BindingAudience, BindingNonce} {
		if _, ok := p.Headers[name]; !ok {
			return ep, fmt.Errorf("%w: %s is missing", ErrProofBinding, name)
		}
		if !signed[name] {
			return ep, fmt.Errorf("%w: %s is not among SignedHeaders", ErrProofBinding, name)
		}
	}
	for _, name := range []string{"host", "x-amz-date"} {
		if !signed[name] {
			return ep, fmt.Errorf("%w: %s is not signed", ErrMalformedProof, name)
		}
	}
	for name := range p.Headers {
		if name != "authorization" && !signed[name] {
			return ep, fmt.Errorf("%w: header %s is not signed", ErrMalformedProof, name)
		}
		if forbiddenProofHeaders[name] {
			return ep, fmt.Errorf("%w: header %s is not allowed", ErrMalformedProof, name)
		}
	}
	for _, name := range a.signedHeaders {
		if _, ok := p.Headers[name]; !ok {
			return ep, fmt.Errorf("%w: signed header %s has no value", ErrMalformedProof, name)
		}
	}
	if ct, ok := p.Headers["content-type"]; ok && ct != stsContentType {
		return ep, fmt.Errorf("%w: content-type %q is not a GetCallerIdentity form", ErrProofEndpoint, ct)
	}
	if cl, ok := p.Headers["content-length"]; ok && cl != strconv.Itoa(len(stsBody)) {
		return ep, fmt.Errorf("%w: content-length %s is not GetCallerIdentity's", ErrProofEndpoint, cl)
	}
	if p.Headers[BindingAudience] != v.audience {
		return ep, fmt.Errorf("%w: %q, want %q", ErrProofAudience, p.Headers[BindingAudience], v.audience)
	}
	if !noncePattern().MatchString(p.Headers[BindingNonce]) {
		return ep, fmt.Errorf("%w: %s must be 22 to 128 base64url characters", ErrMalformedProof, BindingNonce)
	}
	signedAt, err := parseAmzDate(p.Headers["x-amz-date"])
	if err != nil {
		return ep, err
	}
	if signedAt.Format("20060102") != a.date {
		return ep, fmt.Errorf("%w: x-amz-date is not on the credential scope's day", ErrMalformedProof)
	}
	if d := now.Sub(signedAt); d > v.tolerance || d < -v.tolerance {
		return ep, fmt.Errorf("%w: signed %s from the verifier's clock (tolerance %s)", ErrProofExpired, d.Round(time.Second), v.tolerance)
	}
	return ep, nil
}

// checkPartition binds the proof's partition to the payload's: the
// caller and the stack are in the partition whose STS answered.
func checkPartition(ep verifierEndpoint, p *Payload, caller Identity) error {
	if ep.partition == "" {
		return nil // an explicit endpoint: tests and demos
	}
	callerARN, err := parseARN(caller.ARN)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAccountMismatch, err)
	}
	stack, err := parseARN(p.StackID)
	if err != nil {
		return fmt.Errorf("%w: stack_id: %v", ErrInvalidPayload, err)
	}
	if callerARN.partition != ep.partition || stack.partition != ep.partition {
		return fmt.Errorf("%w: the proof was answered by the %s partition's STS, but the caller is %s and the stack %s", ErrProofEndpoint, ep.partition, caller.ARN, p.StackID)
	}
	return nil
}

// checkAccounts binds the payload to the caller STS reported. It returns
// the member accounts: listed, but not covered by the proof.
func checkAccounts(p *Payload, caller Identity) ([]string, error) {
	if caller.Account != p.ManagementAccountID {
		return nil, fmt.Errorf("%w: signed in account %s, payload says the management account is %s", ErrAccountMismatch, caller.Account, p.ManagementAccountID)
	}
	callerARN, err := parseARN(caller.ARN)
	if err != nil {
		return nil, fmt.Errorf("%w: STS answered with caller %q", ErrSTSUnavailable, caller.ARN)
	}
	stack, _ := parseARN(p.StackID) // checked by parsePayload
	if stack.partition != callerARN.partition {
		return nil, fmt.Errorf("%w: stack %s is not in the caller's partition %s", ErrAccountMismatch, p.StackID, callerARN.partition)
	}
	var asserted []string
	for _, a := range p.Accounts {
		role, _ := parseARN(a.RoleARN) // checked by parsePayload
		if role.partition != callerARN.partition {
			return nil, fmt.Errorf("%w: role %s is not in the caller's partition %s", ErrAccountMismatch, a.RoleARN, callerARN.partition)
		}
		if role.account != caller.Account {
			asserted = append(asserted, a.AccountID)
		}
	}
	return asserted, nil
}
