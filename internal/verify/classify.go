package verify

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// accessCodes are the error codes AWS services use to refuse a call the
// caller's policies do not allow.
var accessCodes = map[string]bool{
	"AccessDenied":          true,
	"AccessDeniedException": true,
	"AuthorizationError":    true,
	"Forbidden":             true,
	"UnauthorizedOperation": true,
	"UnauthorizedException": true,
}

// credentialCodes mean the request's credentials or signature were bad, or
// the region is not enabled: a 403 that says nothing about the role's
// permissions.
var credentialCodes = map[string]bool{
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"IncompleteSignature":         true,
	"InvalidAccessKeyId":          true,
	"InvalidClientTokenId":        true,
	"InvalidSignatureException":   true,
	"MissingAuthenticationToken":  true,
	"RequestExpired":              true,
	"SignatureDoesNotMatch":       true,
	"UnrecognizedClientException": true,
	"OptInRequired":               true,
	"AuthFailure":                 true,
}

// notFoundCodes say that the thing asked about does not exist, which the
// caller was allowed to learn: the call was authorised.
var notFoundCodes = map[string]bool{
	"AWSOrganizationsNotInUseException": true,
	"DataUnavailableException":          true,
	"NoSuchBucket":                      true,
	"NoSuchEntity":                      true,
	"NoSuchKey":                         true,
	"NotFound":                          true,
	"NotFoundException":                 true,
	"ResourceNotFound":                  true,
	"ResourceNotFoundException":         true,
	"TrailNotFoundException":            true,
}

// classification is what classify makes of an error.
type classification struct {
	outcome Outcome
	code    string
	message string
}

// classify turns the error of a read call into an outcome. It looks only at
// the error code and the HTTP status, never at message text.
//
// A 404 without a known not-found code is an error, not not_found: an
// endpoint that does not serve the API at all (a local emulator, a region
// without the service) answers 404 too, and that proves nothing.
func classify(err error) classification {
	if err == nil {
		return classification{outcome: OutcomeOK}
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		if status == http.StatusForbidden {
			// A 403 without a body, as S3 answers a HEAD.
			return classification{outcome: OutcomeDenied, message: "AWS answered 403 Forbidden"}
		}
		msg := err.Error()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			msg = "timed out: " + msg
		case status >= 500:
			msg = "AWS answered " + http.StatusText(status) + ": " + msg
		}
		return classification{outcome: OutcomeError, message: clip(msg, 300)}
	}
	code := apiErr.ErrorCode()
	c := classification{outcome: OutcomeError, code: code, message: clip(apiErr.ErrorMessage(), 300)}
	switch {
	case credentialCodes[code]:
		c.message = "the request's credentials were refused (" + code + "): " + c.message
	case accessCodes[code], status == http.StatusForbidden:
		c.outcome = OutcomeDenied
	case notFoundCodes[code]:
		c.outcome = OutcomeNotFound
	case isThrottle(code), status == http.StatusTooManyRequests:
		c.message = "throttled, still after retries: " + c.message
	case status >= 500:
		c.message = "AWS failed (" + http.StatusText(status) + "): " + c.message
	}
	if c.message == "" {
		c.message = code
	}
	return c
}

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// isAccessDenied reports whether err is a refusal by policy.
func isAccessDenied(err error) bool {
	return err != nil && classify(err).outcome == OutcomeDenied
}
