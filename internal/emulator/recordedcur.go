package emulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// The Cost & Usage Report APIs moto lacks, played with what the test sets:
// the legacy report definitions (cur:DescribeReportDefinitions) and the
// CUR 2.0 data exports (bcm-data-exports:ListExports and GetExport). The
// shapes follow the AWS Cost and Usage Report and AWS Data Exports API
// references, as aws-sdk-go-v2 reads them. Like every recorded answer they
// evaluate no IAM policy.

// RecordedReport is one legacy Cost & Usage Report definition.
type RecordedReport struct {
	Name, Bucket, Prefix, Region string
}

// RecordedExport is one CUR 2.0 data export; Owner is the account that
// owns its bucket.
type RecordedExport struct {
	Name, Bucket, Prefix, Region, Owner string
}

// The recorded Data Exports APIs.
const (
	RecordedDataExportsListExports = "bcm-data-exports:ListExports"
	RecordedDataExportsGetExport   = "bcm-data-exports:GetExport"
)

type playedCUR struct {
	reports []RecordedReport
	exports []RecordedExport
}

// PlayCUR sets what the recorded CUR APIs answer, for every account: none
// of either until it is called.
func (f *RecordedFakes) PlayCUR(reports []RecordedReport, exports []RecordedExport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = playedCUR{reports: reports, exports: exports}
}

func (f *RecordedFakes) playedCUR() playedCUR {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// exportARN is the ARN AWS gives an export: its name and an id.
func exportARN(e RecordedExport) string {
	return "arn:aws:bcm-data-exports:us-east-1:" + e.Owner + ":export/" + e.Name + "-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
}

func (f *RecordedFakes) answerCUR(w http.ResponseWriter, api string, body []byte) {
	cur := f.playedCUR()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	// Data Exports writes its timestamps as date-time strings.
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	status := map[string]any{"StatusCode": "HEALTHY", "CreatedAt": at, "LastUpdatedAt": at, "LastRefreshedAt": at}
	var out any
	switch api {
	case RecordedCURDescribeReportDefinitions:
		defs := []any{}
		for _, r := range cur.reports {
			defs = append(defs, map[string]any{
				"ReportName": r.Name, "TimeUnit": "HOURLY", "Format": "textORcsv", "Compression": "GZIP",
				"AdditionalSchemaElements": []string{"RESOURCES"}, "S3Bucket": r.Bucket, "S3Prefix": r.Prefix, "S3Region": r.Region,
				"RefreshClosedReports": true, "ReportVersioning": "OVERWRITE_REPORT",
			})
		}
		out = map[string]any{"ReportDefinitions": defs}
	case RecordedDataExportsListExports:
		refs := []any{}
		for _, e := range cur.exports {
			refs = append(refs, map[string]any{"ExportArn": exportARN(e), "ExportName": e.Name, "ExportStatus": status})
		}
		out = map[string]any{"Exports": refs}
	case RecordedDataExportsGetExport:
		var in struct{ ExportArn string }
		_ = json.Unmarshal(body, &in)
		for _, e := range cur.exports {
			if exportARN(e) != in.ExportArn {
				continue
			}
			out = map[string]any{
				"Export": map[string]any{
					"Name": e.Name, "ExportArn": exportARN(e),
					"DataQuery": map[string]any{
						"QueryStatement":      "SELECT identity_line_item_id, line_item_usage_account_id, line_item_unblended_cost FROM COST_AND_USAGE_REPORT",
						"TableConfigurations": map[string]any{"COST_AND_USAGE_REPORT": map[string]any{"TIME_GRANULARITY": "HOURLY", "INCLUDE_RESOURCES": "TRUE"}},
					},
					"DestinationConfigurations": map[string]any{"S3Destination": map[string]any{
						"S3Bucket": e.Bucket, "S3Prefix": e.Prefix, "S3Region": e.Region, "S3BucketOwner": e.Owner,
						"S3OutputConfigurations": map[string]any{"OutputType": "CUSTOM", "Format": "PARQUET", "Compression": "PARQUET", "Overwrite": "OVERWRITE_REPORT"},
					}},
					"RefreshCadence": map[string]any{"Frequency": "SYNCHRONOUS"},
				},
				"ExportStatus": status,
			}
		}
		if out == nil {
			w.WriteHeader(http.StatusBadRequest)
			out = map[string]any{"__type": "ResourceNotFoundException", "Message": "Export " + in.ExportArn + " does not exist", "ResourceId": in.ExportArn, "ResourceType": "export"}
		}
	}
	b, _ := json.Marshal(out)
	_, _ = w.Write(b)
}
