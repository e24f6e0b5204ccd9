package customresource

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
)

func TestParseEvent(t *testing.T) {
	const url = "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/x?X-Amz-Signature=" + testSignature
	tests := []struct {
		name       string
		raw        string
		allowHTTP  bool
		answerable bool
		wantErr    string // "" means valid; otherwise a part of the error
	}{
		{"valid create", string(event(t, url, cfn.RequestCreate)), false, true, ""},
		{"valid update", string(event(t, url, cfn.RequestUpdate)), false, true, ""},
		{"valid delete", string(event(t, url, cfn.RequestDelete)), false, true, ""},
		{"create without properties", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			delete(m, "ResourceProperties")
		})), false, true, ""},
		{"null properties", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["ResourceProperties"] = nil
		})), false, true, ""},
		{"not JSON", `RequestType=Create`, false, false, "not a JSON object"},
		{"JSON array", `[{"RequestType":"Create"}]`, false, false, "not a JSON object"},
		{"JSON null", `null`, false, false, "ResponseURL is missing"},
		{"empty object", `{}`, false, false, "ResponseURL is missing"},
		{"truncated JSON", string(event(t, url, cfn.RequestCreate))[:100], false, false, "not a JSON object"},
		{"missing ResponseURL", string(event(t, "", cfn.RequestCreate)), false, false, "ResponseURL is missing"},
		{"ResponseURL not a string", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["ResponseURL"] = []string{url}
		})), false, false, "ResponseURL is not a string"},
		{"http ResponseURL", string(event(t, "http://s3.amazonaws.com/x", cfn.RequestCreate)), false, false, "not an https URL"},
		{"http loopback without the option", string(event(t, "http://127.0.0.1:9000/x", cfn.RequestCreate)), false, false, "not an https URL"},
		{"http loopback with the option", string(event(t, "http://127.0.0.1:9000/x", cfn.RequestCreate)), true, true, ""},
		{"http IPv6 loopback with the option", string(event(t, "http://[::1]:9000/x", cfn.RequestCreate)), true, true, ""},
		{"http localhost with the option", string(event(t, "http://localhost:9000/x", cfn.RequestCreate)), true, true, ""},
		{"http remote host with the option", string(event(t, "http://s3.amazonaws.com/x", cfn.RequestCreate)), true, false, "not an https URL"},
		{"ftp ResponseURL", string(event(t, "ftp://example.com/x", cfn.RequestCreate)), true, false, "not an https URL"},
		{"ResponseURL without host", string(event(t, "https:///x", cfn.RequestCreate)), false, false, "has no host"},
		{"relative ResponseURL", string(event(t, "/x?X-Amz-Signature="+testSignature, cfn.RequestCreate)), false, false, "has no host"},
		{"unparseable ResponseURL", string(event(t, "https://example.com/%zz?X-Amz-Signature="+testSignature, cfn.RequestCreate)), false, false, "not a valid URL"},
		{"opaque ResponseURL", string(event(t, "https:example.com", cfn.RequestCreate)), false, false, "not a valid URL"},
		{"unknown RequestType", string(event(t, url, "Replace")), false, true, `unknown RequestType "Replace"`},
		{"RequestType not a string", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["RequestType"] = 1
		})), false, true, "RequestType is not a string"},
		{"missing StackId", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			delete(m, "StackId")
		})), false, true, "StackId is missing"},
		{"missing RequestId", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["RequestId"] = ""
		})), false, true, "RequestId is missing"},
		{"missing LogicalResourceId", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["LogicalResourceId"] = nil
		})), false, true, "LogicalResourceId is missing"},
		{"delete without PhysicalResourceId", string(event(t, url, cfn.RequestDelete, func(m map[string]any) {
			delete(m, "PhysicalResourceId")
		})), false, true, "PhysicalResourceId is missing"},
		{"overlong PhysicalResourceId", string(event(t, url, cfn.RequestDelete, func(m map[string]any) {
			m["PhysicalResourceId"] = strings.Repeat("p", maxPhysicalIDLen+1)
		})), false, true, "PhysicalResourceId is longer than 1024 bytes"},
		{"control characters in StackId", string(event(t, url, cfn.RequestCreate, func(m map[string]any) {
			m["StackId"] = "arn:aws:cloudformation:x\n"
		})), false, true, "StackId contains control characters"},
		{"OldResourceProperties not an object", string(event(t, url, cfn.RequestUpdate, func(m map[string]any) {
			m["OldResourceProperties"] = []int{1}
		})), false, true, "OldResourceProperties is not a JSON object"},
		{"several problems at once", `{"ResponseURL":"` + url + `","RequestType":"Create"}`, false, true,
			"StackId is missing; RequestId is missing; LogicalResourceId is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := parseEvent([]byte(tt.raw), tt.allowHTTP)
			if got := ev.ResponseURL != ""; got != tt.answerable {
				t.Errorf("answerable = %v, want %v (err %v)", got, tt.answerable, err)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseEvent: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseEvent error = %v, want it to contain %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), testSignature) {
				t.Errorf("error repeats the ResponseURL: %v", err)
			}
		})
	}
}

func TestParseEventKeepsFields(t *testing.T) {
	const url = "https://example.com/r"
	ev, err := parseEvent(event(t, url, cfn.RequestUpdate), false)
	if err != nil {
		t.Fatal(err)
	}
	if ev.RequestType != cfn.RequestUpdate || ev.StackID != testStackID || ev.LogicalResourceID != testLogicalID ||
		ev.PhysicalResourceID != testOldID || ev.ResourceType != "Custom::Onboarding" || ev.ResponseURL != url {
		t.Errorf("parseEvent = %+v", ev)
	}
	if ev.ResourceProperties["ExternalId"] != testSecret || ev.OldResourceProperties["ExternalId"] != testSecret+"-old" {
		t.Errorf("properties = %v, old %v", ev.ResourceProperties, ev.OldResourceProperties)
	}
}

func TestIsEvent(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"custom resource event", string(event(t, "https://example.com/r", cfn.RequestCreate)), true},
		{"malformed custom resource event", `{"RequestType":"Create"}`, true},
		{"event with only a ResponseURL", `{"ResponseURL":"https://example.com/r"}`, true},
		{"EventBridge StackSet event", `{"version":"0","id":"6a7e8feb","detail-type":"CloudFormation StackSet StackInstance Status Change","source":"aws.cloudformation","account":"111122223333","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"status-details":{"status":"SUCCEEDED"}}}`, false},
		{"EventBridge event whose detail has a RequestType", `{"detail-type":"x","detail":{"RequestType":"Create"}}`, false},
		{"empty object", `{}`, false},
		{"null", `null`, false},
		{"array", `[{"RequestType":"Create"}]`, false},
		{"not JSON", `RequestType`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsEvent(json.RawMessage(tt.raw)); got != tt.want {
				t.Errorf("IsEvent(%s) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}
