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

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// scheduleManifest is a weekly sales schedule as a team keeps it in Git,
// with a run-now token, the way an operator asks for one run at once.
func scheduleManifest(name, token string) string {
	return fmt.Sprintf(`apiVersion: reports.reportd.io/v1alpha1
kind: ReportSchedule
metadata:
  name: %s
  namespace: %s
  annotations:
    reports.reportd.io/run-now: %q
spec:
  schedule: "0 7 * * 1"
  timeZone: Europe/Berlin
  concurrencyPolicy: Forbid
  template:
    spec:
      type: sales
      format: csv
      requestedBy: reportd-dev
      parameters:
        startDate: '{{ startOfWeek .ScheduledTime | addDays -7 | date "2006-01-02" }}'
        endDate: '{{ startOfWeek .ScheduledTime | addDays -1 | date "2006-01-02" }}'
`, name, stack.Namespace, token)
}

// TestScheduleRunNowCreatesOneCompletedReport applies a schedule with a
// run-now token, as GitOps would, and checks that exactly one report runs
// to Completed with the previous week's dates, also after a re-apply.
func TestScheduleRunNowCreatesOneCompletedReport(t *testing.T) {
	const name, token = "e2e-weekly-sales", "e2e-token-1"
	applyYAML(t, scheduleManifest(name, token))
	t.Cleanup(func() {
		_, _ = kubectlErr("", "delete", "reportschedule", name, "-n", stack.Namespace, "--wait=false")
	})

	var children []v1alpha1.ReportRequest
	e2eutil.Eventually(t, time.Minute, "the schedule creates its run-now report", func() (bool, string) {
		children = scheduleChildren(t, name)
		return len(children) == 1, fmt.Sprintf("%d children", len(children))
	})
	child := children[0]
	rr := waitFinished(t, 2*time.Minute, child.Name)[child.Name]
	if rr.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("the scheduled report is %s: %s", rr.Status.Phase, rr.Status.ErrorMessage)
	}
	checkPreviousWeek(t, rr)

	var sched v1alpha1.ReportSchedule
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: stack.Namespace, Name: name}, &sched); err != nil {
		t.Fatal(err)
	}
	if sched.Status.LastRunNowToken != token {
		t.Errorf("status.lastRunNowToken = %q, want %q", sched.Status.LastRunNowToken, token)
	}

	// Re-applying the same manifest must not run the report again.
	applyYAML(t, scheduleManifest(name, token))
	time.Sleep(3 * time.Second)
	if got := scheduleChildren(t, name); len(got) != 1 {
		t.Errorf("after re-applying the manifest the schedule has %d reports, want 1", len(got))
	}
}

// scheduleChildren lists the reports a schedule created.
func scheduleChildren(t testing.TB, schedule string) []v1alpha1.ReportRequest {
	t.Helper()
	var list v1alpha1.ReportRequestList
	if err := stack.Client.List(context.Background(), &list, client.InNamespace(stack.Namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: schedule}); err != nil {
		t.Fatalf("listing the schedule's reports: %v", err)
	}
	return list.Items
}

// checkPreviousWeek checks the rendered dates are a Monday and the Sunday
// six days later, both in the past.
func checkPreviousWeek(t testing.TB, rr *v1alpha1.ReportRequest) {
	t.Helper()
	start, errStart := time.Parse(time.DateOnly, string(rr.Spec.Parameters["startDate"]))
	end, errEnd := time.Parse(time.DateOnly, string(rr.Spec.Parameters["endDate"]))
	if errStart != nil || errEnd != nil {
		t.Fatalf("rendered parameters are not dates: %v", rr.Spec.Parameters)
	}
	if start.Weekday() != time.Monday || end.Sub(start) != 6*24*time.Hour || !end.Before(time.Now()) {
		t.Errorf("rendered week %s..%s is not a past Monday-to-Sunday week", start.Format(time.DateOnly), end.Format(time.DateOnly))
	}
	if rr.Spec.TimeZone != "Europe/Berlin" {
		t.Errorf("the report's timeZone is %q, want the schedule's Europe/Berlin", rr.Spec.TimeZone)
	}
}
