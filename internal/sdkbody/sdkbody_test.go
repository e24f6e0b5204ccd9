package sdkbody_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolecall/rolecall/internal/sdkbody"
)

// A request body larger than net/http's write buffer, answered at once by
// a loopback server, must not lose the response. Without PlainRequestBody
// a few percent of these calls fail with "use of closed network
// connection"; no retry is allowed to hide one.
func TestLargeRequestBodyAnsweredAtOnce(t *testing.T) {
	var actions []string
	for i := range 300 { // about 10 KiB of form body, over the 4 KiB buffer
		actions = append(actions, fmt.Sprintf("iam:SomeWriteAction%03d", i))
	}
	// The answer is large too: a small one arrives with its headers and
	// is read from the buffer, whatever happens to the connection.
	var answer strings.Builder
	answer.WriteString(`<SimulatePrincipalPolicyResponse><SimulatePrincipalPolicyResult><EvaluationResults>`)
	for _, a := range actions {
		fmt.Fprintf(&answer, `<member><EvalActionName>%s</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>implicitDeny</EvalDecision></member>`, a)
	}
	answer.WriteString(`</EvaluationResults><IsTruncated>false</IsTruncated></SimulatePrincipalPolicyResult></SimulatePrincipalPolicyResponse>`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, answer.String())
	}))
	t.Cleanup(srv.Close)
	client := iam.NewFromConfig(aws.Config{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		APIOptions:       []func(*middleware.Stack) error{sdkbody.PlainRequestBody},
	})
	for i := range 500 {
		if _, err := client.SimulatePrincipalPolicy(t.Context(), &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String("arn:aws:iam::111122223333:role/R"), ActionNames: actions,
		}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// Added twice, it runs once.
func TestPlainRequestBodyIsAddedOnce(t *testing.T) {
	stack := middleware.NewStack("test", nil)
	for range 2 {
		if err := sdkbody.PlainRequestBody(stack); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(stack.Finalize.List()); got != 1 {
		t.Fatalf("%d finalize steps, want 1: %v", got, stack.Finalize.List())
	}
}
