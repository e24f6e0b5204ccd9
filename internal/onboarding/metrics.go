package onboarding

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/params"
)

// emitMetrics writes one log line in CloudWatch's embedded metric format:
// CloudWatch Logs turns it into metrics in the rolecall namespace, under
// the stack's name, with no API call and no permission beyond writing the
// function's own log. Lambda passes a JSON line written to stdout through
// as is, also with the JSON log format (AWS's EMF client libraries say
// they support that format); that extraction happens on AWS only, not in
// the local rehearsal, which reads the line back from the log instead.
func emitMetrics(w io.Writer, at time.Time, stackID string, counts callback.Counts, pending int) error {
	if w == nil {
		return nil
	}
	// In the order they are written: each metric's name once.
	values := []struct {
		name  string
		value int
	}{
		{params.MetricOfStatus(""), counts.Accounts},
		{params.MetricOfStatus(string(callback.StatusVerified)), counts.Verified},
		{params.MetricOfStatus(string(callback.StatusGaps)), counts.Gaps},
		{params.MetricOfStatus(string(callback.StatusFinding)), counts.Finding},
		{params.MetricOfStatus(string(callback.StatusUnverifiable)), counts.Unverifiable},
		{params.MetricOfStatus(string(callback.StatusUnreachable)), counts.Unreachable},
		{params.MetricNeedsAttention, counts.Finding + counts.Unverifiable + counts.Unreachable},
		{params.MetricPending, pending},
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	var metrics []metric
	line := map[string]any{params.MetricDimension: stackNameOf(stackID)}
	for _, v := range values {
		metrics = append(metrics, metric{Name: v.name, Unit: "Count"})
		line[v.name] = v.value
	}
	line["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  params.MetricNamespace,
			"Dimensions": [][]string{{params.MetricDimension}},
			"Metrics":    metrics,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// stackNameOf returns NAME of arn:...:stack/NAME/ID.
func stackNameOf(stackID string) string {
	_, rest, _ := strings.Cut(stackID, ":stack/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}
