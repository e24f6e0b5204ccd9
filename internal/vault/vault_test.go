package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// testKey returns 32 distinct-looking key bytes derived from seed.
func testKey(seed byte) []byte {
	k := make([]byte, keySize)
	for i := range k {
		k[i] = seed + byte(i*37+11)
	}
	return k
}

func keyEntry(id string, seed byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(testKey(seed))
}

func mustRing(t testing.TB, s string) *Keyring {
	t.Helper()
	k, err := ParseKeys(s)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

func mustSeal(t testing.TB, k *Keyring, plaintext, aad string) string {
	t.Helper()
	s, err := k.Seal([]byte(plaintext), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

// payloadOf decodes the payload of a sealed value.
func payloadOf(t *testing.T, sealed string) (head string, payload []byte) {
	t.Helper()
	i := strings.LastIndexByte(sealed, ':')
	p, err := base64.RawURLEncoding.DecodeString(sealed[i+1:])
	if err != nil {
		t.Fatalf("payload of %q: %v", sealed, err)
	}
	return sealed[:i+1], p
}

const aad = "customers/cus_123/secret"

func TestRoundTrip(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1))
	for _, pt := range []string{"", "x", "whsec_0123456789abcdefghijklmnopqrstuvwxyz", strings.Repeat("\x00\xff", 1000)} {
		sealed := mustSeal(t, k, pt, aad)
		if !strings.HasPrefix(sealed, "rcv1:k1:") {
			t.Errorf("sealed %q: want prefix rcv1:k1:", sealed)
		}
		_, p := payloadOf(t, sealed)
		if want := nonceSize + len(pt) + tagSize; len(p) != want {
			t.Errorf("payload is %d bytes, want %d (nonce+plaintext+tag)", len(p), want)
		}
		if strings.ContainsAny(sealed[len("rcv1:k1:"):], "=+/:") {
			t.Errorf("payload of %q is not unpadded base64url", sealed)
		}
		got, err := k.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, []byte(pt)) {
			t.Errorf("Open = %q, want %q", got, pt)
		}
		id, err := KeyID(sealed)
		if err != nil || id != "k1" {
			t.Errorf("KeyID = %q, %v; want k1", id, err)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1))
	a := mustSeal(t, k, "same secret", aad)
	b := mustSeal(t, k, "same secret", aad)
	if a == b {
		t.Fatalf("two Seals of the same plaintext are equal: %q", a)
	}
	_, pa := payloadOf(t, a)
	_, pb := payloadOf(t, b)
	if bytes.Equal(pa[:nonceSize], pb[:nonceSize]) {
		t.Errorf("two Seals used the same nonce %x", pa[:nonceSize])
	}
}

func TestCiphertextHidesPlaintext(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1))
	pt := "whsec_callback-secret-0123456789-abcdefghijklmnop"
	sealed := mustSeal(t, k, pt, aad)
	_, payload := payloadOf(t, sealed)
	forms := map[string]string{
		"plaintext":          pt,
		"base64":             base64.StdEncoding.EncodeToString([]byte(pt)),
		"raw base64":         base64.RawStdEncoding.EncodeToString([]byte(pt)),
		"base64url":          base64.RawURLEncoding.EncodeToString([]byte(pt)),
		"hex":                hex.EncodeToString([]byte(pt)),
		"upper hex":          strings.ToUpper(hex.EncodeToString([]byte(pt))),
		"base64 of a middle": base64.RawURLEncoding.EncodeToString([]byte(pt[3:30])),
	}
	for name, form := range forms {
		if strings.Contains(sealed, form) {
			t.Errorf("sealed value contains the %s of the plaintext", name)
		}
	}
	for i := 0; i+8 <= len(pt); i++ {
		if bytes.Contains(payload, []byte(pt[i:i+8])) {
			t.Fatalf("payload contains plaintext bytes %q", pt[i:i+8])
		}
	}
}

func TestWrongAAD(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1))
	sealed := mustSeal(t, k, "secret", "customers/cus_123/secret")
	for _, other := range []string{"customers/cus_124/secret", "customers/cus_123/external_id", "", "customers/cus_123/secret "} {
		got, err := k.Open(sealed, other)
		if !errors.Is(err, ErrAuthentication) {
			t.Errorf("Open with aad %q = %q, %v; want ErrAuthentication", other, got, err)
		}
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownKey) {
			t.Errorf("Open with aad %q: %v is also another sentinel", other, err)
		}
	}
}

func TestTamperedFails(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1)+" "+keyEntry("k2", 2))
	sealed := mustSeal(t, k, "secret value", aad)
	head, payload := payloadOf(t, sealed)
	for i := range payload { // nonce, ciphertext and tag alike
		p := bytes.Clone(payload)
		p[i] ^= 0x01
		altered := head + base64.RawURLEncoding.EncodeToString(p)
		if _, err := k.Open(altered, aad); !errors.Is(err, ErrAuthentication) {
			t.Errorf("byte %d flipped: Open err = %v, want ErrAuthentication", i, err)
		}
	}
	// The header is authenticated too: naming the ring's other key fails
	// to open rather than decrypting with it.
	renamed := strings.Replace(sealed, "rcv1:k1:", "rcv1:k2:", 1)
	if _, err := k.Open(renamed, aad); !errors.Is(err, ErrAuthentication) {
		t.Errorf("key id changed to k2: Open err = %v, want ErrAuthentication", err)
	}
	// Extra bytes at the end.
	longer := head + base64.RawURLEncoding.EncodeToString(append(bytes.Clone(payload), 0))
	if _, err := k.Open(longer, aad); !errors.Is(err, ErrAuthentication) {
		t.Errorf("byte appended: Open err = %v, want ErrAuthentication", err)
	}
}

func TestMalformed(t *testing.T) {
	k := mustRing(t, keyEntry("k1", 1))
	sealed := mustSeal(t, k, "secret value", aad)
	_, payload := payloadOf(t, sealed)
	short := base64.RawURLEncoding.EncodeToString(payload[:nonceSize+tagSize-1])
	cases := map[string]string{
		"empty":                "",
		"plaintext":            "whsec_abc",
		"prefix only":          "rcv1:",
		"no payload separator": "rcv1:k1",
		"empty payload":        "rcv1:k1:",
		"short payload":        "rcv1:k1:" + short,
		"other version":        "rcv2:k1:" + sealed[len("rcv1:k1:"):],
		"upper-case id":        "rcv1:K1:" + sealed[len("rcv1:k1:"):],
		"empty id":             "rcv1::" + sealed[len("rcv1:k1:"):],
		"long id":              "rcv1:" + strings.Repeat("k", 17) + ":" + sealed[len("rcv1:k1:"):],
		"padded payload":       sealed + "==",
		"standard base64":      "rcv1:k1:" + base64.StdEncoding.EncodeToString(payload),
		"not base64":           "rcv1:k1:" + strings.Repeat("!", 40),
		"space before":         " " + sealed,
		"newline after":        sealed + "\n",
		"newline inside":       sealed[:20] + "\r\n" + sealed[20:],
		"extra colon":          "rcv1:k1:x:" + sealed[len("rcv1:k1:"):],
	}
	if !strings.ContainsAny(base64.StdEncoding.EncodeToString(payload), "+/=") {
		delete(cases, "standard base64") // identical to base64url for this payload
	}
	for name, in := range cases {
		if _, err := k.Open(in, aad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Open err = %v, want ErrMalformed", name, err)
		}
		if _, err := KeyID(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: KeyID err = %v, want ErrMalformed", name, err)
		}
		if _, _, err := k.Rewrap(in, aad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Rewrap err = %v, want ErrMalformed", name, err)
		}
	}
	// Every truncation fails; those that leave less than a nonce and a
	// tag are malformed.
	for n := 0; n < len(sealed); n++ {
		_, err := k.Open(sealed[:n], aad)
		if err == nil {
			t.Fatalf("truncated to %d characters: Open succeeded", n)
		}
		if n <= len("rcv1:k1:")+len(short) && !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d characters: err = %v, want ErrMalformed", n, err)
		}
	}
	// Errors never quote the value (it may be a secret stored unsealed).
	_, err := k.Open("rcv9:whsec_TOPSECRET", aad)
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error %v quotes the input", err)
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := keyEntry("k1", 1), keyEntry("k2", 2)
	old := mustRing(t, k1)
	sealed := mustSeal(t, old, "callback secret", aad)

	both := mustRing(t, k2+" "+k1)
	if both.CurrentID() != "k2" {
		t.Fatalf("CurrentID = %q, want k2 (the first)", both.CurrentID())
	}
	if got, err := both.Open(sealed, aad); err != nil || string(got) != "callback secret" {
		t.Fatalf("ring k2 k1 opens the k1 value: %q, %v", got, err)
	}
	rewrapped, changed, err := both.Rewrap(sealed, aad)
	if err != nil || !changed {
		t.Fatalf("Rewrap = %v, %v; want changed", changed, err)
	}
	if id, err := KeyID(rewrapped); err != nil || id != "k2" {
		t.Fatalf("KeyID(rewrapped) = %q, %v; want k2", id, err)
	}
	if got, err := both.Open(rewrapped, aad); err != nil || string(got) != "callback secret" {
		t.Fatalf("Open(rewrapped) = %q, %v", got, err)
	}
	// Rewrap keeps the aad binding.
	if _, err := both.Open(rewrapped, "customers/cus_999/secret"); !errors.Is(err, ErrAuthentication) {
		t.Errorf("rewrapped value opens under another aad: %v", err)
	}
	// A second Rewrap has nothing to do.
	again, changed, err := both.Rewrap(rewrapped, aad)
	if err != nil || changed || again != rewrapped {
		t.Errorf("Rewrap of a current value = %q, %v, %v; want it unchanged, false", again, changed, err)
	}
	// Rewrap still checks a current value opens.
	if _, _, err := both.Rewrap(rewrapped, "customers/cus_999/secret"); !errors.Is(err, ErrAuthentication) {
		t.Errorf("Rewrap under a wrong aad: err = %v, want ErrAuthentication", err)
	}

	newOnly := mustRing(t, k2)
	if got, err := newOnly.Open(rewrapped, aad); err != nil || string(got) != "callback secret" {
		t.Fatalf("ring k2 opens the rewrapped value: %q, %v", got, err)
	}
	_, err = newOnly.Open(sealed, aad)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("ring k2 opens the k1 value: err = %v, want ErrUnknownKey", err)
	}
	for _, want := range []string{`"k1"`, EnvKeys, "add", "rewrap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ErrUnknownKey message %q does not mention %q", err, want)
		}
	}
	if _, _, err := newOnly.Rewrap(sealed, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Rewrap without k1: err = %v, want ErrUnknownKey", err)
	}
}

func TestParseKeys(t *testing.T) {
	good := keyEntry("k1", 1)
	unpadded := "k2:" + base64.RawStdEncoding.EncodeToString(testKey(2))
	k, err := ParseKeys(" \n" + good + ",\t" + unpadded + "\r\n" + keyEntry("k-3", 3) + ",,")
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	if k.CurrentID() != "k1" || strings.Join(k.ids(), " ") != "k1 k2 k-3" {
		t.Errorf("ring = %v, want k1 k2 k-3 with k1 current", k)
	}
	// Every key opens what it sealed, whatever its place in the list.
	for _, id := range []string{"k2", "k-3"} {
		single := mustRing(t, map[string]string{"k2": unpadded, "k-3": keyEntry("k-3", 3)}[id])
		if _, err := k.Open(mustSeal(t, single, "v", aad), aad); err != nil {
			t.Errorf("key %s of the ring does not open: %v", id, err)
		}
	}
	if _, err := ParseKeys(strings.Repeat("a", 16) + ":" + good[3:]); err != nil {
		t.Errorf("16-character id: %v", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	good := keyEntry("k1", 1)
	b64 := good[len("k1:"):]
	short := base64.StdEncoding.EncodeToString(testKey(9)[:16])
	cases := []struct {
		name string
		in   string
		want []string // each must appear in the message
	}{
		{"empty", "", []string{"no keys", "ID:BASE64", "rolecall-vendor keys new"}},
		{"only separators", " ,\n", []string{"no keys", "rolecall-vendor keys new"}},
		{"no colon", b64, []string{"entry 1", "no colon", "rolecall-vendor keys new"}},
		{"upper-case id", "K1:" + b64, []string{"entry 1", `"K1"`, "a-z, 0-9 and -"}},
		{"id with underscore", good + " k_2:" + b64, []string{"entry 2", `"k_2"`, `'_'`}},
		{"empty id", ":" + b64, []string{"entry 1", "key ID", "empty"}},
		{"long id", strings.Repeat("k", 17) + ":" + b64, []string{"entry 1", "17 characters", "1 to 16"}},
		{"bad base64", "k1:" + strings.Repeat("*", 44), []string{"entry 1", `"k1"`, "not valid standard base64", "rolecall-vendor keys new"}},
		{"base64url", "k1:" + strings.NewReplacer("+", "-", "/", "_").Replace(b64) + "-_", []string{"base64", "URL-safe"}},
		{"empty key", "k1:", []string{"entry 1", "empty", "rolecall-vendor keys new"}},
		{"16-byte key", good + "\nk2:" + short, []string{"entry 2", `"k2"`, "16 bytes", "want 32", "rolecall-vendor keys new"}},
		{"duplicate id", good + " " + keyEntry("k2", 2) + " " + keyEntry("k1", 3), []string{"entry 3", `"k1"`, "entry 1", "its own ID"}},
		{"same key twice", good + " k2:" + b64, []string{"entry 2", `"k2"`, "same key as entry 1", "rolecall-vendor keys new"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseKeys(c.in)
			if err == nil {
				t.Fatalf("ParseKeys = %v, want an error", k)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, secret := range []string{b64, short, b64[:20]} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows key material", msg)
				}
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvKeys, "")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvKeys) || !strings.Contains(err.Error(), "rolecall-vendor keys new") {
		t.Errorf("FromEnv with the variable empty: %v; want an error naming %s and how to make a key", err, EnvKeys)
	}
	t.Setenv(EnvKeys, "K1:x")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvKeys) || !strings.Contains(err.Error(), "entry 1") {
		t.Errorf("FromEnv with a bad entry: %v; want an error naming %s and the entry", err, EnvKeys)
	}
	t.Setenv(EnvKeys, keyEntry("k2", 2)+" "+keyEntry("k1", 1))
	k, err := FromEnv()
	if err != nil || k.CurrentID() != "k2" {
		t.Fatalf("FromEnv = %v, %v; want current k2", k, err)
	}
}

func TestNewKey(t *testing.T) {
	line, err := NewKey("k7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "k7:") || strings.ContainsAny(line, " \n") {
		t.Errorf("NewKey = %q, want one k7:BASE64 entry", line)
	}
	k, err := ParseKeys(line)
	if err != nil {
		t.Fatalf("NewKey output does not parse: %v", err)
	}
	if k.CurrentID() != "k7" {
		t.Errorf("CurrentID = %q, want k7", k.CurrentID())
	}
	sealed := mustSeal(t, k, "v", aad)
	if got, err := k.Open(sealed, aad); err != nil || string(got) != "v" {
		t.Errorf("round trip under a new key: %q, %v", got, err)
	}
	other, err := NewKey("k7")
	if err != nil || other == line {
		t.Errorf("two NewKey calls: %q, %q, %v; want different keys", line, other, err)
	}
	if _, err := ParseKeys(line + " " + strings.Replace(other, "k7:", "k8:", 1)); err != nil {
		t.Errorf("two new keys in one ring: %v", err)
	}
	for _, bad := range []string{"", "K7", "k 7", "k:7", strings.Repeat("k", 17)} {
		if s, err := NewKey(bad); err == nil {
			t.Errorf("NewKey(%q) = %q, want an error", bad, s)
		}
	}
}

func TestFormatHidesKeys(t *testing.T) {
	ring := mustRing(t, keyEntry("k2", 2)+" "+keyEntry("k1", 1))
	got := fmt.Sprintf("%v %#v %+v", ring, ring, ring)
	want := `vault.Keyring{current: k2, keys: k2 k1} vault.Keyring{Current: "k2", IDs: []string{"k2", "k1"}} vault.Keyring{current: k2, keys: k2 k1}`
	if got != want {
		t.Errorf("formatted ring:\n got %s\nwant %s", got, want)
	}
	all := got + fmt.Sprintf("%s %d %x %X %q %v %+v %#v %d %x %s", ring, ring, ring, ring, ring, *ring, *ring, *ring, *ring, *ring, []*Keyring{ring})
	all += fmt.Sprint(ring, *ring) + ring.String() + ring.GoString()
	for _, seed := range []byte{1, 2} {
		key := testKey(seed)
		for name, form := range map[string]string{
			"base64":     base64.StdEncoding.EncodeToString(key),
			"raw base64": base64.RawStdEncoding.EncodeToString(key[:12]),
			"hex":        hex.EncodeToString(key[:8]),
			"upper hex":  strings.ToUpper(hex.EncodeToString(key[:8])),
			"bytes":      string(key[:8]),
			"decimal":    fmt.Sprintf("%d %d %d %d %d %d", key[0], key[1], key[2], key[3], key[4], key[5]),
		} {
			if strings.Contains(all, form) {
				t.Errorf("formatted ring shows the %s of key %d:\n%s", name, seed, all)
			}
		}
	}
	if !strings.Contains(all, "k1") {
		t.Errorf("formatted ring does not show its key ids: %s", all)
	}
}

func TestConcurrentUse(t *testing.T) {
	k := mustRing(t, keyEntry("k2", 2)+" "+keyEntry("k1", 1))
	old := mustSeal(t, mustRing(t, keyEntry("k1", 1)), "old", aad)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			place := fmt.Sprintf("customers/cus_%d/secret", i)
			for range 50 {
				s, err := k.Seal([]byte(place), place)
				if err == nil {
					var got []byte
					got, err = k.Open(s, place)
					if err == nil && string(got) != place {
						err = fmt.Errorf("opened %q, want %q", got, place)
					}
				}
				if err == nil {
					_, _, err = k.Rewrap(old, aad)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEmptyKeyring(t *testing.T) {
	var nilRing *Keyring
	if _, err := nilRing.Seal([]byte("x"), aad); err == nil {
		t.Error("Seal on a nil ring succeeded")
	}
	sealed := mustSeal(t, mustRing(t, keyEntry("k1", 1)), "x", aad)
	if _, err := nilRing.Open(sealed, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open on a nil ring: %v, want ErrUnknownKey", err)
	}
	if _, err := (&Keyring{}).Seal([]byte("x"), aad); err == nil {
		t.Error("Seal on a zero ring succeeded")
	}
	if got := fmt.Sprint(Keyring{}); got != "vault.Keyring{current: , keys: }" {
		t.Errorf("zero ring prints %q", got)
	}
}

func FuzzOpen(f *testing.F) {
	k := mustRing(f, keyEntry("k1", 1)+" "+keyEntry("k2", 2))
	sealed := mustSeal(f, k, "secret", aad)
	for _, s := range []string{
		sealed, sealed[:len(sealed)-1], sealed + "A", "", "rcv1:", "rcv1:k1:", "rcv1:k3:" + sealed[8:],
		"rcv1:k1:" + strings.Repeat("A", 38), "rcv1:" + strings.Repeat("k", 40) + ":AAAA", "\xff\xfe:rcv1",
	} {
		f.Add(s, aad)
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, in, aadIn string) {
		got, err := k.Open(in, aadIn)
		_, idErr := KeyID(in)
		if err == nil {
			// Only a genuine value opens, and only with its own aad. (Each
			// fuzz worker seals its own value, so compare contents, not in.)
			if id, _ := KeyID(in); id != "k1" || aadIn != aad || string(got) != "secret" {
				t.Fatalf("Open(%q, %q) = %q: a forgery opened", in, aadIn, got)
			}
			return
		}
		n := 0
		for _, e := range []error{ErrMalformed, ErrUnknownKey, ErrAuthentication} {
			if errors.Is(err, e) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("Open(%q) error %v is not exactly one of the sentinels", in, err)
		}
		if errors.Is(err, ErrMalformed) != (idErr != nil) {
			t.Fatalf("Open(%q) = %v but KeyID err = %v: they disagree on malformed", in, err, idErr)
		}
		if got != nil {
			t.Fatalf("Open(%q) failed but returned %q", in, got)
		}
	})
}
