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

package v1alpha1_test

import (
	"regexp"
	"strings"
	"testing"

	reportsv1 "reportd.io/reportd/api/v1alpha1"
)

// TestKubectlShowsTheStory checks what an operator sees with kubectl: the
// printer columns, the `reports` category and readable field docs.
func TestKubectlShowsTheStory(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	if err := k8sClient.Create(ctx, validDefinition(ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, validSchedule(ns)); err != nil {
		t.Fatal(err)
	}
	req := validRequest(ns)
	if err := k8sClient.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.Status = reportsv1.ReportRequestStatus{
		Phase:    reportsv1.PhaseProcessing,
		Progress: 42,
		Rows:     123456,
		Result:   &reportsv1.ReportResult{URL: "s3://reports/" + ns + "/sales-november.csv"},
	}
	if err := k8sClient.Status().Update(ctx, req); err != nil {
		t.Fatalf("writing status: %v", err)
	}

	table := kubectl(t, "get", "reportrequests", "-n", ns)
	assertRow(t, table, `NAME\s+TYPE\s+PHASE\s+PROGRESS\s+ROWS\s+AGE`)
	assertRow(t, table, `sales-november\s+sales\s+Processing\s+42\s+123456\s+\S+`)

	wide := kubectl(t, "get", "rr", "-n", ns, "-o", "wide")
	assertRow(t, wide, `NAME\s+TYPE\s+PHASE\s+PROGRESS\s+ROWS\s+AGE\s+OWNER\s+RESULT`)
	assertRow(t, wide, `sales-november\s+sales\s+Processing\s+42\s+123456\s+\S+\s+alice@example.com\s+s3://reports/`)

	all := kubectl(t, "get", "reports", "-n", ns, "-o", "name")
	for _, want := range []string{
		"reportdefinition.reports.reportd.io/sales",
		"reportrequest.reports.reportd.io/sales-november",
		"reportschedule.reports.reportd.io/weekly-sales",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get reports does not list %s:\n%s", want, all)
		}
	}

	explain := kubectl(t, "explain", "reportrequest.spec")
	for _, want := range []string{"requestedBy", "admission policy", "ttlSecondsAfterFinished", "csv (default)"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain reportrequest.spec lacks %q:\n%s", want, explain)
		}
	}
}

func assertRow(t *testing.T, output, pattern string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^` + pattern).MatchString(output) {
		t.Errorf("kubectl output has no line matching %q:\n%s", pattern, output)
	}
}
