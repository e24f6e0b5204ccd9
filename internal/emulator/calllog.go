package emulator

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// CallLog counts the AWS operations the front forwarded for requests signed
// with one access key, as "service:Operation" (the signing name of the
// request's credential scope, and the API operation). It sees a program
// from outside, such as the onboarding function running as a process.
type CallLog struct {
	accessKeyID string
	mu          sync.Mutex
	calls       map[string]int
}

// RecordCalls starts counting the operations signed with accessKeyID.
func (f *RecordedFakes) RecordCalls(accessKeyID string) *CallLog {
	l := &CallLog{accessKeyID: accessKeyID, calls: map[string]int{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, l)
	return l
}

// Snapshot returns the counts so far.
func (l *CallLog) Snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.calls)
}

var credentialScope = regexp.MustCompile(`Credential=([A-Z0-9]+)/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

// record counts r if it is signed with a key a log watches.
func (f *RecordedFakes) record(r *http.Request, body []byte) {
	m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return
	}
	f.mu.Lock()
	logs := f.logs
	f.mu.Unlock()
	for _, l := range logs {
		if l.accessKeyID != m[1] {
			continue
		}
		call := m[2] + ":" + operationOf(r, body, m[2])
		l.mu.Lock()
		l.calls[call]++
		l.mu.Unlock()
	}
}

// operationOf names a request's API operation: from X-Amz-Target (JSON
// protocols), the Action form field (query protocols), or for S3 its
// method and path.
func operationOf(r *http.Request, body []byte, service string) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndexByte(t, '.')+1:]
	}
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		return form.Get("Action")
	}
	if service == "s3" {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
		onObject := len(parts) == 2 && parts[1] != ""
		switch {
		case r.Method == http.MethodHead && !onObject:
			return "HeadBucket"
		case r.Method == http.MethodHead:
			return "HeadObject"
		case r.Method == http.MethodGet && onObject:
			return "GetObject"
		case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
			return "ListObjectsV2"
		case r.Method == http.MethodPut && onObject:
			return "PutObject"
		}
	}
	return r.Method + " " + r.URL.Path
}
