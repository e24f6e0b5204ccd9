package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/synth"
)

// lambdaAsyncAttempts is how often Lambda runs an asynchronous event: once,
// then the two retries of the template's EventInvokeConfig.
const lambdaAsyncAttempts = 3

// denySecretPolicy is the inline policy the rehearsal puts on the
// function's role to play someone's mistake: an explicit Deny of its own
// secret, without which it cannot handle any event.
const denySecretPolicy = "rehearsal-deny-own-secret"

// failEvent delivers an instance event while the function cannot read its
// own secret (a Deny on its role): the function fails it, Lambda retries
// it twice, then sends it to the dead-letter queue with the error, as the
// function's role (the template's EventInvokeConfig OnFailure
// destination). Lambda is played here; the queue, its policy and the
// role's grant are the template's, and the Deny is removed afterwards.
func (r *rehearsal) failEvent(ctx context.Context, account string) error {
	if r.d.DeadLetterQueueURL == "" {
		return errors.New("the stack has no dead-letter queue")
	}
	raw := r.instanceEventJSON(account, "CREATE")
	roleName := r.d.FunctionRoleARN[strings.LastIndex(r.d.FunctionRoleARN, "/")+1:]
	client := iam.NewFromConfig(r.d.Admin)
	if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(roleName), PolicyName: aws.String(denySecretPolicy),
		PolicyDocument: aws.String(mustJSON(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
		}}})),
	}); err != nil {
		return fmt.Errorf("deny the function its secret: %w", err)
	}
	defer func() {
		_, _ = client.DeleteRolePolicy(context.WithoutCancel(ctx), &iam.DeleteRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(denySecretPolicy)})
	}()
	var last error
	for attempt := 1; attempt <= lambdaAsyncAttempts; attempt++ {
		ictx, cancel := context.WithTimeout(ctx, time.Duration(synth.FunctionTimeoutSeconds)*time.Second)
		last = r.invokeFn(ictx, raw)
		cancel()
		if last == nil {
			return fmt.Errorf("the function handled the event on attempt %d although it could not read its secret", attempt)
		}
	}
	r.printf("   someone put a Deny of secretsmanager:GetSecretValue on the function's role: the function failed the instance event for %s %d times (Lambda's two retries included)\n", account, lambdaAsyncAttempts)
	var payload any
	if err := json.Unmarshal(raw, &payload); err != nil {
		return err
	}
	record := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId": uuidLike(), "functionArn": r.d.FunctionARN + ":$LATEST",
			"condition": "RetriesExhausted", "approximateInvokeCount": lambdaAsyncAttempts,
		},
		"requestPayload":  payload,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": last.Error(), "errorType": "errorString"},
	}
	if _, err := sqs.NewFromConfig(r.fakes.Through(r.functionSession)).SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(r.d.DeadLetterQueueURL), MessageBody: aws.String(mustJSON(record)),
	}); err != nil {
		return fmt.Errorf("send to the OnFailure destination as the function's role, as Lambda does: %w", err)
	}
	r.printf("   Lambda sent it, with the error, to the dead-letter queue %s instead of dropping it\n", r.d.DeadLetterQueueURL)
	return nil
}

// replayDeadLetters does what the customer guide's replay instructions do: each
// message's event (a Lambda invocation record's requestPayload, or an
// EventBridge event as it is) is sent to the function again, and the
// message is deleted once the function handled it.
func (r *rehearsal) replayDeadLetters(ctx context.Context) (int, error) {
	client := sqs.NewFromConfig(r.d.Admin)
	replayed := 0
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.d.DeadLetterQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			return replayed, fmt.Errorf("read the dead-letter queue: %w", err)
		}
		if len(out.Messages) == 0 {
			return replayed, nil
		}
		for _, m := range out.Messages {
			event, err := replayPayload([]byte(aws.ToString(m.Body)))
			if err != nil {
				return replayed, err
			}
			ictx, cancel := context.WithTimeout(ctx, time.Duration(synth.FunctionTimeoutSeconds)*time.Second)
			err = r.invokeFn(ictx, event)
			cancel()
			if err != nil {
				return replayed, fmt.Errorf("the replayed event failed again (it stays in the queue): %w", err)
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.d.DeadLetterQueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return replayed, err
			}
			replayed++
		}
	}
}

// replayPayload returns the event a dead letter holds: the requestPayload
// of Lambda's invocation record, or the message itself when EventBridge
// put it there.
func replayPayload(body []byte) (json.RawMessage, error) {
	var record struct {
		RequestContext json.RawMessage `json:"requestContext"`
		RequestPayload json.RawMessage `json:"requestPayload"`
	}
	if err := json.Unmarshal(body, &record); err != nil {
		return nil, fmt.Errorf("a dead letter is not JSON: %w", err)
	}
	if len(record.RequestContext) > 0 && len(record.RequestPayload) > 0 {
		return record.RequestPayload, nil
	}
	return body, nil
}
