package rehearsal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/synth"
)

// responseBucket stands in for the bucket behind CloudFormation's
// pre-signed response URLs; it is not in the customer's account.
const responseBucket = "cloudformation-custom-resource-response-local"

// cloudFormation plays CloudFormation's side of the custom-resource
// protocol: it sends events with a pre-signed response URL and reads the
// function's answer back from the response bucket.
type cloudFormation struct {
	responses aws.Config // the response bucket's server, authorisation off
	invoke    func(ctx context.Context, raw json.RawMessage) error
	timeout   time.Duration
	requests  int
}

func newCloudFormation(ctx context.Context, responses aws.Config, invoke func(context.Context, json.RawMessage) error) (*cloudFormation, error) {
	if err := emulator.CreateBucket(ctx, responses, responseBucket); err != nil {
		return nil, fmt.Errorf("create the response bucket: %w", err)
	}
	return &cloudFormation{responses: responses, invoke: invoke, timeout: time.Duration(synth.FunctionTimeoutSeconds) * time.Second}, nil
}

// Response is a custom-resource response as CloudFormation read it, with
// how long the invocation took and the size of the body.
type Response struct {
	cfn.Response
	Duration time.Duration
	Bytes    int
}

// send delivers one event to the function, as CloudFormation would, within
// the function's timeout, and returns the response the function PUT.
func (c *cloudFormation) send(ctx context.Context, ev cfn.Event) (Response, error) {
	c.requests++
	ev.RequestID = fmt.Sprintf("%08d-rehearsal-%s", c.requests, uuidLike()[9:])
	key := fmt.Sprintf("%s/%s", ev.LogicalResourceID, ev.RequestID)
	presigned, err := s3.NewPresignClient(emulator.S3Client(c.responses)).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(responseBucket), Key: aws.String(key),
	}, s3.WithPresignExpires(2*time.Hour))
	if err != nil {
		return Response{}, fmt.Errorf("pre-sign the response URL: %w", err)
	}
	ev.ResponseURL = presigned.URL
	raw, err := json.Marshal(ev)
	if err != nil {
		return Response{}, err
	}
	ictx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	if err := c.invoke(ictx, raw); err != nil {
		return Response{}, fmt.Errorf("invoke the function: %w", err)
	}
	took := time.Since(start)
	out, err := emulator.S3Client(c.responses).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(responseBucket), Key: aws.String(key)})
	if err != nil {
		return Response{}, fmt.Errorf("the function answered nothing to the %s %s event: %w", ev.RequestType, ev.LogicalResourceID, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return Response{}, err
	}
	var r Response
	if err := json.Unmarshal(body, &r.Response); err != nil {
		return Response{}, fmt.Errorf("the response is not JSON: %w", err)
	}
	r.Duration, r.Bytes = took, len(body)
	return r, nil
}
