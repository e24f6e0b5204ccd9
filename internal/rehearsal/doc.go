// Package rehearsal plays a whole onboarding on the local AWS emulator, the
// way CloudFormation and AWS would run it: it seeds an organization, deploys
// the generated templates resource by resource (the management role as the
// nested stack, the member role through a service-managed StackSet), runs
// the real onboarding function in-process with CloudFormation's events and
// a pre-signed response URL, and runs rolecall-vendor's control plane as
// the vendor (SQLite in a temporary directory: it issues the customer's
// external ID and secret, receives every callback and confirms every role
// through the emulator). make demo and the end-to-end test both drive it.
//
// What moto cannot do is played here and said so: CloudFormation itself
// (template evaluation is cfnlocal's, over the very template a customer
// deploys), the Lambda service (the function runs in-process under a session
// of its execution role, whose policy is read from template.yaml), EventBridge
// (a StackSet instance event is handed to the function), CloudFormation's
// response bucket (a second moto, authorisation off, as that bucket is not
// in the customer's account), and the APIs moto lacks (a recorded-response
// stand-in).
package rehearsal
