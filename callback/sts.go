package callback

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxSTSResponse bounds what is read of STS's answer.
const maxSTSResponse = 64 << 10

var accountIDPattern = lazyRegexp(`^[0-9]{12}$`)

// askSTS rebuilds the proof's request against the verifier's own endpoint
// (never one the proof names: checkProof has made sure they agree) and
// returns who STS says signed it.
func (v *Verifier) askSTS(ctx context.Context, ep verifierEndpoint, p *proof) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url.String(), strings.NewReader(stsBody))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrSTSUnavailable, err)
	}
	req.Host = ep.host
	for name, value := range p.Headers {
		switch name {
		case "host", "content-length":
			// Sent from req.Host and the fixed body.
		default:
			req.Header[http.CanonicalHeaderKey(name)] = []string{value}
		}
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrSTSUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSTSResponse))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: reading the answer: %v", ErrSTSUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		code, msg := stsErrorDetail(body)
		return Identity{}, &STSError{StatusCode: resp.StatusCode, Code: code, Message: msg}
	}
	var out struct {
		Result struct {
			Account string `xml:"Account"`
			ARN     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
		} `xml:"GetCallerIdentityResult"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || !accountIDPattern().MatchString(out.Result.Account) || out.Result.ARN == "" {
		return Identity{}, fmt.Errorf("%w: unreadable GetCallerIdentity answer", ErrSTSUnavailable)
	}
	return Identity{Account: out.Result.Account, ARN: out.Result.ARN, UserID: out.Result.UserID}, nil
}

// stsErrorDetail reads the code and message of an STS error body, in AWS's
// envelope (<ErrorResponse><Error>) or moto's (<ErrorResponse><Errors><Error>).
func stsErrorDetail(body []byte) (code, message string) {
	type detail struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	var env struct {
		Error  detail `xml:"Error"`
		Errors struct {
			Error detail `xml:"Error"`
		} `xml:"Errors"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		return "", ""
	}
	d := env.Error
	if d.Code == "" {
		d = env.Errors.Error
	}
	return clip(d.Code, 64), clip(d.Message, 256)
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
