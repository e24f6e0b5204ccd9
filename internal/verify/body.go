package verify

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
// the 4 KiB write buffer (SimulatePrincipalPolicy's action lists) and a
// server that answers before the write loop is done, such as one on
// loopback. aws/aws-sdk-go-v2#2737 is this symptom; the SDK now retries it.
//
// PlainRequestBody hides WriteTo from the body, so the closed wrapper
// answers Read with io.EOF, which io.Copy takes as the end it is. Every
// client the Engine makes carries it; append it to the APIOptions of other
// configs that send large bodies to a fast server (the emulator's, in
// tests).
func PlainRequestBody(stack *middleware.Stack) error {
	const id = "RolecallPlainRequestBody"
	if _, ok := stack.Finalize.Get(id); ok {
		return nil
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(id, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
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

// readSeeker is an io.ReadSeeker and nothing else.
type readSeeker struct{ io.ReadSeeker }
