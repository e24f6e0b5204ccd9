package permissions

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/rolecall/rolecall/internal/iamdata"
)

// Severity says whether a Finding fails the gate.
type Severity int

const (
	// Warning findings are reported but pass: reads of data contents on a
	// named resource.
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

// Kind names what a finding is about. Kinds are stable: the verifier sends
// them to the vendor, whose systems may match on them.
type Kind string

// The kinds of finding the gate makes.
const (
	// KindAllActions: Action "*", every action of every service.
	KindAllActions Kind = "all_actions"
	// KindWildcardAction: an action pattern such as "s3:Put*".
	KindWildcardAction Kind = "wildcard_action"
	// KindNotAction: an Allow statement with NotAction, which allows every
	// action except those listed.
	KindNotAction Kind = "not_action"
	// KindNotResource: an Allow statement with NotResource.
	KindNotResource Kind = "not_resource"
	// KindNoAction: a statement with neither Action nor NotAction.
	KindNoAction Kind = "no_action"
	// KindBadEffect: an Effect that is neither Allow nor Deny.
	KindBadEffect Kind = "bad_effect"
	// KindMalformedAction: an action not written as service:Action.
	KindMalformedAction Kind = "malformed_action"
	// KindUnknownService: a service the pinned dataset does not know.
	KindUnknownService Kind = "unknown_service"
	// KindUnknownAction: an action of a known service that the pinned
	// dataset does not know.
	KindUnknownAction Kind = "unknown_action"
	// KindWriteAction: an action whose access level is not List or Read.
	KindWriteAction Kind = "write_action"
	// KindActingRead: a Read-level action that acts: starts, stops, runs,
	// invokes, sends or exports something, or issues credentials.
	KindActingRead Kind = "acting_read"
	// KindS3OutsideCUR: S3 access outside the CUR bucket and prefix.
	KindS3OutsideCUR Kind = "s3_outside_cur"
	// KindContentReadWildcard: a read of data contents (object bodies, log
	// events, secret values, ...) on a wildcard resource.
	KindContentReadWildcard Kind = "content_read_wildcard"
	// KindContentRead (a warning): a read of data contents on a named
	// resource.
	KindContentRead Kind = "content_read"
)

// Kinds returns every kind the gate can report, in a stable order.
func Kinds() []Kind {
	return []Kind{
		KindAllActions, KindWildcardAction, KindNotAction, KindNotResource, KindNoAction, KindBadEffect,
		KindMalformedAction, KindUnknownService, KindUnknownAction, KindWriteAction, KindActingRead,
		KindS3OutsideCUR, KindContentReadWildcard, KindContentRead,
	}
}

// Unevaluable reports whether a kind means the gate could not decide what
// the statement allows (an action the pinned dataset does not know), as
// opposed to having decided that it allows too much.
func (k Kind) Unevaluable() bool { return k == KindUnknownService || k == KindUnknownAction }

// Finding is one thing the gate has to say about a policy, with the
// evidence exactly as the policy writes it.
type Finding struct {
	Severity Severity
	Kind     Kind
	// Policy locates the policy, e.g. "ManagementRole/rolecall-cost".
	Policy string
	// Statement is the statement's Sid, or "#N" (1-based) without one.
	Statement string
	// Index is the statement's 1-based position in the policy.
	Index int
	// Effect is the statement's Effect as written.
	Effect string
	// Action is the action or pattern as written, when the finding is
	// about one; empty for a whole-statement problem such as NotAction.
	Action string
	// NotAction is true when the finding comes from a NotAction element;
	// Patterns then lists what it excludes.
	NotAction bool
	// Patterns are the NotAction entries, for a NotAction finding.
	Patterns []string
	// Resources are the statement's Resource (or NotResource) entries.
	Resources []string
	// Matches counts the write actions of the pinned dataset a wildcard,
	// "*" or NotAction covers, and Examples names a few of them.
	Matches  int
	Examples []string
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
	// Data gives every action's access level: the whole pinned dataset.
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

// maxExamples bounds the example actions a wildcard finding names.
const maxExamples = 5

// Check puts one policy document through the gate. Deny statements only
// take permissions away and pass unchecked.
func (g Gate) Check(policy string, d Document) []Finding {
	var out []Finding
	for i, s := range d.Statement {
		sid := s.Sid
		if sid == "" {
			sid = fmt.Sprintf("#%d", i+1)
		}
		resources := s.Resource
		if len(s.NotResource) > 0 {
			resources = s.NotResource
		}
		base := Finding{Severity: Error, Policy: policy, Statement: sid, Index: i + 1, Effect: s.Effect, Resources: slices.Clone(resources)}
		add := func(f Finding, format string, args ...any) {
			f.Message = fmt.Sprintf(format, args...)
			out = append(out, f)
		}
		switch s.Effect {
		case "Deny":
			continue
		case "Allow":
		default:
			f := base
			f.Kind = KindBadEffect
			add(f, "Effect %q is neither Allow nor Deny", s.Effect)
			continue
		}
		if len(s.NotAction) > 0 {
			f := base
			f.Kind, f.NotAction, f.Patterns = KindNotAction, true, slices.Clone(s.NotAction)
			f.Matches, f.Examples = g.writesExcept(s.NotAction)
			add(f, "NotAction allows every action except the ones listed (%d write actions of the dataset, such as %s); list the allowed actions explicitly",
				f.Matches, strings.Join(f.Examples, ", "))
		}
		if len(s.NotResource) > 0 {
			f := base
			f.Kind = KindNotResource
			add(f, "NotResource allows every resource except the ones listed; list the allowed resources explicitly")
		}
		if len(s.Action) == 0 && len(s.NotAction) == 0 {
			f := base
			f.Kind = KindNoAction
			add(f, "the statement has no Action")
		}
		for _, action := range s.Action {
			f := base
			f.Action = action
			if strings.EqualFold(action, "kms:Decrypt") && decryptsThroughS3Only(s) {
				f.Severity, f.Kind = Warning, KindContentRead
				f.Message = "kms:Decrypt on the named key, only through S3 (kms:ViaService): reads the contents of the objects that key encrypts, in that bucket's region"
				out = append(out, f)
				continue
			}
			out = append(out, g.checkAction(f, s.Resource)...)
		}
	}
	return out
}

func (g Gate) checkAction(base Finding, resources []string) []Finding {
	var out []Finding
	action := base.Action
	add := func(sev Severity, kind Kind, format string, args ...any) {
		f := base
		f.Severity, f.Kind, f.Message = sev, kind, fmt.Sprintf(format, args...)
		out = append(out, f)
	}
	if action == "*" {
		base.Matches, base.Examples = g.writesMatching("*")
		add(Error, KindAllActions, `"*" allows every action of every service (%d write actions, such as %s); list the actions explicitly`, base.Matches, strings.Join(base.Examples, ", "))
		return out
	}
	if strings.ContainsAny(action, "*?") {
		base.Matches, base.Examples = g.writesMatching(action)
		if base.Matches > 0 {
			add(Error, KindWildcardAction, "%s is a wildcard that allows %d write actions today, such as %s; list the actions explicitly", action, base.Matches, strings.Join(base.Examples, ", "))
		} else {
			add(Error, KindWildcardAction, "%s is a wildcard: it grows with every action AWS adds, writes included; list the actions explicitly", action)
		}
		return out
	}
	prefix, _, ok := strings.Cut(action, ":")
	if !ok {
		add(Error, KindMalformedAction, "%q is not an action: write it as service:Action", action)
		return out
	}
	a, ok := g.Data.Lookup(action)
	if !ok {
		src := g.Data.Source()
		if !g.Data.HasService(prefix) {
			add(Error, KindUnknownService, "%s: service %q is not in the IAM action dataset (%s), so its access level is unknown; check the spelling, or refresh the dataset with make iamdata", action, prefix, src)
		} else {
			add(Error, KindUnknownAction, "%s is not an action in the IAM action dataset (%s): check the spelling, or refresh the dataset with make iamdata", action, src)
		}
		return out
	}
	if !a.ReadOnly() {
		add(Error, KindWriteAction, "%s has access level %q; a read-only role may grant only List and Read actions", a, a.AccessLevel)
		return out
	}
	if why, bad := ActingRead(a); bad {
		add(Error, KindActingRead, "%s is listed as %s but %s; it is never granted", a, a.AccessLevel, why)
		return out
	}
	if a.Service == "s3" {
		for _, r := range resources {
			if !g.CUR.allows(r) {
				add(Error, KindS3OutsideCUR, "%s on %q is outside the CUR bucket and report prefix (%s); S3 access is allowed only there", a, r, g.CUR)
			}
		}
		if len(resources) == 0 {
			add(Error, KindS3OutsideCUR, "%s has no Resource; S3 access is allowed only on the CUR bucket and report prefix (%s)", a, g.CUR)
		}
	}
	if what, ok := contentReads[strings.ToLower(a.String())]; ok {
		wild := false
		for _, r := range resources {
			if !NamedResource(r) {
				wild = true
				add(Error, KindContentReadWildcard, "%s on %q reads %s of every resource the pattern covers; name the resources it may read", a, r, what)
			}
		}
		if len(resources) == 0 {
			wild = true
			add(Error, KindContentReadWildcard, "%s has no Resource; name the resources whose %s it may read", a, what)
		}
		if !wild {
			add(Warning, KindContentRead, "%s reads data contents: %s", a, what)
		}
	}
	return out
}

// viaS3 is what kms:ViaService may be for a key the role may use: S3 in
// one named region, as IAM writes it or as a template spells it.
var viaS3 = regexp.MustCompile(`^s3\.([a-z0-9-]+|\$\{[A-Za-z0-9:.]+\})\.(amazonaws\.com(\.cn)?|\$\{AWS::URLSuffix\})$`)

// decryptsThroughS3Only reports whether a statement that allows
// kms:Decrypt allows it on named keys only, and only through S3 in a named
// region: the one write a read-only role may have, to read SSE-KMS report
// files. kms:Decrypt is a Write action in the dataset; anything broader is
// refused like any other write.
func decryptsThroughS3Only(s DocStatement) bool {
	if len(s.Action) != 1 || len(s.Resource) == 0 || len(s.NotResource) > 0 {
		return false
	}
	for _, r := range s.Resource {
		parts := splitARN(r)
		single := strings.HasPrefix(r, "${") && strings.HasSuffix(r, "}") && strings.Count(r, "${") == 1
		if !single && (len(parts) != 6 || parts[2] != "kms" || !strings.HasPrefix(parts[5], "key/") || wild(r)) {
			return false
		}
	}
	var via []string
	for op, keys := range s.Condition {
		for k, vs := range keys {
			if op == "StringEquals" && strings.EqualFold(k, "kms:ViaService") {
				via = append(via, vs...)
			}
		}
	}
	for _, v := range via {
		if !viaS3.MatchString(v) {
			return false
		}
	}
	return len(via) > 0
}

// writesMatching counts the write actions of the dataset a pattern covers
// and names a few.
func (g Gate) writesMatching(pattern string) (int, []string) {
	var n int
	var examples []string
	for _, a := range g.Data.Match(pattern) {
		if !iamdata.IsWrite(a) {
			continue
		}
		n++
		if len(examples) < maxExamples {
			examples = append(examples, a.String())
		}
	}
	return n, examples
}

// writesExcept counts the write actions of the dataset that no pattern of a
// NotAction list covers.
func (g Gate) writesExcept(patterns []string) (int, []string) {
	var n int
	var examples []string
	for _, a := range g.Data.Match("*") {
		if !iamdata.IsWrite(a) || matchesAny(patterns, a) {
			continue
		}
		n++
		if len(examples) < maxExamples {
			examples = append(examples, a.String())
		}
	}
	return n, examples
}

func matchesAny(patterns []string, a iamdata.Action) bool {
	name := strings.ToLower(a.String())
	for _, p := range patterns {
		if iamdata.Glob(strings.ToLower(p), name) {
			return true
		}
	}
	return false
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

// NamedResource reports whether a resource ARN pattern names the resource
// whose contents it reaches: the S3 bucket, the log group, the secret, the
// table, the parameter path. A wildcard may follow the name (the objects
// under a prefix, a log group's streams, a secret's random suffix) and the
// region may be "*" (the same name in every region), but the name, the
// account, the service and the partition must be written out. A template
// reference such as "${CurBucketName}" counts as written out: the template
// binds it to one value (package policyscan refuses a reference to a
// parameter that could hold a wildcard).
func NamedResource(resource string) bool {
	if strings.HasPrefix(resource, "${") && strings.HasSuffix(resource, "}") && strings.Count(resource, "${") == 1 {
		// One template reference: a resource of the template (its ARN) or
		// a parameter the template constrains.
		return !strings.ContainsAny(resource, "*?")
	}
	parts := splitARN(resource)
	if len(parts) != 6 || parts[0] != "arn" {
		return false
	}
	partition, service, account, rest := parts[1], parts[2], parts[4], parts[5]
	if wild(partition) || wild(service) || wild(account) {
		return false
	}
	if service != "s3" && account == "" {
		return false
	}
	var name string
	switch i := strings.IndexAny(rest, ":/"); {
	case service == "s3":
		name, _, _ = strings.Cut(rest, "/")
	case i < 0:
		name = rest // a bare name
	default:
		// "type:name[:...]" (a log group's name may hold slashes) or
		// "type/name[/...]".
		if wild(rest[:i]) {
			return false
		}
		tail := rest[i+1:]
		stop := ":"
		if rest[i] == '/' {
			stop = ":/"
		}
		if j := strings.IndexAny(tail, stop); j >= 0 {
			tail = tail[:j]
		}
		name = tail
	}
	// Secrets Manager appends "-" and six random characters.
	if service == "secretsmanager" {
		name = strings.TrimSuffix(name, "-??????")
	}
	return name != "" && !wild(name)
}

// splitARN splits an ARN (pattern) into at most six colon-separated parts,
// keeping template references such as "${AWS::Partition}" whole.
func splitARN(s string) []string {
	var parts []string
	start, depth := 0, 0
	for i := 0; i < len(s) && len(parts) < 5; i++ {
		switch {
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}' && depth > 0:
			depth--
		case s[i] == ':' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// wild reports whether s has an IAM wildcard outside template references.
func wild(s string) bool {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return strings.ContainsAny(s, "*?")
		}
		if strings.ContainsAny(s[:i], "*?") {
			return true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return true
		}
		s = s[i+j+1:]
	}
}

// actingVerbs start the names of Read-level actions that act rather than
// read: they start, stop or cancel work, run a model, agent, query or test,
// send or receive messages, export configuration or keys, or open a
// connection. The dataset calls them Read because they change no
// configuration; a read-only role has none of them.
var actingVerbs = []string{
	"Agentic", "Apply", "Assume", "Call", "Cancel", "Chat", "Classify", "Connect", "Converse", "Create",
	"Delete", "Detect", "Disable", "Enable", "Execute", "Export", "Generate", "Infer", "Invoke", "Optimize",
	"Poll", "Predict", "Publish", "Put", "Receive", "Recognize", "Render", "Reset", "Restart", "Retrieve",
	"Retry", "Run", "Send", "Start", "Stop", "Submit", "Synthesize", "Terminate", "Test", "Translate",
	"Trigger", "Unmask", "Update", "Use",
}

// actingReads are Read-level actions that act although no verb says so.
var actingReads = map[string]string{
	"sts:getsessiontoken":       "issues temporary credentials",
	"sts:getservicebearertoken": "issues a bearer token that acts with the role's identity",
}

// ActingRead reports whether a Read- or List-level action acts (see
// actingVerbs), and why.
func ActingRead(a iamdata.Action) (string, bool) {
	if why := actingReads[strings.ToLower(a.String())]; why != "" {
		return why, true
	}
	for _, v := range actingVerbs {
		rest, ok := strings.CutPrefix(a.Name, v)
		if ok && (rest == "" || rest[0] >= 'A' && rest[0] <= 'Z') {
			return "its verb " + v + " acts (it starts, runs, sends, exports or changes something) rather than reads", true
		}
	}
	return "", false
}

// IsForbiddenRead reports whether the gate refuses a Read- or List-level
// action because it acts.
func IsForbiddenRead(action string) bool {
	a, ok := iamdata.Embedded().Lookup(action)
	if !ok {
		return false
	}
	_, bad := ActingRead(a)
	return bad && a.ReadOnly()
}

// contentReads are reads whose answers carry customer data contents rather
// than metadata. On a wildcard resource the gate refuses them; on a named
// resource it warns, so the summary can say so.
var contentReads = map[string]string{
	"s3:getobject":                       "object contents",
	"s3:getobjectversion":                "object contents",
	"s3:getobjecttorrent":                "object contents",
	"s3:getobjectversiontorrent":         "object contents",
	"s3-object-lambda:getobject":         "object contents",
	"s3-object-lambda:getobjectversion":  "object contents",
	"logs:getlogevents":                  "log events (Bedrock invocation logs contain prompts and completions)",
	"logs:filterlogevents":               "log events (Bedrock invocation logs contain prompts and completions)",
	"logs:getqueryresults":               "log events through Logs Insights query results",
	"logs:getlogrecord":                  "a whole log record",
	"cloudtrail:getqueryresults":         "CloudTrail Lake event data",
	"secretsmanager:getsecretvalue":      "secret values",
	"secretsmanager:batchgetsecretvalue": "secret values",
	"ssm:getparameter":                   "parameter values",
	"ssm:getparameters":                  "parameter values",
	"ssm:getparametersbypath":            "parameter values",
	"ssm:getparameterhistory":            "parameter values",
	"dynamodb:getitem":                   "table items",
	"dynamodb:batchgetitem":              "table items",
	"dynamodb:query":                     "table items",
	"dynamodb:scan":                      "table items",
	"dynamodb:partiqlselect":             "table items",
	"dynamodb:getrecords":                "table change records",
	"kinesis:getrecords":                 "stream records",
	"athena:getqueryresults":             "query results",
	"athena:getqueryresultsstream":       "query results",
	"ecr:batchgetimage":                  "container images",
	"ecr:getdownloadurlforlayer":         "container image layers",
	"lambda:getfunction":                 "function code",
	"codecommit:getblob":                 "source code",
	"codecommit:getfile":                 "source code",
	"codecommit:gitpull":                 "source code",
	"glacier:getjoboutput":               "archive contents",
	"ec2:getpassworddata":                "encrypted Windows administrator passwords",
	"ec2:getconsoleoutput":               "instance console output",
	"ec2:getconsolescreenshot":           "instance screens",
	"timestream:select":                  "time-series data",
	"redshift-data:getstatementresult":   "query results",
	"es:eshttpget":                       "search index documents",
	"rds:downloaddblogfileportion":       "database log files",
	"rds:downloadcompletedblogfile":      "database log files",
	"kinesisvideo:getmedia":              "video streams",
	"appconfig:getlatestconfiguration":   "application configuration",
	"appconfig:getconfiguration":         "application configuration",
	"acm-pca:getcertificate":             "certificates",
}

// revealingReads are List- and Read-level actions whose answers reveal
// more than their names suggest; the catalog must say so wherever it
// grants one (Statement.Exposes).
var revealingReads = map[string]string{
	"iam:listroles":                      "every role's trust policy",
	"iam:getpolicyversion":               "managed policy documents",
	"iam:getaccountauthorizationdetails": "every policy document in the account",
	"iam:getrole":                        "the role's trust policy",
	"s3:listbucket":                      "object names",
}

// Reveals returns what a read reveals beyond metadata (its data contents,
// or documents such as trust policies), or "" for a plain metadata read.
func Reveals(action string) string {
	a := strings.ToLower(action)
	if what, ok := contentReads[a]; ok {
		return what
	}
	return revealingReads[a]
}

// ContentReads returns the actions, sorted, whose answers carry data
// contents.
func ContentReads() []string {
	out := make([]string, 0, len(contentReads))
	for a := range contentReads {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// FunctionWrite is a write the onboarding function's own execution role
// may have: the function runs in the customer's account and needs a few,
// each on a resource the template names.
type FunctionWrite struct {
	Action string
	// Resource describes the resources allowed, for messages.
	Resource string
	// Allows reports whether one resource pattern is allowed.
	Allows func(resource string) bool
	// Why the function needs it.
	Why string
}

// FunctionWrites returns the writes the function's execution role may
// have. Everything else in that role must pass the read-only gate.
func FunctionWrites() []FunctionWrite {
	return []FunctionWrite{
		{Action: "logs:CreateLogStream", Resource: "its own log group", Allows: NamedResource, Why: "the function writes its own log"},
		{Action: "logs:PutLogEvents", Resource: "its own log group", Allows: NamedResource, Why: "the function writes its own log"},
		{Action: "sts:AssumeRole", Resource: "the vendor role by its exact name, in any account", Allows: namedRoleInAnyAccount, Why: "the function assumes the vendor's role in every account to verify it, under the role's own trust policy and external ID"},
		{Action: "dynamodb:PutItem", Resource: "its own state table", Allows: NamedResource, Why: "the function records each account's last verification"},
		{Action: "dynamodb:DeleteItem", Resource: "its own state table", Allows: NamedResource, Why: "the function forgets an account that left the organization"},
		{Action: "sqs:SendMessage", Resource: "its own dead-letter queue", Allows: NamedResource, Why: "Lambda, as the function's role, keeps an instance event the function failed after its retries, instead of dropping it"},
	}
}

// SchedulerWrites returns the writes a role that only EventBridge Scheduler
// may assume can have: invoking one function the template names (the
// re-verification schedule's target). Everything else in that role must
// pass the read-only gate.
func SchedulerWrites() []FunctionWrite {
	return []FunctionWrite{
		{Action: "lambda:InvokeFunction", Resource: "one function, by name", Allows: NamedResource, Why: "the re-verification schedule invokes the onboarding function"},
	}
}

// namedRoleInAnyAccount allows arn:<partition>:iam::<account or *>:role/NAME
// with NAME written out.
func namedRoleInAnyAccount(resource string) bool {
	parts := splitARN(resource)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || wild(parts[1]) {
		return false
	}
	rest, ok := strings.CutPrefix(parts[5], "role")
	if !ok {
		return false
	}
	// The path is "/" or a template parameter ("${RolePath}"), which the
	// scanner has checked cannot hold a wildcard.
	if strings.HasPrefix(rest, "${") {
		end := strings.Index(rest, "}")
		if end < 0 || strings.Count(rest, "${") != 1 {
			return false
		}
		rest = rest[end+1:]
	} else if rest, ok = strings.CutPrefix(rest, "/"); !ok {
		return false
	}
	return rest != "" && !strings.Contains(rest, "/") && !wild(rest)
}

// CheckFunctionRole puts the onboarding function's own execution role
// through the gate: the writes of FunctionWrites on the resources each
// allows, and otherwise the same rules as the vendor's role.
func (g Gate) CheckFunctionRole(policy string, d Document) []Finding {
	return g.checkRoleWrites(policy, d, FunctionWrites(), "the function's execution role")
}

// CheckSchedulerRole puts a role only EventBridge Scheduler may assume
// through the gate: the writes of SchedulerWrites on the resources each
// allows, and otherwise the same rules as the vendor's role.
func (g Gate) CheckSchedulerRole(policy string, d Document) []Finding {
	return g.checkRoleWrites(policy, d, SchedulerWrites(), "a schedule's role")
}

func (g Gate) checkRoleWrites(policy string, d Document, allowed []FunctionWrite, who string) []Finding {
	writes := map[string]FunctionWrite{}
	for _, w := range allowed {
		writes[strings.ToLower(w.Action)] = w
	}
	var out []Finding
	for _, f := range g.Check(policy, d) {
		if f.Kind != KindWriteAction {
			out = append(out, f)
			continue
		}
		w, ok := writes[strings.ToLower(f.Action)]
		if !ok {
			f.Message += " (" + who + " may write only: " + writeNames(allowed) + ")"
			out = append(out, f)
			continue
		}
		for _, r := range f.Resources {
			if !w.Allows(r) {
				bad := f
				bad.Message = fmt.Sprintf("%s on %q: %s may have it only on %s", w.Action, r, who, w.Resource)
				out = append(out, bad)
			}
		}
		if len(f.Resources) == 0 {
			f.Message = fmt.Sprintf("%s has no Resource: %s may have it only on %s", w.Action, who, w.Resource)
			out = append(out, f)
		}
	}
	return out
}

func writeNames(writes []FunctionWrite) string {
	var names []string
	for _, w := range writes {
		names = append(names, w.Action)
	}
	return strings.Join(names, ", ")
}
