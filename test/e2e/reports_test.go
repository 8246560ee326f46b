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
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// sampleReport is one sample report type as the suite requests it.
type sampleReport struct {
	// typ is the ReportDefinition's name.
	typ string
	// params are the request's parameters.
	params map[string]string
	// columns are DESIGN.md's columns, in order; more may follow.
	columns []string
	// kinds says how each column compares across formats.
	kinds map[string]colKind
}

// sampleReports are the three sample types over the sample schema.
var sampleReports = []sampleReport{
	{
		typ:     "sales",
		params:  map[string]string{"startDate": "2024-01-01", "endDate": "2024-06-30"},
		columns: []string{"Date", "OrderId", "Customer", "Amount", "Status"},
		kinds:   map[string]colKind{"Date": kindTimestamp, "OrderId": kindNumber, "Amount": kindNumber},
	},
	{
		typ:     "users",
		columns: []string{"UserId", "Email", "CreatedAt", "LastLogin", "OrderCount"},
		kinds:   map[string]colKind{"UserId": kindNumber, "CreatedAt": kindTimestamp, "LastLogin": kindTimestamp, "OrderCount": kindNumber},
	},
	{
		typ:     "inventory",
		columns: []string{"ProductId", "SKU", "Name", "Stock", "ReorderLevel", "NeedsReorder"},
		kinds:   map[string]colKind{"ProductId": kindNumber, "Stock": kindNumber, "ReorderLevel": kindNumber, "NeedsReorder": kindBool},
	},
}

// formats are every format a report can be requested in.
var formats = []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatCSVGz, v1alpha1.FormatJSONL, v1alpha1.FormatXLSX}

// matrixTimeout bounds the twelve reports, run side by side.
const matrixTimeout = 4 * time.Minute

// TestEverySampleTypeInEveryFormat requests each sample type in each
// format the way an operator does (kubectl apply with the kubeconfig),
// watches each report to Completed at 100%, and compares each file in
// storage with what psql's COPY returns for the same query.
func TestEverySampleTypeInEveryFormat(t *testing.T) {
	watched := watchRequests(t)
	run := newName("matrix")
	var manifests []string
	names := map[string]string{} // type/format -> request name
	for _, sr := range sampleReports {
		for _, f := range formats {
			name := fmt.Sprintf("%s-%s-%s", run, sr.typ, strings.ReplaceAll(string(f), ".", "-"))
			names[sr.typ+"/"+string(f)] = name
			manifests = append(manifests, requestManifest(name, sr.typ, f, sr.params, map[string]string{"e2e.reportd.io/run": run}))
		}
	}
	applyYAML(t, strings.Join(manifests, "---\n"))
	t.Cleanup(func() {
		_, _ = kubectlErr("", "delete", "reportrequests", "-n", stack.Namespace, "-l", "e2e.reportd.io/run="+run, "--wait=false")
	})
	finished := waitFinished(t, matrixTimeout, mapValues(names)...)

	for _, sr := range sampleReports {
		t.Run(sr.typ, func(t *testing.T) {
			ref := newReference(t, sr)
			for _, f := range formats {
				t.Run(string(f), func(t *testing.T) {
					rr := finished[names[sr.typ+"/"+string(f)]]
					checkProgress(t, watched.history(rr.Name))
					checkLocalJob(t, rr)
					data := fetchResult(t, rr)
					if rr.Status.Rows != int64(len(ref.raw)-1) || rr.Status.Result.Rows != rr.Status.Rows {
						t.Errorf("status rows = %d (result %d), psql returned %d", rr.Status.Rows, rr.Status.Result.Rows, len(ref.raw)-1)
					}
					ref.compare(t, f, data)
				})
			}
		})
	}
}

// requestManifest is a ReportRequest as an operator writes it. The
// kubeconfig's user is an administrator, whom the requester policy lets
// name any requester.
func requestManifest(name, typ string, format v1alpha1.ReportFormat, params, labels map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: reports.reportd.io/v1alpha1\nkind: ReportRequest\nmetadata:\n  name: %s\n  namespace: %s\n", name, stack.Namespace)
	if len(labels) > 0 {
		b.WriteString("  labels:\n")
		for _, k := range sortedKeys(labels) {
			fmt.Fprintf(&b, "    %s: %q\n", k, labels[k])
		}
	}
	fmt.Fprintf(&b, "spec:\n  type: %s\n  format: %s\n  requestedBy: reportd-dev\n", typ, format)
	if len(params) > 0 {
		b.WriteString("  parameters:\n")
		for _, k := range sortedKeys(params) {
			fmt.Fprintf(&b, "    %s: %q\n", k, params[k])
		}
	}
	return b.String()
}

// checkLocalJob checks the report ran as the local stack runs Jobs: one
// Job, owned by the request, handed to the local executor through
// spec.managedBy (which production Jobs never carry).
func checkLocalJob(t testing.TB, rr *v1alpha1.ReportRequest) {
	t.Helper()
	job := &batchv1.Job{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: rr.Namespace, Name: controllers.JobName(rr)}, job); err != nil {
		t.Fatalf("the report's Job: %v", err)
	}
	if rr.Status.JobName != job.Name {
		t.Errorf("status.jobName = %q, want %q", rr.Status.JobName, job.Name)
	}
	if owner := metav1ControllerOf(job); owner != string(rr.UID) {
		t.Errorf("the Job's controller is %q, want the request %s", owner, rr.UID)
	}
	if job.Spec.ManagedBy == nil || *job.Spec.ManagedBy != v1alpha1.ExecutorManagedBy {
		t.Errorf("the Job's spec.managedBy = %v, want the local executor's %q", job.Spec.ManagedBy, v1alpha1.ExecutorManagedBy)
	}
}

// metav1ControllerOf returns the UID of an object's controller owner.
func metav1ControllerOf(obj client.Object) string {
	for _, o := range obj.GetOwnerReferences() {
		if o.Controller != nil && *o.Controller {
			return string(o.UID)
		}
	}
	return ""
}

// reference is what psql returns for a report: the CSV COPY writes with
// formulas neutralised as reportd does (for csv), and the plain CSV
// parsed into values (for jsonl and xlsx).
type reference struct {
	csv   []byte
	raw   [][]cell
	kinds []colKind
}

// newReference runs the type's definition, as stored in the cluster,
// through psql.
func newReference(t *testing.T, sr sampleReport) *reference {
	t.Helper()
	def := &v1alpha1.ReportDefinition{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: stack.Namespace, Name: sr.typ}, def); err != nil {
		t.Fatal(err)
	}
	query := referenceQuery(t, def, sr.params)
	plain := psqlCopy(t, query)
	raw, err := parseCopyCSV(plain)
	if err != nil {
		t.Fatalf("psql's CSV: %v", err)
	}
	if len(raw) < 2 {
		t.Fatalf("psql returned no rows for %s: the sample parameters select nothing", sr.typ)
	}
	ref := &reference{raw: raw}
	text := map[string]bool{}
	for i, h := range raw[0] {
		if i < len(sr.columns) && h.value != sr.columns[i] {
			t.Fatalf("column %d of %s is %q, want %q (DESIGN.md)", i+1, sr.typ, h.value, sr.columns[i])
		}
		kind := sr.kinds[h.value] // unknown columns (added at the end) compare as text
		ref.kinds = append(ref.kinds, kind)
		text[h.value] = kind == kindText
	}
	ref.csv = psqlCopy(t, neutralised(query, headerNames(raw[0]), text))
	return ref
}

// headerNames returns the names of a header row.
func headerNames(header []cell) []string {
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = h.value
	}
	return names
}

// compare checks a report file of format f against psql's result.
func (ref *reference) compare(t *testing.T, f v1alpha1.ReportFormat, data []byte) {
	switch f {
	case v1alpha1.FormatCSV:
		compareBytes(t, data, ref.csv)
	case v1alpha1.FormatCSVGz:
		compareBytes(t, gunzip(t, data), ref.csv)
	case v1alpha1.FormatJSONL:
		compareJSONL(t, data, ref.raw, ref.kinds)
	case v1alpha1.FormatXLSX:
		compareXLSX(t, data, ref.raw, ref.kinds)
	default:
		t.Fatalf("no comparison for format %s", f)
	}
}

// compareBytes fails at the first line where the report and psql differ.
func compareBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) && i < len(w); i++ {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("line %d differs from psql's COPY:\n got: %q\nwant: %q", i+1, g[i], w[i])
		}
	}
	t.Fatalf("the file has %d lines, psql's COPY %d", len(g), len(w))
}

// mapValues returns a map's values in key order.
func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// TestDeletingAReportRemovesItsJobPodsAndFile deletes a finished report
// with kubectl and expects what a cluster does: the garbage collector
// removes the Job and its pods, and reportd removes the stored file.
func TestDeletingAReportRemovesItsJobPodsAndFile(t *testing.T) {
	name := newName("delete")
	applyYAML(t, requestManifest(name, "inventory", v1alpha1.FormatCSV, nil, nil))
	rr := waitFinished(t, time.Minute, name)[name]
	if rr.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("the report is %s: %s", rr.Status.Phase, rr.Status.ErrorMessage)
	}
	if !fileExists(t, rr) {
		t.Fatal("the finished report's file is not in storage")
	}
	jobKey := client.ObjectKey{Namespace: rr.Namespace, Name: rr.Status.JobName}
	if err := stack.Client.Get(context.Background(), jobKey, &batchv1.Job{}); err != nil {
		t.Fatalf("the report's Job: %v", err)
	}
	kubectl(t, "", "delete", "reportrequest", name, "-n", stack.Namespace, "--wait=true", "--timeout=60s")

	e2eutil.Eventually(t, time.Minute, "the Job is deleted", func() (bool, string) {
		return gone(stack.Client.Get(context.Background(), jobKey, &batchv1.Job{}))
	})
	e2eutil.Eventually(t, time.Minute, "the Job's pods are deleted", func() (bool, string) {
		var pods corev1.PodList
		if err := stack.Client.List(context.Background(), &pods, client.InNamespace(rr.Namespace),
			client.MatchingLabels{controllers.JobLabelJobName: jobKey.Name}); err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods left", len(pods.Items))
	})
	e2eutil.Eventually(t, 30*time.Second, "the report's file is deleted from storage", func() (bool, string) {
		return !fileExists(t, rr), "the file is still in storage"
	})
}
