// Package params defines the inputs a customer gives an onboarding: each
// template parameter's name, label, description, default and the rule its
// value must meet.
//
// The same definitions produce the CloudFormation parameters (with their
// AllowedPattern and ConstraintDescription) and validate the custom
// resource's properties in the Lambda, so the console form and the function
// can never disagree about what is allowed.
package params
