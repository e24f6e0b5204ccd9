package callback

import (
	"errors"
	"fmt"
)

// Rejections by Verifier.Verify. Each rejection wraps exactly one of them
// (ErrProofRejected and ErrSTSUnavailable through *STSError, ErrReplay
// through *ReplayError).
var (
	// ErrMissingHeader means webhook-id, webhook-timestamp or webhook-signature is absent.
	ErrMissingHeader = errors.New("missing webhook header")
	// ErrMalformedHeader means a webhook header cannot be read.
	ErrMalformedHeader = errors.New("malformed webhook header")
	// ErrTimestamp means webhook-timestamp is too far from the verifier's clock.
	ErrTimestamp = errors.New("webhook timestamp outside the tolerance")
	// ErrBodyDigest means the body is not the one the identity proof signed;
	// it was changed on the way.
	ErrBodyDigest = errors.New("body does not match the digest the identity proof signed")
	// ErrSignature means no v1 signature matches any of the verifier's secrets.
	ErrSignature = errors.New("no webhook signature matches")
	// ErrInvalidPayload means the body is not a valid payload, or its id is not
	// the webhook-id.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrMissingProof means the x-rolecall-identity-proof header is absent.
	ErrMissingProof = errors.New("missing AWS identity proof")
	// ErrMalformedProof means the identity proof cannot be decoded or rebuilt.
	ErrMalformedProof = errors.New("malformed AWS identity proof")
	// ErrProofEndpoint means the proof is not an sts:GetCallerIdentity request
	// for the verifier's STS endpoint and region.
	ErrProofEndpoint = errors.New("identity proof is not for the expected STS endpoint")
	// ErrProofBinding means a binding header (body digest, audience, nonce) is
	// missing from the proof or not among its SignedHeaders.
	ErrProofBinding = errors.New("identity proof does not sign its binding headers")
	// ErrProofAudience means the proof was made for another audience.
	ErrProofAudience = errors.New("identity proof is for another audience")
	// ErrProofExpired means the proof's X-Amz-Date is outside the tolerance.
	ErrProofExpired = errors.New("identity proof is not fresh")
	// ErrProofRejected means STS refused the proof (bad signature, expired or
	// unknown credentials).
	ErrProofRejected = errors.New("STS rejected the identity proof")
	// ErrSTSUnavailable means STS could not be asked or failed (network, 5xx).
	// The callback may be fine: answer so that the sender retries.
	ErrSTSUnavailable = errors.New("STS unavailable")
	// ErrAccountMismatch means STS says the proof was signed in an account
	// other than the payload's management account, or the stack or a role
	// ARN is in another partition than the signer.
	ErrAccountMismatch = errors.New("identity proof is for another account")
	// ErrMembership means VerifierConfig.ConfirmMembers did not confirm the
	// member accounts.
	ErrMembership = errors.New("member accounts not confirmed")
	// ErrReplay means the webhook-id was already accepted. Verify returns it
	// only for a callback that passed every other check.
	ErrReplay = errors.New("webhook id already accepted")
)

// Failures of Sender.Deliver.
var (
	// ErrDestination means the URL is not one the sender may call (not https,
	// or plain http to somewhere other than loopback without
	// SenderConfig.AllowLoopback).
	ErrDestination = errors.New("callback URL not allowed")
	// ErrForbiddenAddress means the host is, or resolves to, an address the
	// sender never calls (link-local, cloud metadata, unspecified,
	// multicast, or loopback without SenderConfig.AllowLoopback).
	ErrForbiddenAddress = errors.New("callback host resolves to a forbidden address")
	// ErrRejected means the receiver answered with a status that is not retried
	// (4xx other than 408 and 429, or 3xx).
	ErrRejected = errors.New("receiver rejected the callback")
	// ErrDeadline means the next attempt would start after ctx's deadline.
	ErrDeadline = errors.New("no time left to retry the callback")
	// ErrAttempts means every attempt failed.
	ErrAttempts = errors.New("callback attempts exhausted")
)

// ErrInvalidSecret means a signing secret is not a "whsec_" secret of 24 to
// 512 bytes.
var ErrInvalidSecret = errors.New("invalid callback secret")

// STSError is STS's answer to an identity proof that was not a success. It
// wraps ErrProofRejected for a 4xx and ErrSTSUnavailable otherwise.
type STSError struct {
	StatusCode int
	Code       string // e.g. SignatureDoesNotMatch, ExpiredToken; may be empty
	Message    string
}

func (e *STSError) Error() string {
	msg := fmt.Sprintf("%v: HTTP %d", e.Unwrap(), e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns ErrProofRejected or ErrSTSUnavailable.
func (e *STSError) Unwrap() error {
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return ErrProofRejected
	}
	return ErrSTSUnavailable
}

// ReplayError reports a webhook-id that was already accepted. Message is
// the callback, verified in every other respect: a receiver that has
// stored Message.ID may answer 2xx without processing it again.
type ReplayError struct {
	Message *Message
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("%v: %s", ErrReplay, e.Message.ID)
}

// Unwrap returns ErrReplay.
func (e *ReplayError) Unwrap() error { return ErrReplay }
