package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/cbor"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Recorded-response fakes: a loopback HTTP front for a Server that answers
// the few APIs moto 5.2.5 lacks with recorded answers of the shape AWS
// gives, and forwards everything else to moto.
//
// Only where moto lacks an API may a test use a recorded-response fake, and
// its name says so ("RecordedFake"). The recorded answers evaluate no IAM
// policy: a role without the permission gets them too, so a test that
// needs a denial uses an API moto serves.

// The APIs the front answers itself, as "service:Action".
const (
	RecordedPricingDescribeServices      = "pricing:DescribeServices"
	RecordedCloudTrailLookupEvents       = "cloudtrail:LookupEvents"
	RecordedIAMSimulatePrincipalPolicy   = "iam:SimulatePrincipalPolicy"
	RecordedCloudWatchListMetrics        = "cloudwatch:ListMetrics"
	RecordedCURDescribeReportDefinitions = "cur:DescribeReportDefinitions"
)

// RecordedAPIs lists the APIs the front answers with recorded responses.
func RecordedAPIs() []string {
	return []string{
		RecordedCloudTrailLookupEvents,
		RecordedCloudWatchListMetrics,
		RecordedCURDescribeReportDefinitions,
		RecordedDataExportsGetExport,
		RecordedDataExportsListExports,
		RecordedIAMSimulatePrincipalPolicy,
		RecordedPricingDescribeServices,
	}
}

//go:embed recorded/*.json recorded/*.tmpl
var recordedFiles embed.FS

var simulateTemplate = template.Must(template.ParseFS(recordedFiles, "recorded/iam-SimulatePrincipalPolicy.xml.tmpl"))

// RecordedFakes is a running front. Point an SDK client (or the
// AWS_ENDPOINT_URL of a program) at Endpoint instead of the Server's, with
// the same credentials: requests reach moto unchanged, with their Host
// header, so SigV4 signatures still verify, and the recorded APIs are
// answered here.
//
// The front also rewrites moto's authorisation errors into the envelope
// AWS uses for the request's protocol (see compat.go), so that a program
// that cannot add the emulator's CompatAPIOptions, such as the verify tool
// or the Lambda run locally, reads them as it would AWS's. The other fault
// CompatAPIOptions makes up for cannot be fixed here: moto checks the
// signature of a bodiless request (Bedrock's GETs) only if the client
// signed an X-Amz-Content-Sha256 header, and a header added here would not
// be signed. The verification engine signs that header for Bedrock.
type RecordedFakes struct {
	srv      *Server
	endpoint string
	hs       *http.Server
	proxy    *httputil.ReverseProxy
	// direct reaches the front without the server's gate: the front's
	// proxy takes the gate when it forwards to moto, and a client that
	// held it too would lock it twice (see Through).
	direct *http.Client
	done   chan struct{}
	// received, if set, is called as the next request arrives, once
	// (tests); guarded by mu.
	received func()

	mu       sync.Mutex
	answered map[string]int
	played   map[string]*PlayedStack
	cur      playedCUR
	logs     []*CallLog
	// conns are the front's connections that serve a request now.
	conns map[net.Conn]bool
}

// StartRecordedFakes starts a front for s on a free loopback port. Close
// stops it; stopping s does not. ctx bounds the start only.
func (s *Server) StartRecordedFakes(ctx context.Context) (*RecordedFakes, error) {
	target, err := url.Parse(s.endpoint)
	if err != nil {
		return nil, fmt.Errorf("start recorded fakes: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start recorded fakes: %w", err)
	}
	f := &RecordedFakes{
		srv:      s,
		endpoint: "http://" + ln.Addr().String(),
		done:     make(chan struct{}),
		answered: map[string]int{},
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// The Host header is signed: moto must see the one the
			// client signed.
			r.Out.Host = r.In.Host
		},
		// Requests made through the front wait, like those of the
		// server's configs, while authorisation is briefly off.
		Transport:      s.gated.Transport,
		ModifyResponse: rewriteMotoError,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "recorded fakes: forward to moto: "+err.Error(), http.StatusBadGateway)
		},
	}
	if gt, ok := s.gated.Transport.(*gatedTransport); ok {
		f.direct = &http.Client{Transport: gt.base}
	} else {
		f.direct = &http.Client{Transport: http.DefaultTransport}
	}
	f.hs = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second, ConnState: f.track}
	go func() {
		defer close(f.done)
		_ = f.hs.Serve(ln) // ends with ErrServerClosed on Close
	}()
	return f, nil
}

// Endpoint returns the front's URL, such as http://127.0.0.1:40125.
func (f *RecordedFakes) Endpoint() string { return f.endpoint }

// Through returns a copy of cfg (a config the Server issued) that sends
// every request through the front. Its requests do not take the server's
// gate themselves: the front takes it when it forwards one to moto. Taking
// it on both sides would be a read lock held twice, which deadlocks as soon
// as an authorisation window waits between the two (an account's first
// AccountConfig while requests are in flight through the front).
func (f *RecordedFakes) Through(cfg aws.Config) aws.Config {
	c := cfg.Copy()
	c.BaseEndpoint = aws.String(f.endpoint)
	c.HTTPClient = f.direct
	return c
}

// Config returns the Server's administrator config, through the front.
func (f *RecordedFakes) Config() aws.Config { return f.Through(f.srv.Config()) }

// Answered returns how many requests for api (such as
// RecordedPricingDescribeServices) the front has answered itself.
func (f *RecordedFakes) Answered(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answered[api]
}

// track counts the connections serving a request.
func (f *RecordedFakes) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		f.conns = map[net.Conn]bool{}
	}
	if state == http.StateActive {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
}

// inFlight counts the requests being served.
func (f *RecordedFakes) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// Close stops the front and waits for the requests in flight. A client's
// HTTP transport may have dialled a connection it never sent a request
// on (it dials while waiting for a busy one, and keeps whichever comes
// first); Shutdown counts such a connection as busy for its first five
// seconds, so a front with no request in flight is closed at once.
func (f *RecordedFakes) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.hs.Shutdown(ctx)
	if err != nil && f.inFlight() == 0 {
		err = f.hs.Close()
	}
	<-f.done
	if err != nil {
		return fmt.Errorf("stop recorded fakes: %d requests still in flight: %w", f.inFlight(), err)
	}
	return nil
}

// maxRequestBody bounds what the front reads of a request.
const maxRequestBody = 32 << 20

func (f *RecordedFakes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "recorded fakes: read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	f.record(r, body)
	f.mu.Lock()
	hook := f.received
	f.received = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if ps, form := f.playedCall(r, body); ps != nil {
		f.answerPlayed(w, r, body, ps, form)
		return
	}
	if api := recordedAPI(r, body); api != "" {
		f.mu.Lock()
		f.answered[api]++
		f.mu.Unlock()
		switch api {
		case RecordedCURDescribeReportDefinitions, RecordedDataExportsListExports, RecordedDataExportsGetExport:
			f.answerCUR(w, api, body)
		default:
			answerRecorded(w, api, body)
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(w, r)
}

// recordedAPI names the recorded API a request calls, or returns "".
func recordedAPI(r *http.Request, body []byte) string {
	switch r.Header.Get("X-Amz-Target") {
	case "AWSPriceListService.DescribeServices":
		return RecordedPricingDescribeServices
	case "CloudTrail_20131101.LookupEvents", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents":
		return RecordedCloudTrailLookupEvents
	case "AWSOrigamiServiceGatewayService.DescribeReportDefinitions":
		return RecordedCURDescribeReportDefinitions
	case "AWSBillingAndCostManagementDataExports.ListExports":
		return RecordedDataExportsListExports
	case "AWSBillingAndCostManagementDataExports.GetExport":
		return RecordedDataExportsGetExport
	}
	if r.Method == http.MethodPost && r.URL.Path == "/service/GraniteServiceVersion20100801/operation/ListMetrics" {
		return RecordedCloudWatchListMetrics
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		bytes.Contains(body, []byte("Action=SimulatePrincipalPolicy")) {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "SimulatePrincipalPolicy" {
			return RecordedIAMSimulatePrincipalPolicy
		}
	}
	return ""
}

func answerRecorded(w http.ResponseWriter, api string, body []byte) {
	w.Header().Set("X-Amzn-Requestid", requestID())
	var err error
	switch api {
	case RecordedPricingDescribeServices:
		err = answerJSON(w, "recorded/pricing-DescribeServices.json")
	case RecordedCloudTrailLookupEvents:
		err = answerJSON(w, "recorded/cloudtrail-LookupEvents.json")
	case RecordedCloudWatchListMetrics:
		err = answerCBOR(w, "recorded/cloudwatch-ListMetrics.json")
	case RecordedIAMSimulatePrincipalPolicy:
		err = answerSimulation(w, body)
	}
	if err != nil {
		// The recorded files are embedded and tested; this is a bug.
		http.Error(w, "recorded fakes: "+err.Error(), http.StatusInternalServerError)
	}
}

func answerJSON(w http.ResponseWriter, file string) error {
	b, err := recordedFiles.ReadFile(file)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(b)
	return nil
}

// answerCBOR answers a Smithy RPC v2 CBOR request with a recorded JSON
// document encoded as CBOR.
func answerCBOR(w http.ResponseWriter, file string) error {
	b, err := recordedFiles.ReadFile(file)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	v, err := cborValue(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	_, _ = w.Write(cbor.Encode(v))
	return nil
}

// cborValue converts a decoded JSON document into CBOR values.
func cborValue(v any) (cbor.Value, error) {
	switch v := v.(type) {
	case nil:
		return &cbor.Nil{}, nil
	case bool:
		return cbor.Bool(v), nil
	case string:
		return cbor.String(v), nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			if i < 0 {
				return cbor.NegInt(uint64(-(i + 1)) + 1), nil
			}
			return cbor.Uint(uint64(i)), nil
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s", v)
		}
		return cbor.Float64(f), nil
	case []any:
		l := make(cbor.List, 0, len(v))
		for _, e := range v {
			c, err := cborValue(e)
			if err != nil {
				return nil, err
			}
			l = append(l, c)
		}
		return l, nil
	case map[string]any:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			c, err := cborValue(e)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// answerSimulation answers SimulatePrincipalPolicy: every action asked
// about is implicitly denied, as it is for a role whose policies allow none
// of them. The whole answer is one page.
func answerSimulation(w http.ResponseWriter, body []byte) error {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return err
	}
	type member struct {
		n    int
		name string
	}
	var actions []member
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, "ActionNames.member.")
		if !ok || len(vs) == 0 {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 { // query-protocol lists count from 1
			continue
		}
		actions = append(actions, member{n, vs[0]})
	}
	slices.SortFunc(actions, func(a, b member) int { return a.n - b.n })
	names := make([]string, len(actions))
	for i, a := range actions {
		var esc bytes.Buffer
		if err := xml.EscapeText(&esc, []byte(a.name)); err != nil {
			return err
		}
		names[i] = esc.String()
	}
	var out bytes.Buffer
	if err := simulateTemplate.Execute(&out, struct {
		Actions   []string
		RequestID string
	}{names, requestID()}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(out.Bytes())
	return nil
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// rewriteMotoError rewrites moto's authorisation-error envelope into the
// one AWS uses for the request's protocol, as CompatAPIOptions does on the
// client side, for clients that do not carry those options.
func rewriteMotoError(resp *http.Response) error {
	if resp.StatusCode < 400 || resp.Body == nil {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	code, message, ok := motoErrorEnvelope(body)
	if !ok {
		return nil
	}
	if requestIsJSON(&smithyhttp.Request{Request: resp.Request}) {
		body, err = json.Marshal(map[string]string{"__type": code, "message": message})
		resp.Header.Set("Content-Type", "application/x-amz-json-1.1")
	} else {
		body, err = xml.Marshal(awsErrorResponse{Error: awsError{Type: "Sender", Code: code, Message: message}})
		resp.Header.Set("Content-Type", "text/xml")
	}
	if err != nil {
		return errors.Join(errors.New("rewrite moto error"), err)
	}
	resp.Header.Set("X-Amzn-ErrorType", code)
	setCRC32(resp.Header, body)
	resp.Header.Del("Content-Length")
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return nil
}

// PlayedStack is a stack the caller plays CloudFormation for: moto does
// not hold it (the local rehearsal evaluates the onboarding template
// itself), yet the code under test asks CloudFormation about it. The front
// answers DescribeStacks and DescribeStackResource for it, with the status
// the caller sets, once moto has authorised the call: the request is
// forwarded first, and moto's denial, if any, is the answer.
type PlayedStack struct {
	mu        sync.Mutex
	id, name  string
	status    string
	resources map[string]playedResource
	params    map[string]string
}

type playedResource struct{ physicalID, typ string }

// PlayStack makes the front play the stack with id (an ARN) and name, in
// the given status.
func (f *RecordedFakes) PlayStack(id, name, status string) *PlayedStack {
	ps := &PlayedStack{id: id, name: name, status: status, resources: map[string]playedResource{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.played == nil {
		f.played = map[string]*PlayedStack{}
	}
	f.played[id] = ps
	f.played[name] = ps
	return ps
}

// SetStatus sets the status DescribeStacks answers, such as
// "DELETE_IN_PROGRESS".
func (ps *PlayedStack) SetStatus(status string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.status = status
}

// SetParameters sets the parameters DescribeStacks shows, as the caller
// would see them (a NoEcho value masked).
func (ps *PlayedStack) SetParameters(values map[string]string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.params = maps.Clone(values)
}

// SetResource records a resource of the stack; DescribeStackResource of a
// logical ID not recorded answers that it does not exist.
func (ps *PlayedStack) SetResource(logicalID, physicalID, typ string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.resources[logicalID] = playedResource{physicalID: physicalID, typ: typ}
}

// playedCall returns the played stack and the form of a DescribeStacks or
// DescribeStackResource request about one, or nil.
func (f *RecordedFakes) playedCall(r *http.Request, body []byte) (*PlayedStack, url.Values) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil
	}
	switch form.Get("Action") {
	case "DescribeStacks", "DescribeStackResource":
	default:
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.played[form.Get("StackName")], form
}

// answerPlayed forwards the request to moto for authorisation and answers
// for the played stack unless moto denied it.
func (f *RecordedFakes) answerPlayed(w http.ResponseWriter, r *http.Request, body []byte, ps *PlayedStack, form url.Values) {
	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(rec, r)
	if rec.Code == http.StatusForbidden || bytes.Contains(rec.Body.Bytes(), []byte("AccessDenied")) {
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID())
	now := time.Now().UTC().Format(time.RFC3339)
	esc := func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	if form.Get("Action") == "DescribeStacks" {
		var params strings.Builder
		for _, k := range slices.Sorted(maps.Keys(ps.params)) {
			fmt.Fprintf(&params, `<member><ParameterKey>%s</ParameterKey><ParameterValue>%s</ParameterValue></member>`, esc(k), esc(ps.params[k]))
		}
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>`+
			`<StackName>%s</StackName><StackId>%s</StackId><StackStatus>%s</StackStatus><CreationTime>%s</CreationTime><Parameters>%s</Parameters>`+
			`</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></DescribeStacksResponse>`,
			esc(ps.name), esc(ps.id), esc(ps.status), now, params.String(), requestID())
		return
	}
	logical := form.Get("LogicalResourceId")
	res, ok := ps.resources[logical]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code>`+
			`<Message>Resource %s does not exist for stack %s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, esc(logical), esc(ps.name), requestID())
		return
	}
	fmt.Fprintf(w, `<DescribeStackResourceResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStackResourceResult><StackResourceDetail>`+
		`<StackName>%s</StackName><StackId>%s</StackId><LogicalResourceId>%s</LogicalResourceId><PhysicalResourceId>%s</PhysicalResourceId>`+
		`<ResourceType>%s</ResourceType><LastUpdatedTimestamp>%s</LastUpdatedTimestamp><ResourceStatus>%s</ResourceStatus>`+
		`</StackResourceDetail></DescribeStackResourceResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></DescribeStackResourceResponse>`,
		esc(ps.name), esc(ps.id), esc(logical), esc(res.physicalID), esc(res.typ), now, resourceStatus(ps.status), requestID())
}

// resourceStatus is a resource's status while its stack is in status.
func resourceStatus(stack string) string {
	switch {
	case strings.HasPrefix(stack, "DELETE"), strings.Contains(stack, "CLEANUP"), strings.HasPrefix(stack, "ROLLBACK"):
		return "DELETE_IN_PROGRESS"
	}
	return "CREATE_COMPLETE"
}
