// Package callback is the signed HTTPS callback that tells the vendor what an
// onboarding created: the payload, its JSON Schema, the sender (signing,
// delivery with retries) and the verifier a vendor's service runs.
//
// # Payload
//
// Payload is versioned JSON (Version, currently "1.0"). Its ID is derived by
// EventID from the stack, the CloudFormation request or EventBridge event,
// and the sorted role ARNs, so a retried delivery of one logical event keeps
// its ID and the vendor updates rather than duplicates. The same ID is the
// webhook-id and the idempotency key. The JSON Schema (draft 2020-12) is
// committed as schema/payload-v1.json; Payload.Validate checks against it
// before anything is sent, and Verifier.Verify before anything is accepted.
// Receivers must ignore properties they do not know: additions keep the
// major version, anything else bumps it.
//
// # Wire format
//
// A callback is an HTTPS POST of the JSON body with these headers:
//
//	webhook-id:        evt_<32 hex>          (Standard Webhooks)
//	webhook-timestamp: <unix seconds>        (Standard Webhooks)
//	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> [v1,<...> ...]
//	x-rolecall-identity-proof: <base64url of the proof JSON, no padding>
//
// The signatures follow Standard Webhooks (www.standardwebhooks.com): each
// is keyed with the base64-decoded part of a vendor-issued "whsec_" secret,
// and several may be sent, space separated, while a secret rotates. The
// external ID is never a key: it is not a secret.
//
// The identity proof is an sts:GetCallerIdentity request signed with SigV4
// in the Authorization header (not pre-signed in the query string) by the
// sender's AWS credentials, for a fixed STS endpoint (https://sts.amazonaws.com,
// us-east-1, unless configured). Among its signed headers are three that bind
// it to this callback:
//
//	x-rolecall-body-sha256: <hex SHA-256 of the body>
//	x-rolecall-audience:    <the vendor's audience, e.g. its callback host>
//	x-rolecall-nonce:       <22 to 128 base64url characters, fresh per attempt>
//
// The proof JSON holds everything needed to rebuild the request, and nothing
// that could point elsewhere:
//
//	{"v":1,"method":"POST","path":"/","headers":{"authorization":"AWS4-HMAC-SHA256 ...",
//	 "content-length":"43","content-type":"application/x-www-form-urlencoded; charset=utf-8",
//	 "host":"sts.amazonaws.com","x-amz-date":"20261102T101500Z","x-amz-security-token":"...",
//	 "x-rolecall-audience":"hooks.vendor.example","x-rolecall-body-sha256":"9f86...",
//	 "x-rolecall-nonce":"q1w2..."}}
//
// The request body is always "Action=GetCallerIdentity&Version=2011-06-15";
// it is not part of the proof, so a verifier can only ever ask STS who signed.
//
// # What a verified callback proves
//
// Verifier.Verify accepts a callback only if a webhook signature matches one
// of its secrets (constant-time), the timestamp is within the tolerance, the
// webhook-id was not accepted before (ReplayCache), the body is a valid
// payload whose id is the webhook-id, and the identity proof, rebuilt against
// the verifier's own STS endpoint and sent there, is answered by STS with the
// payload's management_account_id. The proof therefore shows that a principal
// of the management account sent this very body to this audience just now;
// every role ARN in that account is attested by the account itself.
//
// It cannot prove anything about member accounts: the proof is signed by
// the management account alone, and nothing a member account could sign
// travels with the callback. A member account's entry is therefore an
// assertion by the organization's management account (the one authority that
// can create or remove member accounts): it is authentic, but the verifier
// cannot see that the account belongs to the organization, that the role
// exists, or that it trusts the vendor. Verify checks what can be checked
// offline (each role ARN is in the account its entry names and in the
// caller's partition; no account is listed twice) and lists member accounts
// in Message.AssertedAccounts. The vendor proves the rest when it assumes each
// role with its external ID, and may confirm membership before accepting by
// setting VerifierConfig.ConfirmMembers (for example with
// organizations:ListAccounts through its role in the management account).
//
// Every rejection wraps one of the Err* sentinels; match with errors.Is.
package callback
