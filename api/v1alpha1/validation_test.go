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
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	reportsv1 "reportd.io/reportd/api/v1alpha1"
)

// Small builders: each test changes only what it is about.

func validDefinition(ns string) *reportsv1.ReportDefinition {
	return &reportsv1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "sales", Namespace: ns},
		Spec: reportsv1.ReportDefinitionSpec{
			Description: "Orders between two dates",
			Query:       `SELECT id FROM orders WHERE created_at >= @startDate AND created_at < @endDate + interval '1 day'`,
			Parameters: []reportsv1.ReportParameter{
				{Name: "startDate", Type: reportsv1.ParameterDate, Required: true},
				{Name: "endDate", Type: reportsv1.ParameterDate, Required: true, Min: ptr.To("2024-01-01")},
				{Name: "status", Type: reportsv1.ParameterEnum, Enum: []string{"paid", "shipped"}},
			},
			Rules: []reportsv1.ReportRule{{Expression: "params.startDate <= params.endDate", Message: "startDate must not be after endDate"}},
			Progress: &reportsv1.ProgressEstimate{
				Mode: reportsv1.ProgressKeyRange, KeyColumn: "Date", StartParameter: "startDate", EndParameter: "endDate",
			},
		},
	}
}

func validRequest(ns string) *reportsv1.ReportRequest {
	return &reportsv1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "sales-november", Namespace: ns},
		Spec: reportsv1.ReportRequestSpec{
			Type:        "sales",
			Parameters:  map[string]reportsv1.ParameterValue{"startDate": "2024-11-01", "endDate": "2024-11-30"},
			RequestedBy: "alice@example.com",
		},
	}
}

func validSchedule(ns string) *reportsv1.ReportSchedule {
	return &reportsv1.ReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "weekly-sales", Namespace: ns},
		Spec: reportsv1.ReportScheduleSpec{
			Schedule: "0 7 * * 1",
			TimeZone: "Europe/Berlin",
			Template: reportsv1.ReportRequestTemplate{Spec: validRequest(ns).Spec},
		},
	}
}

func TestValidObjectsAreAcceptedWithDefaults(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)

	def := validDefinition(ns)
	if err := k8sClient.Create(ctx, def); err != nil {
		t.Fatalf("valid ReportDefinition rejected: %v", err)
	}
	if def.Spec.TimeZone != "UTC" {
		t.Errorf("ReportDefinition spec.timeZone defaulted to %q, want UTC", def.Spec.TimeZone)
	}

	req := validRequest(ns)
	if err := k8sClient.Create(ctx, req); err != nil {
		t.Fatalf("valid ReportRequest rejected: %v", err)
	}
	if req.Spec.Format != reportsv1.FormatCSV {
		t.Errorf("ReportRequest spec.format defaulted to %q, want csv", req.Spec.Format)
	}

	sched := validSchedule(ns)
	if err := k8sClient.Create(ctx, sched); err != nil {
		t.Fatalf("valid ReportSchedule rejected: %v", err)
	}
	if sched.Spec.ConcurrencyPolicy != reportsv1.ConcurrencyAllow ||
		ptr.Deref(sched.Spec.SuccessfulHistoryLimit, -1) != 3 || ptr.Deref(sched.Spec.FailedHistoryLimit, -1) != 1 {
		t.Errorf("ReportSchedule defaults = policy %q, history %v/%v; want Allow, 3/1", sched.Spec.ConcurrencyPolicy,
			ptr.Deref(sched.Spec.SuccessfulHistoryLimit, -1), ptr.Deref(sched.Spec.FailedHistoryLimit, -1))
	}

	// A schedule's template is not immutable: only ReportRequest.spec is.
	sched.Spec.Template.Spec.Format = reportsv1.FormatXLSX
	sched.Spec.Template.Spec.Parameters["endDate"] = "2024-12-31"
	if err := k8sClient.Update(ctx, sched); err != nil {
		t.Errorf("editing a ReportSchedule's template was rejected: %v", err)
	}
}

// TestInvalidObjectsAreRejected checks that the API server itself refuses
// bad manifests with a message naming the field and the problem.
func TestInvalidObjectsAreRejected(t *testing.T) {
	cases := map[string]struct {
		// object builds the invalid object in the given namespace.
		object func(ns string) client.Object
		// want are substrings the API server's message must contain.
		want []string
	}{
		"request with an unknown format": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.Format = "pdf"
				return r
			},
			want: []string{"spec.format", `Unsupported value: "pdf"`, `"csv"`, `"xlsx"`},
		},
		"request with negative retries": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.Retries = ptr.To[int32](-1)
				return r
			},
			want: []string{"spec.retries", "greater than or equal to 0"},
		},
		"request with a zero timeout": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.TimeoutSeconds = ptr.To[int64](0)
				return r
			},
			want: []string{"spec.timeoutSeconds", "greater than or equal to 1"},
		},
		"request with a negative TTL": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.TTLSecondsAfterFinished = ptr.To[int32](-5)
				return r
			},
			want: []string{"spec.ttlSecondsAfterFinished", "greater than or equal to 0"},
		},
		"request without requestedBy": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.RequestedBy = ""
				return r
			},
			want: []string{"spec.requestedBy"},
		},
		"request with a type that is not a resource name": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				r.Spec.Type = "Sales Report"
				return r
			},
			want: []string{"spec.type", "should match"},
		},
		"request with too many parameters": {
			object: func(ns string) client.Object {
				r := validRequest(ns)
				for i := range 33 {
					r.Spec.Parameters[fmt.Sprintf("p%d", i)] = "x"
				}
				return r
			},
			want: []string{"spec.parameters", "at most 32"},
		},
		"definition without a query": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Query = ""
				return d
			},
			want: []string{"spec.query"},
		},
		"definition with duplicate parameter names": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Parameters = append(d.Spec.Parameters, reportsv1.ReportParameter{Name: "startDate", Type: reportsv1.ParameterString})
				return d
			},
			want: []string{"spec.parameters[3]", "Duplicate value"},
		},
		"definition with a parameter name the query cannot use": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Parameters[0].Name = "start-date"
				return d
			},
			want: []string{"spec.parameters[0].name", "should match"},
		},
		"definition with an enum parameter without values": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Parameters[2].Enum = nil
				return d
			},
			want: []string{"spec.parameters[2]", "enum parameters must list their allowed values in enum"},
		},
		"definition with min on a boolean parameter": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Parameters = append(d.Spec.Parameters, reportsv1.ReportParameter{Name: "flag", Type: reportsv1.ParameterBoolean, Min: ptr.To("1")})
				return d
			},
			want: []string{"spec.parameters[3]", "min and max are only allowed for integer, number, date and datetime parameters"},
		},
		"definition with an unknown parameter type": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Parameters[0].Type = "timestamp"
				return d
			},
			want: []string{"spec.parameters[0].type", `Unsupported value: "timestamp"`},
		},
		"definition with KeyRange progress but no key column": {
			object: func(ns string) client.Object {
				d := validDefinition(ns)
				d.Spec.Progress.KeyColumn = ""
				return d
			},
			want: []string{"spec.progress", "KeyRange progress needs keyColumn, startParameter and endParameter"},
		},
		"schedule with an empty schedule": {
			object: func(ns string) client.Object {
				s := validSchedule(ns)
				s.Spec.Schedule = ""
				return s
			},
			want: []string{"spec.schedule"},
		},
		"schedule with a CRON_TZ prefix": {
			object: func(ns string) client.Object {
				s := validSchedule(ns)
				s.Spec.Schedule = "CRON_TZ=Europe/Berlin 0 7 * * 1"
				return s
			},
			want: []string{"spec.schedule", "must not carry CRON_TZ= or TZ=: set spec.timeZone instead"},
		},
		"schedule with six fields": {
			object: func(ns string) client.Object {
				s := validSchedule(ns)
				s.Spec.Schedule = "0 0 7 * * 1"
				return s
			},
			want: []string{"spec.schedule", "five-field cron expression"},
		},
		"schedule with an empty time zone": {
			object: func(ns string) client.Object {
				// An omitted zone defaults to UTC; an explicit empty one is refused.
				return withField(validSchedule(ns), "", "spec", "timeZone")
			},
			want: []string{"spec.timeZone"},
		},
		"schedule with an unknown concurrency policy": {
			object: func(ns string) client.Object {
				s := validSchedule(ns)
				s.Spec.ConcurrencyPolicy = "Queue"
				return s
			},
			want: []string{"spec.concurrencyPolicy", `Unsupported value: "Queue"`},
		},
		"schedule with a negative history limit": {
			object: func(ns string) client.Object {
				s := validSchedule(ns)
				s.Spec.FailedHistoryLimit = ptr.To[int32](-1)
				return s
			},
			want: []string{"spec.failedHistoryLimit", "greater than or equal to 0"},
		},
	}

	ns := newNamespace(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := createObject(t, tc.object(ns))
			if err == nil {
				t.Fatalf("the API server accepted it; want a rejection mentioning %q", tc.want)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("rejection %q does not mention %q", err.Error(), want)
				}
			}
		})
	}
}

func TestRequestSpecIsImmutable(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	req := validRequest(ns)
	if err := k8sClient.Create(ctx, req); err != nil {
		t.Fatalf("creating request: %v", err)
	}

	req.Spec.Parameters["endDate"] = "2024-12-31"
	err := k8sClient.Update(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "spec is immutable: delete the ReportRequest and create a new one") {
		t.Fatalf("changing a ReportRequest's spec: got %v, want the immutability message", err)
	}

	// Labels and annotations stay editable.
	var fresh reportsv1.ReportRequest
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(req), &fresh); err != nil {
		t.Fatal(err)
	}
	fresh.Labels = map[string]string{"team": "finance"}
	if err := k8sClient.Update(ctx, &fresh); err != nil {
		t.Errorf("changing a ReportRequest's labels was rejected: %v", err)
	}
}

// createObject creates obj in the test API server and returns its answer.
func createObject(t *testing.T, obj client.Object) error {
	t.Helper()
	return k8sClient.Create(testContext(t), obj)
}

// withField returns obj as unstructured with one field set explicitly,
// for values that omitempty would otherwise drop from the request.
func withField(obj client.Object, value any, path ...string) client.Object {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(err)
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(reportsv1.GroupVersion.WithKind(fmt.Sprintf("%T", obj)[len("*v1alpha1."):]))
	if err := unstructured.SetNestedField(u.Object, value, path...); err != nil {
		panic(err)
	}
	return u
}
