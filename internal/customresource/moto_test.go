package customresource_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rolecall/rolecall/internal/customresource"
	"github.com/rolecall/rolecall/internal/emulator"
	"github.com/rolecall/rolecall/internal/emulator/emulatortest"
)

type createOnly struct{}

func (createOnly) Create(context.Context, customresource.Request) (customresource.Result, error) {
	return customresource.Result{Data: map[string]any{"Answer": "42"}}, nil
}
func (createOnly) Update(context.Context, customresource.Request) (customresource.Result, error) {
	return customresource.Result{}, nil
}
func (createOnly) Delete(context.Context, customresource.Request) (customresource.Result, error) {
	return customresource.Result{}, nil
}

// The response reaches a real S3 pre-signed PUT URL, as CloudFormation's
// are: moto's S3 stands in for CloudFormation's response bucket (with
// authorisation off: that bucket is not the customer's, and moto cannot
// serve pre-signed requests with authorisation on).
func TestHandleAnswersThroughAnS3PresignedURL(t *testing.T) {
	ctx := t.Context()
	srv := emulatortest.StartWith(t, emulator.Options{AuthOff: true})
	cfg := srv.Config()
	if err := emulator.CreateBucket(ctx, cfg, "cfn-responses"); err != nil {
		t.Fatal(err)
	}
	client := emulator.S3Client(cfg)
	put, err := s3.NewPresignClient(client).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("cfn-responses"), Key: aws.String("stack/request-1"),
	}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{
		"RequestType": "Create", "ResponseURL": put.URL, "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
		"RequestId": "request-1", "LogicalResourceId": "Thing", "ResourceType": "Custom::Thing", "ResourceProperties": map[string]any{},
	})
	rt := &customresource.Runtime{Handler: createOnly{}, AllowLoopbackHTTP: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := rt.Handle(hctx, ev); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cfn-responses"), Key: aws.String("stack/request-1")})
	if err != nil {
		t.Fatalf("no response in the bucket: %v", err)
	}
	defer out.Body.Close()
	var resp cfn.Response
	if err := json.NewDecoder(out.Body).Decode(&resp); err != nil {
		t.Fatal(err)
	}
	if resp.Status != cfn.StatusSuccess || resp.RequestID != "request-1" || resp.Data["Answer"] != "42" || resp.PhysicalResourceID == "" {
		t.Errorf("response %+v", resp)
	}
}
