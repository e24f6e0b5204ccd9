// Package policyscan finds the IAM policy documents in a CloudFormation
// template (YAML or JSON, long or short intrinsic form), so the read-only
// gate can check any template, not only the ones rolecall generates.
//
// Intrinsics are rendered the way a reviewer reads them: Ref X becomes
// "${X}", Fn::Sub keeps its string, both branches of Fn::If are checked.
// A StackSet's inline TemplateBody is scanned as a template of its own, and
// a nested stack with a local TemplateURL is reported so the caller can scan
// that file too.
package policyscan
