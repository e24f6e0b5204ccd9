package permissions

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/iamdata"
)

// Severity says whether a Finding fails the gate.
type Severity int

const (
	// Warning findings are reported but pass: reads that expose data contents.
	Warning Severity = iota
	// Error findings fail the gate.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Finding is one thing the gate has to say about a policy.
type Finding struct {
	Severity Severity
	// Policy locates the policy, e.g. "ManagementRole/rolecall-cost".
	Policy string
	// Statement is the statement's Sid, or "#N" (1-based) without one.
	Statement string
	// Action is the offending action, when there is one.
	Action string
	// Message says what is wrong and what to do.
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s statement %s: %s", f.Severity, f.Policy, f.Statement, f.Message)
}

// CURScope is where S3 access is allowed: the CUR bucket, and objects under
// the report prefix. In a template the values are the parameter references
// as the template writes them, such as "${CurBucketName}".
type CURScope struct {
	Bucket string
	Prefix string
}

// Gate is the read-only gate. The zero value is not usable: set Data.
type Gate struct {
	// Data gives every action's access level.
	Data *iamdata.Dataset
	// CUR is the only S3 location a policy may reach.
	CUR CURScope
}

// Failed reports whether any finding is an Error.
func Failed(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Check puts one policy document through the gate. Deny statements only
// take permissions away and pass unchecked.
func (g Gate) Check(policy string, d Document) []Finding {
	var out []Finding
	for i, s := range d.Statement {
		sid := s.Sid
		if sid == "" {
			sid = fmt.Sprintf("#%d", i+1)
		}
		add := func(sev Severity, action, format string, args ...any) {
			out = append(out, Finding{Severity: sev, Policy: policy, Statement: sid, Action: action, Message: fmt.Sprintf(format, args...)})
		}
		switch s.Effect {
		case "Deny":
			continue
		case "Allow":
		default:
			add(Error, "", "Effect %q is neither Allow nor Deny", s.Effect)
			continue
		}
		if len(s.NotAction) > 0 {
			add(Error, "", "NotAction allows every action except the ones listed; list the allowed actions explicitly")
		}
		if len(s.NotResource) > 0 {
			add(Error, "", "NotResource allows every resource except the ones listed; list the allowed resources explicitly")
		}
		if len(s.Action) == 0 && len(s.NotAction) == 0 {
			add(Error, "", "the statement has no Action")
		}
		for _, action := range s.Action {
			out = append(out, g.checkAction(policy, sid, action, s.Resource)...)
		}
	}
	return out
}

func (g Gate) checkAction(policy, sid, action string, resources []string) []Finding {
	var out []Finding
	add := func(sev Severity, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Policy: policy, Statement: sid, Action: action, Message: fmt.Sprintf(format, args...)})
	}
	if action == "*" {
		add(Error, `"*" allows every action of every service; list the actions explicitly`)
		return out
	}
	if strings.ContainsAny(action, "*?") {
		add(Error, "%s is a wildcard: it grows with every action AWS adds, writes included; list the actions explicitly", action)
		return out
	}
	prefix, _, ok := strings.Cut(action, ":")
	if !ok {
		add(Error, "%q is not an action: write it as service:Action", action)
		return out
	}
	a, ok := g.Data.Lookup(action)
	if !ok {
		src := g.Data.Source()
		if !g.Data.HasService(prefix) {
			add(Error, "%s: service %q is not in the IAM action dataset (%s), so its access level is unknown; rolecall grants none of its actions", action, prefix, src)
		} else {
			add(Error, "%s is not an action in the IAM action dataset (%s): check the spelling, or refresh the dataset with make iamdata", action, src)
		}
		return out
	}
	if !a.ReadOnly() {
		add(Error, "%s has access level %q; a read-only role may grant only List and Read actions", a, a.AccessLevel)
		return out
	}
	if why, bad := forbiddenReads[strings.ToLower(a.String())]; bad {
		add(Error, "%s is listed as %s but %s; it is never granted", a, a.AccessLevel, why)
		return out
	}
	if a.Service == "s3" {
		for _, r := range resources {
			if !g.CUR.allows(r) {
				add(Error, "%s on %q is outside the CUR bucket and report prefix (%s); S3 access is allowed only there", a, r, g.CUR)
			}
		}
		if len(resources) == 0 {
			add(Error, "%s has no Resource; S3 access is allowed only on the CUR bucket and report prefix (%s)", a, g.CUR)
		}
	}
	if what, ok := contentReads[strings.ToLower(a.String())]; ok {
		for _, r := range resources {
			if r == "*" {
				add(Error, "%s on \"*\" reads %s everywhere; name the resources it may read", a, what)
			}
		}
		add(Warning, "%s reads data contents: %s", a, what)
	}
	return out
}

func (c CURScope) String() string {
	if c.Bucket == "" {
		return "no CUR bucket configured"
	}
	return c.Bucket + "/" + c.Prefix
}

// allows reports whether an S3 resource ARN is the CUR bucket itself or an
// object pattern under the report prefix.
func (c CURScope) allows(resource string) bool {
	if c.Bucket == "" {
		return false
	}
	path, ok := "", false
	for _, p := range []string{"aws", "aws-cn", "aws-us-gov", "${AWS::Partition}", VarPartition} {
		if path, ok = strings.CutPrefix(resource, "arn:"+p+":s3:::"); ok {
			break
		}
	}
	if !ok {
		return false
	}
	if path == c.Bucket {
		return true
	}
	objects, ok := strings.CutPrefix(path, c.Bucket+"/")
	if !ok {
		return false
	}
	if !strings.HasPrefix(objects, c.Prefix) {
		return false
	}
	// A wildcard inside the prefix part could reach past it ("cu*" covers
	// "other/"); only a wildcard after the whole prefix is in scope.
	return !strings.ContainsAny(c.Prefix, "*?")
}

// forbiddenReads are actions the IAM dataset lists as Read that nonetheless
// act: they run a model or agent (billed to the customer, fed their data),
// reveal masked data, or start work. A read-only role never has them.
var forbiddenReads = func() map[string]string {
	runs := "runs a model, agent or tool on your account (billed to you, fed your data)"
	m := map[string]string{
		"logs:unmask":                            "reveals log data that your data-protection policies mask",
		"cloudwatch:generatequery":               "runs a generative-AI query generator",
		"cloudtrail:generatequeryresultssummary": "runs a generative-AI summary",
		"cloudwatch:generatequeryresultssummary": "runs a generative-AI summary",
		"bedrock:callwithbearertoken":            "lets Bedrock API keys act with the role's identity",
		"iam:generatecredentialreport":           "starts a report job",
		"iam:generateorganizationsaccessreport":  "starts a report job",
		"iam:generateservicelastaccesseddetails": "starts a report job",
	}
	for _, a := range []string{
		"AgenticRetrieveStream", "ApplyGuardrail", "DetectGeneratedContent", "GenerateQuery",
		"InvokeAgent", "InvokeAutomatedReasoningPolicy", "InvokeFlow", "InvokeGuardrailChecks",
		"InvokeInlineAgent", "InvokeModel", "InvokeModelWithResponseStream", "InvokeTool",
		"OptimizePrompt", "RenderPrompt", "Retrieve",
	} {
		m["bedrock:"+strings.ToLower(a)] = runs
	}
	return m
}()

// contentReads are reads whose answers carry customer data contents rather
// than metadata; the gate warns about each so the summary can say so.
var contentReads = map[string]string{
	"s3:getobject":               "object contents",
	"s3:getobjectversion":        "object contents",
	"logs:getlogevents":          "log events (Bedrock invocation logs contain prompts and completions)",
	"logs:filterlogevents":       "log events (Bedrock invocation logs contain prompts and completions)",
	"logs:startquery":            "log events through Logs Insights queries",
	"logs:getqueryresults":       "log events through Logs Insights query results",
	"logs:startlivetail":         "live log events",
	"logs:getlogrecord":          "a whole log record",
	"cloudtrail:getqueryresults": "CloudTrail Lake event data",
}

// ContentReads returns the actions, sorted, that the gate warns about
// because they read data contents.
func ContentReads() []string {
	out := make([]string, 0, len(contentReads))
	for a := range contentReads {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// IsForbiddenRead reports whether the gate refuses a Read-level action
// because it acts (runs a model, unmasks data, starts a job).
func IsForbiddenRead(action string) bool {
	_, ok := forbiddenReads[strings.ToLower(action)]
	return ok
}
