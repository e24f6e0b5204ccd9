// Package cfnlocal evaluates a CloudFormation template's intrinsic functions
// with given parameter values, pseudo parameters and resource attributes,
// the way CloudFormation would when it creates the stack.
//
// The local rehearsal uses it to play CloudFormation's part with the very
// template the customer deploys: the onboarding function's environment, its
// execution role's policy and the custom resources' properties are read
// from template.yaml, not written a second time. It supports the functions
// rolecall's templates use (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Split,
// Fn::Select, Fn::If and the condition functions) and rejects the rest.
package cfnlocal
