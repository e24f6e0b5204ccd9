package emulator

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzRecordedSimulation: whatever form body reaches the front, it either
// is not a SimulatePrincipalPolicy call or is answered with well-formed XML
// that lists the actions asked about, in order.
func FuzzRecordedSimulation(f *testing.F) {
	f.Add("Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FR&ActionNames.member.1=iam%3ACreateUser&ActionNames.member.2=s3%3APutObject")
	f.Add("Action=SimulatePrincipalPolicy&ActionNames.member.2=b&ActionNames.member.1=%3C%26%3E")
	f.Add("Action=ListRoles&Version=2010-05-08")
	f.Add("Action=SimulatePrincipalPolicy&ActionNames.member.x=a&ActionNames.member.1=")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if recordedAPI(r, []byte(body)) != RecordedIAMSimulatePrincipalPolicy {
			return
		}
		w := httptest.NewRecorder()
		answerRecorded(w, RecordedIAMSimulatePrincipalPolicy, []byte(body))
		if w.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
		var resp struct {
			Results []struct {
				Action   string `xml:"EvalActionName"`
				Decision string `xml:"EvalDecision"`
			} `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, w.Body)
		}
		form, _ := url.ParseQuery(body)
		var want []string
		for i := 1; ; i++ {
			v, ok := form["ActionNames.member."+strconv.Itoa(i)]
			if !ok {
				break
			}
			want = append(want, v[0])
		}
		if len(resp.Results) < len(want) {
			t.Fatalf("%d results for %d consecutive actions", len(resp.Results), len(want))
		}
		for i, a := range want {
			if resp.Results[i].Decision != "implicitDeny" {
				t.Fatalf("result %d = %+v, want implicitDeny", i, resp.Results[i])
			}
			// IAM action names are printable ASCII; others come back
			// with XML's replacement characters.
			if printableASCII(a) && resp.Results[i].Action != a {
				t.Fatalf("result %d = %+v, want %q implicitDeny", i, resp.Results[i], a)
			}
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
