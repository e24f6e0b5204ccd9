package customresource

import "fmt"

// ReasonError is a handler error written for the person who reads the stack
// events: the runtime answers with its text as the Reason, unchanged except
// for the length cap. Any other handler error is unexpected and is answered
// with a generic reason followed by the error text.
//
// Handlers make one with Fail or Failf; the runtime finds it with errors.As,
// so it may be wrapped.
type ReasonError struct {
	Err error
}

// Error returns the reason.
func (e *ReasonError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ReasonError) Unwrap() error { return e.Err }

// Fail marks err as fit for a CloudFormation Reason, such as
// "external ID mismatch: confirm the value your vendor gave you". Fail(nil)
// is nil.
func Fail(err error) error {
	if err == nil {
		return nil
	}
	return &ReasonError{Err: err}
}

// Failf is Fail(fmt.Errorf(format, args...)).
func Failf(format string, args ...any) error {
	return &ReasonError{Err: fmt.Errorf(format, args...)}
}
