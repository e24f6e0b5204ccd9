// Package vault encrypts the vendor control plane's secrets at rest (the
// customers' callback secrets and external IDs): AES-256-GCM under keys
// from the environment, with key rotation.
//
// # Keys
//
// The keys are one ring of data keys, read once from ROLECALL_VENDOR_KEYS
// (EnvKeys) as "ID:BASE64" entries separated by spaces, commas or
// newlines; "rolecall-vendor keys new" makes an entry (NewKey). The first
// key is current: it seals every new value. Every key of the ring opens.
// Each key is held as a cipher.AEAD built once; the ring prints its key
// IDs only, never key material, and its errors never quote a key or a
// sealed value.
//
// # Sealed values
//
// A sealed value is text and names its key, so that it can be opened
// after a rotation and found by the rewrap:
//
//	rcv1:<key id>:<base64url, unpadded, of nonce(12) || ciphertext || tag(16)>
//
// The nonce is 12 random bytes per Seal. Random nonces keep a key safe
// for about 2^32 seals, far more than there are secrets to keep; rotate
// long before.
//
// # Why AAD
//
// Seal and Open take an aad naming where the value is stored, such as
// "customers/cus_123/secret". GCM authenticates it without storing it, so
// a sealed value copied to another customer's row, or from the external
// ID column to the secret column, fails to open (ErrAuthentication)
// instead of handing one customer's secret to another. The authenticated
// data also holds the value's "rcv1:<key id>:" header, so the format and
// key id cannot be changed either. The aad must be the same at Seal and
// at every Open: derive it from the row's key and the column, never from
// data that can change.
//
// # Rotating a key
//
//  1. Make a key with a new ID and put it first in ROLECALL_VENDOR_KEYS,
//     keeping the old key after it: "k2:... k1:...". Deploy. New values
//     are sealed under k2; values under k1 still open.
//  2. Run "rolecall-vendor keys rewrap": it reseals every value under the
//     current key (Rewrap; KeyID tells which values name another key).
//  3. Once rewrap reports nothing left under k1, drop k1 from the
//     variable. A value still under a dropped key fails with
//     ErrUnknownKey until the key is added back.
package vault
