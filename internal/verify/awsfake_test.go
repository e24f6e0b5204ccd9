package verify

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/rolecall/rolecall/internal/permissions"
)

// awsFake is an httptest server that answers every call the engine makes,
// in the wire format of each service, for wire-level tests and the
// benchmark. Sessions it issues carry their account in the access key ID,
// so it answers each account's role with the policies the catalog renders
// for a member role.
type awsFake struct {
	srv *httptest.Server
	// latency is added to every answer, as a network round trip would.
	latency time.Duration
	// throttle, if set, makes every call of that operation fail with
	// Throttling.
	throttle string

	calls atomic.Int64
	mu    sync.Mutex
	byOp  map[string]int
}

func newAWSFake(t testing.TB, latency time.Duration) *awsFake {
	f := &awsFake{latency: latency, byOp: map[string]int{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// config returns a config for a caller of the fake: static credentials,
// the fake as every service's endpoint, path-style S3 (set by the
// engine's option), and an HTTP client that keeps enough connections.
func (f *awsFake) config(concurrency int) aws.Config {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(concurrency, 2)
	tr.Proxy = nil
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIACALLER", "secret", ""),
		HTTPClient:   &http.Client{Transport: tr},
	}
}

func (f *awsFake) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byOp[op]
}

func (f *awsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__calls" {
		// The benchmark's question, from another process.
		fmt.Fprint(w, f.calls.Load())
		return
	}
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if f.latency > 0 {
		time.Sleep(f.latency) // simulated network latency, not synchronisation
	}
	op := operation(r, body)
	f.mu.Lock()
	f.byOp[op]++
	f.mu.Unlock()
	if op == f.throttle {
		writeError(w, r, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	account := accountOf(r)
	form, _ := url.ParseQuery(string(body))
	switch op {
	case "AssumeRole":
		arn := form.Get("RoleArn")
		acct := strings.Split(arn, ":")[4]
		writeXML(w, "AssumeRole", fmt.Sprintf(`<Credentials><AccessKeyId>ASIAFAKE%s</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>%s</Arn><AssumedRoleId>AROAFAKE:rolecall-verify</AssumedRoleId></AssumedRoleUser>`, acct, arn), "https://sts.amazonaws.com/doc/2011-06-15/")
	case "ListRoles":
		writeXML(w, op, `<Roles/><IsTruncated>false</IsTruncated>`, iamNS)
	case "GetRole":
		writeXML(w, op, fmt.Sprintf(`<Role><Path>/</Path><RoleName>%s</RoleName><Arn>arn:aws:iam::%s:role/%s</Arn><RoleId>AROAFAKE</RoleId><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role>`,
			form.Get("RoleName"), account, form.Get("RoleName")), iamNS)
	case "ListExports":
		writeJSON(w, `{"Exports":[]}`)
	case "ListRolePolicies":
		var b strings.Builder
		for _, p := range memberPolicies(account, form.Get("RoleName")) {
			b.WriteString("<member>" + p.Name + "</member>")
		}
		writeXML(w, op, `<PolicyNames>`+b.String()+`</PolicyNames><IsTruncated>false</IsTruncated>`, iamNS)
	case "GetRolePolicy":
		for _, p := range memberPolicies(account, form.Get("RoleName")) {
			if p.Name == form.Get("PolicyName") {
				doc, _ := json.Marshal(p.Document)
				writeXML(w, op, fmt.Sprintf(`<RoleName>%s</RoleName><PolicyName>%s</PolicyName><PolicyDocument>%s</PolicyDocument>`,
					form.Get("RoleName"), p.Name, url.QueryEscape(string(doc))), iamNS)
				return
			}
		}
		writeError(w, r, http.StatusNotFound, "NoSuchEntity", "no such policy")
	case "ListAttachedRolePolicies":
		writeXML(w, op, `<AttachedPolicies/><IsTruncated>false</IsTruncated>`, iamNS)
	case "SimulatePrincipalPolicy":
		var b strings.Builder
		for i := 1; ; i++ {
			a := form.Get("ActionNames.member." + strconv.Itoa(i))
			if a == "" {
				break
			}
			b.WriteString("<member><EvalActionName>" + a + "</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>implicitDeny</EvalDecision></member>")
		}
		writeXML(w, op, `<EvaluationResults>`+b.String()+`</EvaluationResults><IsTruncated>false</IsTruncated>`, iamNS)
	case "DescribeOrganization":
		writeJSON(w, `{"Organization":{"Id":"o-fake","MasterAccountId":"123456789012"}}`)
	case "GetCostAndUsage":
		writeJSON(w, `{"ResultsByTime":[]}`)
	case "DescribeReportDefinitions":
		writeJSON(w, `{"ReportDefinitions":[]}`)
	case "DescribeServices":
		writeJSON(w, `{"Services":[],"FormatVersion":"aws_v1"}`)
	case "DescribeLogGroups":
		writeJSON(w, `{"logGroups":[]}`)
	case "LookupEvents":
		writeJSON(w, `{"Events":[]}`)
	case "GetModelInvocationLoggingConfiguration":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"loggingConfig":{"cloudWatchConfig":{"logGroupName":"/aws/bedrock/invocations","roleArn":"arn:aws:iam::123456789012:role/bedrock-logs"},"textDataDeliveryEnabled":true}}`)
	case "ListMetrics":
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		_, _ = w.Write(cbor.Encode(cbor.Map{"Metrics": cbor.List{}}))
	case "ListObjectsV2":
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>cur/r.csv.gz</Key><Size>1</Size></Contents></ListBucketResult>`)
	case "GetObject":
		w.Header().Set("Content-Range", "bytes 0-0/1")
		w.WriteHeader(http.StatusPartialContent)
		_, _ = io.WriteString(w, "i")
	default:
		writeError(w, r, http.StatusNotFound, "UnknownOperation", "the fake does not serve "+op)
	}
}

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"

// operation names the API a request calls.
func operation(r *http.Request, body []byte) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		_, op, _ := strings.Cut(t, ".")
		return op
	}
	if i := strings.LastIndex(r.URL.Path, "/operation/"); i >= 0 {
		return r.URL.Path[i+len("/operation/"):]
	}
	if r.URL.Path == "/logging/modelinvocations" {
		return "GetModelInvocationLoggingConfiguration"
	}
	if r.URL.Query().Get("list-type") == "2" {
		return "ListObjectsV2"
	}
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		return form.Get("Action")
	}
	return r.Method + " " + r.URL.Path
}

// accountOf reads the account from a session's access key ID.
func accountOf(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, "Credential=")
	key, _, _ := strings.Cut(cred, "/")
	return strings.TrimPrefix(key, "ASIAFAKE")
}

var policyCache sync.Map // account/role -> []permissions.Policy

func memberPolicies(account, role string) []permissions.Policy {
	k := account + "/" + role
	if p, ok := policyCache.Load(k); ok {
		return p.([]permissions.Policy)
	}
	p := permissions.Policies(permissions.Target{Partition: "aws", AccountID: account, RoleName: role, Bedrock: true})
	policyCache.Store(k, p)
	return p
}

func writeXML(w http.ResponseWriter, op, inner, ns string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req</RequestId></ResponseMetadata></%sResponse>`, op, ns, op, inner, op, op)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = io.WriteString(w, body)
}

// writeError answers in the error shape of the request's protocol.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	switch {
	case r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor":
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.WriteHeader(status)
		_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(code), "message": cbor.String(message)}))
	case r.Header.Get("X-Amz-Target") != "" || r.URL.Path == "/logging/modelinvocations":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, message)
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		b, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Error   struct {
				Type    string `xml:"Type"`
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		}{Error: struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}{"Sender", code, message}})
		_, _ = w.Write(b)
	}
}
