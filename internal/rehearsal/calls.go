package rehearsal

import (
	"context"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// callRecorder counts the AWS operations signed with one access key: the
// onboarding function's own identity, as opposed to the role sessions it
// assumes. The end-to-end test compares them with the execution role's
// policy.
type callRecorder struct {
	accessKeyID string
	mu          sync.Mutex
	calls       map[string]int // "Service:Operation"
}

func (c *callRecorder) add(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("RolecallRecordCalls",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok && strings.Contains(req.Header.Get("Authorization"), "Credential="+c.accessKeyID+"/") {
				c.mu.Lock()
				c.calls[awsmiddleware.GetServiceID(ctx)+":"+awsmiddleware.GetOperationName(ctx)]++
				c.mu.Unlock()
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func (c *callRecorder) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}
