/*
Copyright 2026 The reportd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
)

// finished is a completed (or, with a message, failed) request.
func finished(errMsg string) *v1alpha1.ReportRequest {
	created := metav1.NewTime(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	done := metav1.NewTime(time.Date(2026, 11, 29, 9, 2, 3, 0, time.UTC))
	rr := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "sales-x7k2p", Namespace: "reports", CreationTimestamp: created},
		Spec: v1alpha1.ReportRequestSpec{
			Type: "sales", RequestedBy: "alice",
			Parameters: map[string]v1alpha1.ParameterValue{"startDate": "2024-01-01", "endDate": "2024-01-31", "note": "<b>&"},
		},
		Status: v1alpha1.ReportRequestStatus{
			Phase: v1alpha1.PhaseCompleted, Rows: 1234567, Bytes: 98765432, CompletedAt: &done,
			Result: &v1alpha1.ReportResult{URL: "s3://bucket/reports/sales-x7k2p.csv", Size: 98765432, Rows: 1234567, SHA256: "abc123"},
		},
	}
	if errMsg != "" {
		rr.Status.Phase, rr.Status.Result, rr.Status.Rows, rr.Status.Bytes = v1alpha1.PhaseFailed, nil, 0, 0
		rr.Status.ErrorMessage = errMsg
	}
	return rr
}

func TestReportOf(t *testing.T) {
	r := ReportOf(finished(""), "https://reports.example.com/")
	if r.ID != "sales-x7k2p" || r.Status != StatusCompleted || r.Format != "csv" || r.Rows != 1234567 ||
		r.Size != 98765432 || r.SHA256 != "abc123" || r.Parameters["startDate"] != "2024-01-01" || r.CompletedAt == nil {
		t.Errorf("unexpected report: %+v", r)
	}
	if r.PageURL != "https://reports.example.com/reports/sales-x7k2p" {
		t.Errorf("page URL %q", r.PageURL)
	}
	if got := ReportOf(finished(""), "").PageURL; got != "" {
		t.Errorf("no public URL, but a page URL %q", got)
	}
	data, err := WebhookBody(r, false)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"id", "reportType", "parameters", "format", "status", "rows", "size", "sha256", "createdAt", "completedAt", "pageUrl"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("the webhook body has no %q: %s", name, data)
		}
	}
	if strings.Contains(string(data), "s3://") {
		t.Errorf("the webhook body names the storage: %s", data)
	}
}

func TestRenderEmailCompleted(t *testing.T) {
	e, err := RenderEmail(ReportOf(finished(""), "https://reports.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Report sales is ready (1,234,567 rows)" {
		t.Errorf("subject %q", e.Subject)
	}
	for _, want := range []string{"Your report is ready.", "sales (sales-x7k2p)", "endDate=2024-01-31, note=<b>&, startDate=2024-01-01",
		"1,234,567", "98.8 MB", "https://reports.example.com/reports/sales-x7k2p", "2026-11-29 09:02:03 UTC"} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("the text lacks %q:\n%s", want, e.Text)
		}
	}
	for _, want := range []string{`href="https://reports.example.com/reports/sales-x7k2p"`, "note=&lt;b&gt;&amp;", "98.8 MB"} {
		if !strings.Contains(e.HTML, want) {
			t.Errorf("the HTML lacks %q:\n%s", want, e.HTML)
		}
	}
	for _, body := range []string{e.Text, e.HTML} {
		if strings.Contains(body, "s3://") || strings.Contains(body, "download") {
			t.Errorf("the mail carries a storage or download link:\n%s", body)
		}
	}
}

func TestRenderEmailFailed(t *testing.T) {
	e, err := RenderEmail(ReportOf(finished("The query took longer than its 1h timeout."), "https://reports.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Report sales failed" {
		t.Errorf("subject %q", e.Subject)
	}
	for _, body := range []string{e.Text, e.HTML} {
		if !strings.Contains(body, "The query took longer than its 1h timeout.") || !strings.Contains(body, "What went wrong") {
			t.Errorf("the failure mail does not say what went wrong:\n%s", body)
		}
		if strings.Contains(body, "Rows") {
			t.Errorf("a failure mail shows rows:\n%s", body)
		}
	}
}

func TestSlackText(t *testing.T) {
	got := SlackText(ReportOf(finished(""), "https://r.example.com"))
	want := "Report *sales* (`sales-x7k2p`) is ready: 1,234,567 rows, 98.8 MB. <https://r.example.com/reports/sales-x7k2p|Open the report>"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	failed := SlackText(ReportOf(finished("bad <input> & more"), ""))
	if failed != "Report *sales* (`sales-x7k2p`) failed: bad &lt;input&gt; &amp; more" {
		t.Errorf("failed: %s", failed)
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := FormatCount(n); got != want {
			t.Errorf("FormatCount(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 bytes", 999: "999 bytes", 1000: "1.0 kB", 1234567: "1.2 MB", 5_000_000_000: "5.0 GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
