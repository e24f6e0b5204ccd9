package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// EnvKeys is the environment variable holding the keys.
const EnvKeys = "ROLECALL_VENDOR_KEYS"

// The sealed format: prefix, key id, ':', base64url (no padding) of
// nonce || ciphertext || tag.
const (
	prefix    = "rcv1:"
	keySize   = 32 // AES-256
	nonceSize = 12
	tagSize   = 16
	maxIDLen  = 16

	newKeyHint = `make a key with "rolecall-vendor keys new"`
)

// Errors of Open, KeyID and Rewrap; the errors returned wrap one of these
// (test with errors.Is) and say what to do.
var (
	// ErrUnknownKey: the value names a key the ring does not hold.
	ErrUnknownKey = errors.New("vault: unknown key")
	// ErrMalformed: the value is not a sealed value of this format.
	ErrMalformed = errors.New("vault: malformed sealed value")
	// ErrAuthentication: the value does not open under the key it names
	// with the aad given: it was sealed for another place, or altered.
	ErrAuthentication = errors.New("vault: authentication failed")
)

var (
	payloadEncoding = base64.RawURLEncoding.Strict()
	keyEncoding     = base64.StdEncoding.Strict()
	keyEncodingRaw  = base64.RawStdEncoding.Strict()
)

// Keyring holds the keys: the first is current (seals), all open. It is
// safe for concurrent use and never changes once made. Its String,
// GoString and Format show the key ids only, never key material.
type Keyring struct {
	keys []ringKey // in the order given; keys[0] is current
	byID map[string]cipher.AEAD
}

type ringKey struct {
	id   string
	aead cipher.AEAD
}

// ParseKeys reads "ID:BASE64 ID:BASE64 ..." (space, comma or newline
// separated). ID: 1-16 chars [a-z0-9-]; key: standard base64 (padding
// optional) of exactly 32 bytes. The first key is current. Duplicate IDs
// are an error. At least one key.
func ParseKeys(s string) (*Keyring, error) {
	k, err := parseKeys(s)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return k, nil
}

// FromEnv is ParseKeys(os.Getenv(EnvKeys)) with an error naming the
// variable when it is empty.
func FromEnv() (*Keyring, error) {
	s := os.Getenv(EnvKeys)
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("vault: %s is not set or empty: set it to one or more ID:BASE64 keys, the current key first; %s", EnvKeys, newKeyHint)
	}
	k, err := parseKeys(s)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", EnvKeys, err)
	}
	return k, nil
}

func parseKeys(s string) (*Keyring, error) {
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(entries) == 0 {
		return nil, fmt.Errorf("no keys: want one or more ID:BASE64 entries separated by spaces, commas or newlines; %s", newKeyHint)
	}
	k := &Keyring{byID: make(map[string]cipher.AEAD, len(entries))}
	raw := make([][]byte, 0, len(entries))
	defer func() {
		for _, b := range raw {
			clear(b)
		}
	}()
	for i, e := range entries {
		n := i + 1
		// Never quote an entry or a key in an error: it may be key material.
		id, b64, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("key entry %d is not ID:BASE64 (it has no colon); %s", n, newKeyHint)
		}
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("key entry %d: %w", n, err)
		}
		for j, prev := range k.keys {
			if prev.id == id {
				return nil, fmt.Errorf("key entry %d: key ID %q is also the ID of entry %d: give each key its own ID (a new key needs a new ID)", n, id, j+1)
			}
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("key entry %d (ID %q): %w; %s", n, id, err, newKeyHint)
		}
		for j, prev := range raw {
			if bytes.Equal(prev, key) {
				clear(key)
				return nil, fmt.Errorf("key entry %d (ID %q) is the same key as entry %d (ID %q): a new key must be new, not a copy; %s", n, id, j+1, k.keys[j].id, newKeyHint)
			}
		}
		raw = append(raw, key)
		aead, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("key entry %d (ID %q): %w", n, id, err)
		}
		k.keys = append(k.keys, ringKey{id: id, aead: aead})
		k.byID[id] = aead
	}
	return k, nil
}

// decodeKey decodes standard base64, padded or not, of exactly keySize
// bytes. Its errors say what is wrong without quoting the input.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("the key after the colon is empty")
	}
	enc := keyEncodingRaw
	if strings.HasSuffix(s, "=") {
		enc = keyEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		var hint string
		if strings.ContainsAny(s, "-_") {
			hint = " (it has - or _ as URL-safe base64 does; standard base64 uses + and /)"
		}
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, fmt.Errorf("the key is not valid standard base64 (at character %d)%s", int64(corrupt)+1, hint)
		}
		return nil, fmt.Errorf("the key is not valid standard base64%s", hint)
	}
	if len(key) != keySize {
		clear(key)
		return nil, fmt.Errorf("the key is %d bytes, want %d (AES-256)", len(key), keySize)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// Nonce: 12 random bytes per Seal, prepended to the ciphertext.
	return cipher.NewGCMWithRandomNonce(block)
}

// checkID says what is wrong with a key id. It quotes the id only when it
// is short enough not to be a pasted key.
func checkID(id string) error {
	const want = "a key ID is 1 to 16 characters of a-z, 0-9 and -"
	switch {
	case id == "":
		return fmt.Errorf("the key ID before the colon is empty: %s", want)
	case len(id) > maxIDLen:
		return fmt.Errorf("the key ID is %d characters long: %s", len(id), want)
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("the key ID %q has %q: %s", id, c, want)
		}
	}
	return nil
}

// NewKey returns a new "ID:BASE64" line with a 32-byte key from
// crypto/rand, for the id given.
func NewKey(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	key := make([]byte, keySize)
	defer clear(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return "", fmt.Errorf("vault: reading random bytes for a new key: %w", err)
	}
	return id + ":" + keyEncoding.EncodeToString(key), nil
}

// CurrentID returns the id of the sealing key.
func (k *Keyring) CurrentID() string {
	if k == nil || len(k.keys) == 0 {
		return ""
	}
	return k.keys[0].id
}

// ids returns the ids of the ring's keys, the current one first.
func (k *Keyring) ids() []string {
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return ids
}

// header is what precedes the payload; the AEAD authenticates it with the
// caller's aad, so the key id and format version cannot be changed either.
func header(id string) string { return prefix + id + ":" }

// additionalData binds a value to its format, its key id and the caller's
// aad. A key id has no ':', so the concatenation is unambiguous.
func additionalData(id, aad string) []byte { return []byte(header(id) + aad) }

// Seal encrypts plaintext under the current key. aad binds the ciphertext
// to where it is stored (e.g. "customers/cus_123/secret"), so a ciphertext
// copied to another row or column does not open. Output is text:
// "rcv1:" + keyID + ":" + base64url-no-padding(nonce || ciphertext+tag),
// with a 12-byte random nonce.
func (k *Keyring) Seal(plaintext []byte, aad string) (string, error) {
	if k == nil || len(k.keys) == 0 {
		return "", errors.New("vault: Seal on an empty keyring: load one with FromEnv or ParseKeys")
	}
	cur := k.keys[0]
	// NewGCMWithRandomNonce draws a fresh random nonce for every Seal and
	// prepends it: the nil nonce is how its Seal is called.
	out := cur.aead.Seal(nil, nil, plaintext, additionalData(cur.id, aad)) //nolint:gosec // G407: see above
	return header(cur.id) + payloadEncoding.EncodeToString(out), nil
}

// parse splits a sealed value into its key id and payload
// (nonce || ciphertext || tag). Its errors wrap ErrMalformed and never
// quote the value (it might be a plaintext secret stored by mistake).
func parse(sealed string) (id string, payload []byte, err error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: it does not start with %q (not sealed by this package, or by a newer format)", ErrMalformed, prefix)
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", nil, fmt.Errorf("%w: no ':' after the key ID (truncated?)", ErrMalformed)
	}
	if err := checkID(id); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	payload, err = payloadEncoding.DecodeString(b64)
	// The decoder skips '\r' and '\n'; a value is exactly what Seal wrote.
	if err != nil || strings.ContainsAny(b64, "\r\n") {
		return "", nil, fmt.Errorf("%w: the payload is not unpadded base64url (truncated or altered?)", ErrMalformed)
	}
	if len(payload) < nonceSize+tagSize {
		return "", nil, fmt.Errorf("%w: the payload is %d bytes, at least %d expected (truncated?)", ErrMalformed, len(payload), nonceSize+tagSize)
	}
	return id, payload, nil
}

// KeyID returns the id of the key a sealed value names, without opening it
// (for rewrap decisions), or an error wrapping ErrMalformed.
func KeyID(sealed string) (string, error) {
	id, _, err := parse(sealed)
	return id, err
}

// Open decrypts a Seal output with whichever key of the ring it names.
// Errors wrap ErrUnknownKey (the key must be added back to
// ROLECALL_VENDOR_KEYS), ErrMalformed, or ErrAuthentication (wrong aad,
// or the value was altered).
func (k *Keyring) Open(sealed string, aad string) ([]byte, error) {
	id, payload, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, fmt.Errorf("%w %q: the keyring is empty: load one with FromEnv or ParseKeys", ErrUnknownKey, id)
	}
	aead, ok := k.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w %q: the ring holds only %s: add key %q back to %s, after the current key, and run \"rolecall-vendor keys rewrap\" before dropping it again",
			ErrUnknownKey, id, strings.Join(k.ids(), ", "), id, EnvKeys)
	}
	plaintext, err := aead.Open(nil, nil, payload, additionalData(id, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: the value under key %q does not open for %q: it was sealed for another place (aad), altered, or sealed under another key with the same ID", ErrAuthentication, id, aad)
	}
	return plaintext, nil
}

// Rewrap opens sealed and seals it again under the current key when it
// names another key; it returns the value unchanged (and false) when it is
// already under the current key. It opens the value in either case, so a
// value that does not open is an error rather than passed over.
func (k *Keyring) Rewrap(sealed, aad string) (string, bool, error) {
	plaintext, err := k.Open(sealed, aad)
	if err != nil {
		return "", false, err
	}
	defer clear(plaintext)
	id, _ := KeyID(sealed) // Open parsed it
	if id == k.CurrentID() {
		return sealed, false, nil
	}
	out, err := k.Seal(plaintext, aad)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}

// String shows the key ids, never key material.
func (k Keyring) String() string {
	return fmt.Sprintf("vault.Keyring{current: %s, keys: %s}", k.CurrentID(), strings.Join(k.ids(), " "))
}

// GoString shows the key ids, never key material.
func (k Keyring) GoString() string {
	return fmt.Sprintf("vault.Keyring{Current: %q, IDs: %#v}", k.CurrentID(), k.ids())
}

// Format prints GoString for %#v and String for every other verb, so no
// verb (%d, %x, ...) reaches the key schedules inside.
func (k Keyring) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, k.GoString())
		return
	}
	_, _ = io.WriteString(f, k.String())
}
