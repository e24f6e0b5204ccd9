package customresource

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
)

// FuzzParseEvent: events come from outside. Parsing must never panic; an
// event it accepts has every field the answer needs; an event it can answer
// is one IsEvent routes here; and whatever the event, the answer to it, even
// with every property echoed as Data, is valid JSON within the size limit.
// The seed corpus is in testdata/fuzz/FuzzParseEvent.
func FuzzParseEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, allowHTTP := range []bool{false, true} {
			ev, err := parseEvent(data, allowHTTP)
			if err == nil {
				if ev.ResponseURL == "" || ev.StackID == "" || ev.RequestID == "" || ev.LogicalResourceID == "" {
					t.Fatalf("accepted an event without a required field: %+v", ev)
				}
				if !knownRequestType(ev.RequestType) {
					t.Fatalf("accepted RequestType %q", ev.RequestType)
				}
				if ev.RequestType != cfn.RequestCreate && ev.PhysicalResourceID == "" {
					t.Fatalf("accepted a %s without PhysicalResourceId", ev.RequestType)
				}
			}
			if ev.ResponseURL == "" {
				continue
			}
			if problem := checkResponseURL(ev.ResponseURL, allowHTTP); problem != "" {
				t.Fatalf("answerable with a ResponseURL that %s", problem)
			}
			if !IsEvent(data) {
				t.Fatal("an answerable event is not recognised by IsEvent")
			}

			answers := []answer{failure(ev, "timed out while fuzzing")}
			if err != nil {
				answers = append(answers, failure(ev, err.Error()))
			} else {
				answers = append(answers, answer{
					status:     cfn.StatusSuccess,
					physicalID: physicalID(ev.StackID, ev.LogicalResourceID),
					data:       ev.ResourceProperties,
				})
			}
			for _, a := range answers {
				if a.physicalID == "" {
					t.Fatal("answer without a physical ID")
				}
				body, _, _ := encodeResponse(ev, a)
				if len(body) > maxBodyBytes || !json.Valid(body) {
					t.Fatalf("response is %d bytes (valid JSON %v)", len(body), json.Valid(body))
				}
			}
		}
	})
}
