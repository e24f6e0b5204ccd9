// Package synth writes rolecall's CloudFormation templates from Go: the
// management-account stack (template.yaml, SAM) and the role template
// (templates/member-role.yaml) that the StackSet deploys to every member
// account and the management stack nests for its own account.
//
// It is the only package that imports goformation, and it builds every
// intrinsic with goformation's helpers (Ref, GetAtt, Sub, ...): a raw
// {"Ref": ...} map inside a property map is resolved at marshal time and a
// parameter without a default silently becomes null. Properties that
// goformation's typed structs predate are added with withProperties, still
// as Go values.
package synth
