package callback

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignedCallbacksNameTheirKeys(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	first, err := GenerateSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := GenerateSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSigner(t, fixedClock(now), first, second)
	_, h := signed(t, s, testPayload(EventOnboardingCreated, 1))
	ids, err := KeyIDs(h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mustKeyID(t, first), mustKeyID(t, second)}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("key ids %v, want %v (in the order of the secrets)", ids, want)
	}
	if want[0] == want[1] {
		t.Fatal("two secrets share a key id")
	}
	for _, id := range ids {
		if strings.Contains(first, strings.TrimPrefix(id, KeyIDPrefix)) || len(id) != len(KeyIDPrefix)+32 {
			t.Fatalf("key id %q: want rk_ and 32 hex digits, unrelated to the secret's text", id)
		}
	}
	// The same secret, written with padding or without, has one key id.
	if padded := first; !strings.HasSuffix(padded, "=") {
		t.Fatalf("GenerateSecret wrote %q without padding; the test expects padding", padded)
	} else if id, err := KeyIDOf(strings.TrimRight(padded, "=")); err != nil || id != want[0] {
		t.Fatalf("KeyIDOf without padding = %q, %v; want %q", id, err, want[0])
	}
}

func TestKeyIDsRefusesWhatIsNotAKeyID(t *testing.T) {
	for _, v := range []string{"rk_zz", "whsec_abc", "rk_" + strings.Repeat("0", 31), strings.Repeat("rk_"+strings.Repeat("a", 32)+" ", 9)} {
		h := http.Header{}
		h.Set(HeaderKeyID, v)
		if _, err := KeyIDs(h); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("KeyIDs(%.50q) = %v, want ErrMalformedHeader", v, err)
		}
	}
	if ids, err := KeyIDs(http.Header{}); err != nil || len(ids) != 0 {
		t.Fatalf("no header: %v, %v; want none and no error", ids, err)
	}
	if _, err := KeyIDOf("not a secret"); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("KeyIDOf of a non-secret = %v, want ErrInvalidSecret", err)
	}
}

func mustKeyID(t *testing.T, secret string) string {
	t.Helper()
	id, err := KeyIDOf(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
