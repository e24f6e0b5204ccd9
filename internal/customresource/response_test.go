package customresource

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/cfn"
)

// testEvent is a valid parsed event.
func testEvent() cfn.Event {
	return cfn.Event{
		RequestType:       cfn.RequestCreate,
		RequestID:         "5d0f5c6e-8a52-4c2e-9a77-0f1e2d3c4b5a",
		ResponseURL:       "https://example.com/r",
		StackID:           testStackID,
		LogicalResourceID: testLogicalID,
	}
}

// accountID is the nth of a set of 12-digit account IDs.
func accountID(n int) string { return fmt.Sprintf("%012d", 100000000000+n*7919) }

func TestTrimReason(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short reason unchanged", "external ID mismatch", "external ID mismatch"},
		{"exactly the limit unchanged", strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{"one over the limit is cut with an ellipsis", strings.Repeat("a", 257), strings.Repeat("a", 255) + "…"},
		{"multibyte runes are cut on a rune boundary", strings.Repeat("é", 300), strings.Repeat("é", 255) + "…"},
		{"emoji are cut on a rune boundary", strings.Repeat("🔑", 300), strings.Repeat("🔑", 255) + "…"},
		{"newlines and tabs become spaces", "line one\nline\ttwo\r\n", "line one line two"},
		{"invalid UTF-8 is replaced", "bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trimReason(tt.in, maxReasonRunes)
			if got != tt.want {
				t.Errorf("trimReason = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > maxReasonRunes {
				t.Errorf("trimReason = %q: invalid or longer than %d runes", got, maxReasonRunes)
			}
		})
	}
}

func TestEncodeResponseFitsWhateverTheData(t *testing.T) {
	manyKeys := make(map[string]any, 5000)
	for i := range 5000 {
		manyKeys[accountID(i)] = "verified"
	}
	ids := make([]string, 5000)
	roleARNs := make([]any, 5000)
	for i := range ids {
		ids[i] = accountID(i)
		roleARNs[i] = "arn:aws:iam::" + ids[i] + ":role/reader"
	}
	const roleARN = "arn:aws:iam::111122223333:role/reader"

	tests := []struct {
		name    string
		data    map[string]any
		reason  string
		wantCut bool
		check   func(t *testing.T, got map[string]any)
	}{
		{
			name: "data that fits is unchanged",
			data: map[string]any{"RoleArn": roleARN, "VerificationStatus": "verified"},
			check: func(t *testing.T, got map[string]any) {
				want := map[string]any{"RoleArn": roleARN, "VerificationStatus": "verified"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Data = %v, want %v", got, want)
				}
			},
		},
		{
			name:    "5,000 account keys keep a subset with their values",
			wantCut: true,
			data:    manyKeys,
			check: func(t *testing.T, got map[string]any) {
				if len(got) < 50 {
					t.Errorf("kept %d keys, want the body filled", len(got)-1)
				}
				for k, v := range got {
					if k != truncatedKey && manyKeys[k] != v {
						t.Errorf("Data[%q] = %v, want %v", k, v, manyKeys[k])
					}
				}
			},
		},
		{
			name:    "a list of 5,000 accounts in one string is shortened and small keys survive",
			wantCut: true,
			data: map[string]any{
				"RoleArn":    roleARN,
				"AccountIds": strings.Join(ids, ","),
				"Status":     "verified",
			},
			check: func(t *testing.T, got map[string]any) {
				if got["RoleArn"] != roleARN || got["Status"] != "verified" {
					t.Errorf("small values changed: %v", got)
				}
				s, _ := got["AccountIds"].(string)
				if !strings.HasSuffix(s, "…") || !strings.HasPrefix(strings.Join(ids, ","), strings.TrimSuffix(s, "…")) {
					t.Errorf("AccountIds = %.80q…, want a prefix of the list ending in an ellipsis", s)
				}
				if len(s) < 2000 {
					t.Errorf("AccountIds cut to %d bytes, want only as much as needed", len(s))
				}
			},
		},
		{
			name:    "a list of 5,000 role ARNs that cannot be shortened is dropped",
			wantCut: true,
			data:    map[string]any{"RoleArn": roleARN, "RoleArns": roleARNs},
			check: func(t *testing.T, got map[string]any) {
				if _, ok := got["RoleArns"]; ok || got["RoleArn"] != roleARN {
					t.Errorf("Data = %.200v, want RoleArns dropped and RoleArn kept", got)
				}
			},
		},
		{
			name:    "keys are dropped largest first",
			wantCut: true,
			data: map[string]any{
				"Large":  strings.Split(strings.Repeat("x", 2500), ""),
				"Medium": strings.Split(strings.Repeat("y", 600), ""),
				"Small":  []string{"z"},
			},
			check: func(t *testing.T, got map[string]any) {
				if _, ok := got["Large"]; ok {
					t.Error("Large was kept")
				}
				if _, ok := got["Medium"]; !ok {
					t.Error("Medium was dropped though dropping Large was enough")
				}
				if _, ok := got["Small"]; !ok {
					t.Error("Small was dropped")
				}
			},
		},
		{
			name:    "values that cannot be encoded are dropped",
			wantCut: true,
			data:    map[string]any{"RoleArn": roleARN, "Ratio": math.Inf(1), "Fn": func() {}},
			check: func(t *testing.T, got map[string]any) {
				if len(got) != 2 || got["RoleArn"] != roleARN {
					t.Errorf("Data = %v, want RoleArn and the marker", got)
				}
			},
		},
		{
			name:    "a long reason and 5,000 accounts together",
			data:    manyKeys,
			reason:  strings.Repeat("<&\"\u2028>", 400),
			wantCut: true,
			check:   func(*testing.T, map[string]any) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := answer{status: cfn.StatusSuccess, physicalID: physicalID(testStackID, testLogicalID), reason: tt.reason, data: tt.data}
			body, sent, note := encodeResponse(testEvent(), a)
			if len(body) > maxBodyBytes {
				t.Fatalf("body is %d bytes, want at most %d", len(body), maxBodyBytes)
			}
			var got cfn.Response
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if got.PhysicalResourceID != a.physicalID || got.StackID != testStackID || got.RequestID != testEvent().RequestID {
				t.Errorf("identifiers not echoed: %+v", got)
			}
			if sent.Reason != got.Reason {
				t.Errorf("returned response Reason %q differs from the body's %q", sent.Reason, got.Reason)
			}
			if _, marked := got.Data[truncatedKey]; marked != tt.wantCut || (note != "") != tt.wantCut {
				t.Errorf("%s present = %v, note %q; want cut = %v", truncatedKey, marked, note, tt.wantCut)
			}
			tt.check(t, got.Data)

			again, _, _ := encodeResponse(testEvent(), a)
			if string(again) != string(body) {
				t.Error("encodeResponse is not deterministic")
			}
		})
	}
}

func TestEncodeResponseMarksTruncation(t *testing.T) {
	data := make(map[string]any, 5000)
	for i := range 5000 {
		data[accountID(i)] = "verified"
	}
	body, _, note := encodeResponse(testEvent(), answer{status: cfn.StatusSuccess, physicalID: "id", data: data})
	var got cfn.Response
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	kept := len(got.Data) - 1
	want := fmt.Sprintf("dropped %d of 5000 keys, shortened 0 values to fit the 4096-byte response", 5000-kept)
	if got.Data[truncatedKey] != want || note != want {
		t.Errorf("%s = %q (note %q), want %q", truncatedKey, got.Data[truncatedKey], note, want)
	}
	if len(body) < maxBodyBytes-200 {
		t.Errorf("body is %d bytes: too much dropped", len(body))
	}
}

func TestEncodeResponseFitsHostileIdentifiers(t *testing.T) {
	ev := testEvent()
	ev.StackID = strings.Repeat("\"", 3000)
	ev.RequestID = strings.Repeat("\x01", 3000)
	ev.LogicalResourceID = strings.Repeat("\\", 3000)
	a := answer{status: cfn.StatusFailed, physicalID: strings.Repeat("\u2028", 2000), reason: strings.Repeat("\x00", 1000),
		data: map[string]any{"k": strings.Repeat("v", 5000)}}
	body, _, _ := encodeResponse(ev, a)
	if len(body) > maxBodyBytes || !json.Valid(body) {
		t.Errorf("body is %d bytes (valid JSON %v), want at most %d", len(body), json.Valid(body), maxBodyBytes)
	}
}

func TestShortenEncoded(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 1000), strings.Repeat("\"é\n", 500), strings.Repeat("🔑", 400)} {
		for _, limit := range []int{5, 64, 129, 700} {
			got := shortenEncoded(s, limit)
			b, _ := marshal(got)
			if len(b) > limit || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
				t.Errorf("shortenEncoded(%.10q…, %d) = %.20q… (%d bytes encoded)", s, limit, got, len(b))
			}
			if b2, _ := marshal(shortenEncoded(s, limit+8)); len(b2) <= len(b) && len(b)+8 < len(s) {
				t.Errorf("shortenEncoded(%.10q…, %d) does not use the room it has", s, limit+8)
			}
		}
	}
}
