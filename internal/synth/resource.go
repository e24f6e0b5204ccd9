package synth

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
)

// withProperties adds properties a goformation type does not know yet (the
// custom resource's ServiceTimeout predates nothing, but a function's
// LoggingConfig or a property whose value must be an intrinsic where the
// typed field wants a list) to a typed resource, without hand-written YAML.
type withProperties struct {
	cloudformation.Resource
	extra map[string]any
}

func (w withProperties) AWSCloudFormationType() string { return w.Resource.AWSCloudFormationType() }

// MarshalJSON marshals the typed resource, then sets the extra properties,
// refusing to replace one the typed resource already set (a required
// field left nil, which goformation writes as null, may be replaced).
func (w withProperties) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(w.Resource)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var res map[string]any
	if err := dec.Decode(&res); err != nil {
		return nil, err
	}
	props, _ := res["Properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	for k, v := range w.extra {
		if cur, dup := props[k]; dup && cur != nil {
			return nil, fmt.Errorf("%s: property %s is set twice", w.AWSCloudFormationType(), k)
		}
		props[k] = v
	}
	res["Properties"] = props
	return json.Marshal(res)
}

// customResource is a Custom:: resource. goformation's CustomResource always
// writes an empty Version attribute, which is not a resource attribute.
type customResource struct {
	typ        string
	properties map[string]any
	dependsOn  []string
}

func (c customResource) AWSCloudFormationType() string { return c.typ }

func (c customResource) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type       string
		DependsOn  []string `json:",omitempty"`
		Properties map[string]any
	}{c.typ, c.dependsOn, c.properties})
}

func str(s string) *string { return &s }
func num(n int) *int       { return &n }
func yes() *bool           { t := true; return &t }

// float is num for the properties goformation types as numbers (float64).
func float(n int) *float64 { f := float64(n); return &f }
