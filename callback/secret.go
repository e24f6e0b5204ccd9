package callback

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Bounds of a secret's key, in bytes (Standard Webhooks: at least 24).
const (
	minSecretBytes = 24
	maxSecretBytes = 512
)

// Secret is a parsed signing secret. Its String never shows the key.
type Secret struct {
	key []byte
}

// ParseSecret reads a "whsec_<base64>" secret. The key is the decoded
// base64, as Standard Webhooks specify; padding is optional.
func ParseSecret(s string) (Secret, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: must start with %s", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
	if err != nil {
		return Secret{}, fmt.Errorf("%w: the part after %s is not base64", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return Secret{}, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return Secret{key: key}, nil
}

// ParseSecrets parses each secret; at least one is required.
func ParseSecrets(secrets []string) ([]Secret, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrInvalidSecret)
	}
	out := make([]Secret, len(secrets))
	for i, s := range secrets {
		p, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		out[i] = p
	}
	return out, nil
}

// GenerateSecret returns a new "whsec_" secret with a 32-byte key read from
// r (crypto/rand.Reader if nil): what a vendor issues to each customer.
func GenerateSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(r, key); err != nil {
		return "", fmt.Errorf("generate callback secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// KeyIDPrefix starts every key id.
const KeyIDPrefix = "rk_"

// KeyID names the secret without revealing it: "rk_" and the first 16
// bytes of SHA-256 over a fixed label and the key, in hex. A sender puts
// the key ids of its secrets in the x-rolecall-key-id header, so a
// receiver with many customers finds the one secret to check a callback
// with (and the customer it belongs to) in one lookup. It is one-way: the
// key id of a 256-bit key tells nothing about the key. It authenticates
// nothing either; the signature does.
func (s Secret) KeyID() string {
	h := sha256.New()
	h.Write([]byte("rolecall callback key id\x00"))
	h.Write(s.key)
	return KeyIDPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// KeyIDOf returns the key id of a "whsec_" secret.
func KeyIDOf(secret string) (string, error) {
	s, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return s.KeyID(), nil
}

// String hides the key.
func (s Secret) String() string { return SecretPrefix + "<redacted>" }

// GoString hides the key from %#v too.
func (s Secret) GoString() string { return s.String() }

// sign returns the raw HMAC-SHA256 of "id.timestamp.body".
func (s Secret) sign(id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signatureHeader returns the webhook-signature value: one "v1,<base64>"
// per secret, space separated.
func signatureHeader(secrets []Secret, id string, timestamp int64, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(s.sign(id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}
