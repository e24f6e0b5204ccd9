// Package cfnyaml reads CloudFormation templates, YAML or JSON, into plain Go
// values, turning the YAML short forms of intrinsic functions (!Ref, !Sub,
// !If, ...) into their long forms so callers see one shape.
package cfnyaml
