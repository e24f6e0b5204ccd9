package callback

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Seed corpora are in testdata/fuzz/<FuzzName>.

func FuzzParseSignatures(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		sigs, err := parseSignatures(header)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("error %v does not wrap ErrMalformedHeader", err)
			}
			return
		}
		if len(header) > maxSignatureHeader || len(sigs) == 0 || len(sigs) > maxSignatures {
			t.Fatalf("accepted %d signatures from a %d-byte header", len(sigs), len(header))
		}
		for _, s := range sigs {
			if len(s) != sha256.Size {
				t.Fatalf("accepted a %d-byte signature", len(s))
			}
		}
	})
}

var digits = regexp.MustCompile(`^[0-9]{1,12}$`)

func FuzzParseTimestamp(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		ts, err := parseTimestamp(header)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("error %v does not wrap ErrMalformedHeader", err)
			}
			return
		}
		if !digits.MatchString(header) || ts < 0 {
			t.Fatalf("accepted %q as %d", header, ts)
		}
	})
}

// FuzzIdentityProof decodes arbitrary proof headers and puts whatever
// decodes through every local check: nothing may panic, every failure
// must be a proof rejection, and nothing that names another host may pass.
func FuzzIdentityProof(f *testing.F) {
	v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, HTTPClient: fakeSTS(testMgmt, nil), Now: fixedClock(testTime)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, err := decodeProof(header)
		if err != nil {
			if !errors.Is(err, ErrMalformedProof) {
				t.Fatalf("decode error %v does not wrap ErrMalformedProof", err)
			}
			return
		}
		again, err := p.encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := decodeProof(again); err != nil {
			t.Fatalf("a decoded proof does not decode again: %v", err)
		}
		_, err = v.checkProof(p, testTime)
		if err == nil {
			if p.Headers["host"] != "sts.amazonaws.com" || p.Path != "/" || p.Headers[BindingAudience] != testAudience {
				t.Fatalf("accepted a proof for %s%s, audience %q", p.Headers["host"], p.Path, p.Headers[BindingAudience])
			}
			return
		}
		for _, want := range []error{ErrMalformedProof, ErrProofEndpoint, ErrProofBinding, ErrProofAudience, ErrProofExpired} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("check error %v is not a proof rejection", err)
	})
}

// FuzzVerifyHeaders runs Verify on arbitrary header values for a fixed
// body: it must never panic, must reject with one of the rejections, and
// may accept only headers that carry a genuine signature of the body.
func FuzzVerifyHeaders(f *testing.F) {
	v, err := NewVerifier(VerifierConfig{Secrets: []string{testSecret}, Audience: testAudience, HTTPClient: fakeSTS(testMgmt, nil), Now: fixedClock(testTime)})
	if err != nil {
		f.Fatal(err)
	}
	body, err := testPayload(EventOnboardingCreated, 1).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, timestamp, signature, proof string) {
		h := http.Header{}
		for name, value := range map[string]string{HeaderID: id, HeaderTimestamp: timestamp, HeaderSignature: signature, HeaderIdentityProof: proof} {
			if value != "" {
				h.Set(name, strings.ToValidUTF8(value, ""))
			}
		}
		m, err := v.Verify(t.Context(), h, body)
		if err == nil {
			ts, terr := parseTimestamp(timestamp)
			secret, _ := ParseSecret(testSecret)
			genuine := "v1," + base64.StdEncoding.EncodeToString(secret.sign(id, ts, body))
			if terr != nil || !slices.Contains(strings.Fields(signature), genuine) {
				t.Fatalf("accepted %s without a genuine signature", m.ID)
			}
			return
		}
		for _, want := range rejections {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("error %v wraps no rejection", err)
	})
}
