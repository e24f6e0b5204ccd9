// Package customresource is the runtime for the CloudFormation
// custom-resource protocol: it parses the event Lambda receives, runs a
// Handler, and answers CloudFormation by a PUT to the pre-signed ResponseURL.
//
// Its job is to answer exactly once on every path, so that a stack never
// waits an hour for a response that will not come:
//
//   - a malformed event is answered FAILED with a reason naming what is
//     wrong, as long as it carries a usable ResponseURL;
//   - a handler error, a handler panic and an unknown request type are
//     answered FAILED with a short reason (the details go to the log);
//   - when the invocation's deadline comes within a margin, the handler's
//     context is cancelled and CloudFormation is told that the handler timed
//     out, and while doing what (see SetPhase); a result the handler returns
//     later is discarded;
//   - a Delete is always answered SUCCESS, whatever went wrong, because
//     nothing may block the deletion of a stack.
//
// Physical resource IDs are deterministic: a Create is given an ID derived
// from the stack and the logical ID unless the handler names one, an Update
// keeps the ID it was sent, and a failed Create is answered with a marker ID
// (prefix "rolecall-failed-create-") whose Delete succeeds without calling
// the handler. A handler whose Create fails must therefore leave nothing
// behind that would need a Delete.
//
// The response body never exceeds CloudFormation's 4,096-byte limit: the
// reason is cut to about 256 characters and the Data map is shortened, then
// thinned, with a marker key saying so. The PUT is retried with backoff
// within the invocation's deadline; a failed send never runs the handler
// again.
//
// Only this package knows the custom-resource wire protocol. It takes the
// event and response field names from aws-lambda-go's cfn package.
package customresource
