package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rolecall/rolecall/internal/sdkbody"
)

// CompatAPIOptions returns the middleware that every config the server
// issues carries in APIOptions. It makes up for two faults of moto's
// authorisation layer that would otherwise break the Go SDK against it (see
// below; both are pinned in moto_behaviour_test.go, so that a moto upgrade
// that fixes them is noticed), and sdkbody.PlainRequestBody, without which
// a request body over 4 KiB answered at once by a loopback server can lose
// its response ("use of closed network connection" on a 200). A program
// that builds its own config for a moto endpoint appends these to its
// APIOptions.
func CompatAPIOptions() []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{addErrorShapeFix, addContentSHA256Header, sdkbody.PlainRequestBody}
}

// Moto checks a signature against the payload hash it computes itself,
// unless the request carries X-Amz-Content-Sha256. For a request with neither
// body nor query string (a restJson1 GET, such as Bedrock's
// GetModelInvocationLoggingConfiguration) it hashes a form made of the
// request's headers instead of the empty body (moto/core/responses.py,
// setup_class: "querystring.update(headers)"), so every such request fails
// with SignatureDoesNotMatch. The SDK sends the header for S3 only; AWS
// accepts it from every service, so every config sends it.
//
// A pre-signed request is left alone: the header would join its signed
// headers, and whoever sends the URL would have to send the header too.
func addContentSHA256Header(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get((*v4.ContentSHA256Header)(nil).ID()); ok {
		return nil
	}
	if _, presign := stack.Finalize.Get((*v4.PresignHTTPRequestMiddleware)(nil).ID()); presign {
		return nil
	}
	return v4.AddContentSHA256HeaderMiddleware(stack)
}

// Moto's authorisation layer (AccessDenied, InvalidClientTokenId,
// SignatureDoesNotMatch, ...; moto/core/exceptions.py, _RESTError) answers
// every service with the same XML envelope,
//
//	<ErrorResponse><Errors><Error><Code>..</Code><Message>..</Message></Error></Errors></ErrorResponse>
//
// which is neither what AWS sends nor what the Go SDK reads: query services
// (IAM, STS, CloudFormation) report "UnknownError", JSON services
// (Organizations, Secrets Manager, Cost Explorer) fail to deserialize. So that
// code under test can classify these errors as it would against AWS, every
// config the server issues rewrites the envelope into the shape AWS uses for
// the protocol of the request: <ErrorResponse><Error>...</Error></ErrorResponse>
// for query and XML requests, {"__type": ..., "message": ...} for JSON ones.
// Errors in any other shape pass through untouched; so do S3's, which moto
// formats correctly. moto_behaviour_test.go pins the raw envelope.

// addErrorShapeFix adds the rewrite to a stack, once.
func addErrorShapeFix(stack *middleware.Stack) error {
	if _, ok := stack.Deserialize.Get(errorShapeFix{}.ID()); ok {
		return nil
	}
	return stack.Deserialize.Add(errorShapeFix{}, middleware.After)
}

type errorShapeFix struct{}

func (errorShapeFix) ID() string { return "EmulatorMotoErrorShape" }

func (errorShapeFix) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 400 || resp.Body == nil {
		return out, md, err
	}
	body, readErr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if readErr != nil {
		return out, md, err // the SDK reports the short body
	}
	code, message, ok := motoErrorEnvelope(body)
	if !ok {
		return out, md, err
	}
	if req, isHTTP := in.Request.(*smithyhttp.Request); isHTTP && requestIsJSON(req) {
		body, _ = json.Marshal(map[string]string{"__type": code, "message": message})
		resp.Header.Set("Content-Type", "application/x-amz-json-1.1")
	} else {
		body, _ = xml.Marshal(awsErrorResponse{Error: awsError{Type: "Sender", Code: code, Message: message}})
		resp.Header.Set("Content-Type", "text/xml")
	}
	resp.Header.Set("X-Amzn-ErrorType", code)
	setCRC32(resp.Header, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return out, md, err
}

// setCRC32 keeps a DynamoDB response's X-Amz-Crc32 true to a rewritten
// body: DynamoDB sends the CRC32 of every body and the SDK checks it.
func setCRC32(h http.Header, body []byte) {
	if h.Get("X-Amz-Crc32") != "" {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
}

// motoErrorEnvelope returns the code and message of a body in moto's
// authorisation-error envelope.
func motoErrorEnvelope(body []byte) (code, message string, ok bool) {
	if !bytes.Contains(body, []byte("<Errors>")) {
		return "", "", false
	}
	var env struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Errors  struct {
			Error []awsError `xml:"Error"`
		} `xml:"Errors"`
	}
	if err := xml.Unmarshal(body, &env); err != nil || len(env.Errors.Error) == 0 || env.Errors.Error[0].Code == "" {
		return "", "", false
	}
	return env.Errors.Error[0].Code, env.Errors.Error[0].Message, true
}

// requestIsJSON reports whether req speaks a JSON protocol (awsJson1_0,
// awsJson1_1, restJson1) rather than query or XML.
func requestIsJSON(req *smithyhttp.Request) bool {
	if req.Header.Get("X-Amz-Target") != "" {
		return true
	}
	ct := req.Header.Get("Content-Type")
	switch {
	case strings.Contains(ct, "json"):
		return true
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"), strings.Contains(ct, "xml"):
		return false
	}
	// A bodiless request: restJson1 services (Bedrock) send GETs, query
	// services always POST a form. S3, the one restXml service here, never
	// reaches this point: moto formats its errors correctly.
	return req.Method != "POST"
}

type awsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   awsError `xml:"Error"`
}

type awsError struct {
	Type    string `xml:"Type,omitempty"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}
