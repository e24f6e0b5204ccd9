// Package sdkbody keeps net/http from closing a connection under a
// response when the SDK sends a request body larger than the write
// buffer to a server that answers at once.
package sdkbody

import (
	"context"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The SDK wraps a request body in a closer that, once closed, answers
// WriteTo with io.EOF (smithy-go, transport/http/internal/io/safe.go). The
// SDK closes it as soon as the response headers arrive, while net/http's
// write loop may still be checking the body for extra bytes (net/http
// transferWriter.writeBody copies the rest of the body after Content-Length
// bytes), and io.Copy prefers WriteTo; the io.EOF then counts as a write
// error, and net/http closes the connection under the response being read:
// "use of closed network connection" on a 200. It takes a body larger than
// the 4 KiB write buffer (SimulatePrincipalPolicy's action lists), a
// server that answers before the write loop is done, such as one on
// loopback, and an answer whose body does not arrive with its headers. aws/aws-sdk-go-v2#2737 is this symptom; the SDK now retries it.
//
// PlainRequestBody hides WriteTo from the body, so the closed wrapper
// answers Read with io.EOF, which io.Copy takes as the end it is. Every
// config the project makes carries it: the function's, the commands', the
// verification engine's and the local emulator's.
func PlainRequestBody(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get(MiddlewareID); ok {
		return nil
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(MiddlewareID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
		middleware.FinalizeOutput, middleware.Metadata, error,
	) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			if s, ok := req.GetStream().(io.ReadSeeker); ok {
				if _, writerTo := s.(io.WriterTo); writerTo {
					if r, err := req.SetStream(readSeeker{s}); err == nil {
						in.Request = r
					}
				}
			}
		}
		return next.HandleFinalize(ctx, in)
	}), middleware.After)
}

// MiddlewareID names PlainRequestBody's step in a stack's Finalize phase.
const MiddlewareID = "RolecallPlainRequestBody"

// readSeeker is an io.ReadSeeker and nothing else.
type readSeeker struct{ io.ReadSeeker }
