package customresource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"

	"github.com/aws/aws-lambda-go/cfn"
)

// Request is a CloudFormation custom-resource request as a Handler sees it.
type Request struct {
	// RequestType is cfn.RequestCreate, cfn.RequestUpdate or cfn.RequestDelete.
	RequestType cfn.RequestType
	// StackID is the ARN of the stack that holds the resource.
	StackID string
	// RequestID identifies this request; CloudFormation sends a new one
	// for every operation.
	RequestID string
	// LogicalResourceID is the resource's name in the template.
	LogicalResourceID string
	// ResourceType is the template type, such as "Custom::Onboarding".
	ResourceType string
	// PhysicalResourceID is the ID answered for an earlier Create; it is
	// empty on Create.
	PhysicalResourceID string
	// Properties are the resource's properties, including the ServiceToken
	// (and ServiceTimeout, when set) that CloudFormation adds.
	Properties map[string]any
	// OldProperties are the properties before an Update; nil otherwise.
	OldProperties map[string]any
}

// Limits on the identifiers an event carries. The response echoes them, so
// they bound its size; real values are far shorter.
const (
	maxStackIDLen      = 512  // a stack ARN is about 230 bytes at most
	maxRequestIDLen    = 256  // a UUID
	maxLogicalIDLen    = 255  // CloudFormation's limit for logical IDs
	maxPhysicalIDLen   = 1024 // CloudFormation's limit: "up to 1 KB"
	maxResourceTypeLen = 60   // CloudFormation's limit for custom types
)

// wireEvent is cfn.Event with every field left raw, so that one field of
// the wrong type neither hides the others nor loses the ResponseURL.
type wireEvent struct {
	RequestType           json.RawMessage `json:"RequestType"`
	RequestID             json.RawMessage `json:"RequestId"`
	ResponseURL           json.RawMessage `json:"ResponseURL"`
	ResourceType          json.RawMessage `json:"ResourceType"`
	PhysicalResourceID    json.RawMessage `json:"PhysicalResourceId"`
	LogicalResourceID     json.RawMessage `json:"LogicalResourceId"`
	StackID               json.RawMessage `json:"StackId"`
	ResourceProperties    json.RawMessage `json:"ResourceProperties"`
	OldResourceProperties json.RawMessage `json:"OldResourceProperties"`
}

// IsEvent reports whether raw looks like a CloudFormation custom-resource
// event: a JSON object with a RequestType or a ResponseURL field. It does not
// validate the event (Handle does, and answers a malformed one), so that a
// broken event still reaches the code that can answer it. EventBridge events
// have neither field.
func IsEvent(raw json.RawMessage) bool {
	var w wireEvent
	if json.Unmarshal(raw, &w) != nil {
		return false
	}
	return w.RequestType != nil || w.ResponseURL != nil
}

// eventError lists what is wrong with an event, each as a short phrase
// that can stand in a CloudFormation Reason.
type eventError struct {
	problems []string
}

func (e *eventError) Error() string {
	return "invalid custom resource event: " + strings.Join(e.problems, "; ")
}

// parseEvent decodes and validates a custom-resource event. On error it
// still returns every field it could read; ResponseURL is set only when it
// is usable, so a caller answers the event if and only if
// ResponseURL != "".
func parseEvent(raw []byte, allowLoopbackHTTP bool) (cfn.Event, error) {
	var (
		ev cfn.Event
		w  wireEvent
		p  []string
	)
	if err := json.Unmarshal(raw, &w); err != nil {
		// Nothing can be trusted, not even a ResponseURL found by a
		// partial decode.
		return ev, &eventError{problems: []string{"event is not a JSON object"}}
	}

	var urlProblem string
	ev.ResponseURL, urlProblem = stringField(w.ResponseURL, "ResponseURL")
	if urlProblem == "" {
		urlProblem = checkResponseURL(ev.ResponseURL, allowLoopbackHTTP)
	}
	if urlProblem != "" {
		ev.ResponseURL = ""
		p = append(p, urlProblem)
	}

	rt, problem := stringField(w.RequestType, "RequestType")
	ev.RequestType = cfn.RequestType(rt)
	switch {
	case problem != "":
		p = append(p, problem)
	case rt == "":
		p = append(p, "RequestType is missing")
	case !knownRequestType(ev.RequestType):
		p = append(p, fmt.Sprintf("unknown RequestType %q", clip(rt, 40)))
	}

	ids := []struct {
		field    *string
		raw      json.RawMessage
		name     string
		max      int
		required bool
	}{
		{&ev.StackID, w.StackID, "StackId", maxStackIDLen, true},
		{&ev.RequestID, w.RequestID, "RequestId", maxRequestIDLen, true},
		{&ev.LogicalResourceID, w.LogicalResourceID, "LogicalResourceId", maxLogicalIDLen, true},
		{&ev.ResourceType, w.ResourceType, "ResourceType", maxResourceTypeLen, false},
		{&ev.PhysicalResourceID, w.PhysicalResourceID, "PhysicalResourceId", maxPhysicalIDLen,
			ev.RequestType == cfn.RequestUpdate || ev.RequestType == cfn.RequestDelete},
	}
	for _, id := range ids {
		v, problem := stringField(id.raw, id.name)
		*id.field = v
		switch {
		case problem != "":
			p = append(p, problem)
		case v == "" && id.required:
			p = append(p, id.name+" is missing")
		case len(v) > id.max:
			p = append(p, fmt.Sprintf("%s is longer than %d bytes", id.name, id.max))
		case strings.ContainsFunc(v, unicode.IsControl):
			p = append(p, id.name+" contains control characters")
		}
	}

	ev.ResourceProperties, problem = objectField(w.ResourceProperties, "ResourceProperties")
	if problem != "" {
		p = append(p, problem)
	}
	ev.OldResourceProperties, problem = objectField(w.OldResourceProperties, "OldResourceProperties")
	if problem != "" {
		p = append(p, problem)
	}

	if len(p) > 0 {
		return ev, &eventError{problems: p}
	}
	return ev, nil
}

func knownRequestType(t cfn.RequestType) bool {
	return t == cfn.RequestCreate || t == cfn.RequestUpdate || t == cfn.RequestDelete
}

// stringField decodes an optional JSON string; a missing field and null are
// both "". The problem it returns never quotes the value.
func stringField(raw json.RawMessage, name string) (string, string) {
	if isNull(raw) {
		return "", ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", name + " is not a string"
	}
	return s, ""
}

// objectField decodes an optional JSON object; a missing field and null are
// both nil.
func objectField(raw json.RawMessage, name string) (map[string]any, string) {
	if isNull(raw) {
		return nil, ""
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil, name + " is not a JSON object"
	}
	return m, ""
}

func isNull(raw json.RawMessage) bool {
	return raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// checkResponseURL says why s cannot be answered, or "" if it can. The
// problem never quotes the URL: it is a bearer credential for the response
// object, and url.Parse errors would repeat it.
func checkResponseURL(s string, allowLoopbackHTTP bool) string {
	if s == "" {
		return "ResponseURL is missing"
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return "ResponseURL is not a valid URL"
	}
	if u.Hostname() == "" {
		return "ResponseURL has no host"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if allowLoopbackHTTP && isLoopback(u.Hostname()) {
			return ""
		}
	}
	return "ResponseURL is not an https URL"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requestOf is the Handler's view of a valid event.
func requestOf(ev cfn.Event) Request {
	return Request{
		RequestType:        ev.RequestType,
		StackID:            ev.StackID,
		RequestID:          ev.RequestID,
		LogicalResourceID:  ev.LogicalResourceID,
		ResourceType:       ev.ResourceType,
		PhysicalResourceID: ev.PhysicalResourceID,
		Properties:         ev.ResourceProperties,
		OldProperties:      ev.OldResourceProperties,
	}
}
