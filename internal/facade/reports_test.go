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

package facade_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/facade"
)

func TestCreateAnswersAtOnceAndRecordsTheRequester(t *testing.T) {
	h := newHarness(t, harnessOptions{publicURL: "https://reports.example.com"})
	start := time.Now()
	resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken,
		`{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}, "format": "jsonl", "sharedWith": ["bob", "bob", "alice"]}`).
		expect(t, http.StatusAccepted)
	took := time.Since(start)
	rep := resp.report(t)
	if rep.Status != facade.StatusPending || rep.ReportType != "sales" || rep.Format != "jsonl" || rep.RequestedBy != "alice" {
		t.Errorf("created report: %+v", rep)
	}
	if !strings.HasPrefix(rep.ID, "sales-") || rep.ResultURL != "" {
		t.Errorf("id %q, resultUrl %q", rep.ID, rep.ResultURL)
	}
	if got, want := resp.header.Get("Location"), "https://reports.example.com/api/v1/reports/"+rep.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	t.Logf("POST answered 202 in %s", took)

	rr := h.get(rep.ID)
	if rr.Spec.RequestedBy != "alice" || rr.Spec.Notify == nil || !slices.Equal(rr.Spec.Notify.Email, []string{"alice@example.com"}) {
		t.Errorf("requestedBy %q, notify %+v", rr.Spec.RequestedBy, rr.Spec.Notify)
	}
	if !slices.Equal(rr.Spec.SharedWith, []string{"bob"}) {
		t.Errorf("sharedWith %v: repeats and the owner should be dropped", rr.Spec.SharedWith)
	}
	if rr.Spec.Parameters["startDate"] != "2025-01-01" || rr.Spec.Parameters["endDate"] != "2025-01-31" {
		t.Errorf("parameters %v", rr.Spec.Parameters)
	}

	got := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK).report(t)
	if got.ID != rep.ID || got.Status != facade.StatusPending {
		t.Errorf("GET after create: %+v", got)
	}
}

func TestParameterValuesMayBeNumbersAndBooleans(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(carolToken, `{"reportType": "inventory", "parameters": {"onlyBelowReorder": true}, "format": "xlsx"}`)
	rr := h.get(rep.ID)
	if rr.Spec.Parameters["onlyBelowReorder"] != "true" || rr.Spec.Notify != nil {
		t.Errorf("parameters %v, notify %+v (carol has no email)", rr.Spec.Parameters, rr.Spec.Notify)
	}
}

func TestStatusShowsProgressAndCompletion(t *testing.T) {
	h := newHarness(t, harnessOptions{publicURL: "https://reports.example.com/"})
	rep := h.create(aliceToken, salesBody)
	started := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	eta := metav1.NewTime(time.Now().Add(time.Minute).Truncate(time.Second))
	h.setStatus(rep.ID, func(st *v1alpha1.ReportRequestStatus) {
		st.Phase, st.Progress, st.Rows, st.StartedAt, st.EstimatedCompletion = v1alpha1.PhaseProcessing, 40, 1234, &started, &eta
	})
	var got facade.Report
	eventually(t, "the facade shows the progress", func() bool {
		got = h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK).report(t)
		return got.Progress == 40
	})
	if got.Status != facade.StatusProcessing || got.Rows != 1234 || !got.StartedAt.Equal(started.Time) || !got.EstimatedCompletion.Equal(eta.Time) {
		t.Errorf("processing report: %+v", got)
	}
	h.complete(rep.ID, "Date,OrderId\n2025-01-01,1\n2025-01-02,2\n")
	eventually(t, "the facade shows the completion", func() bool {
		got = h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK).report(t)
		return got.Status == facade.StatusCompleted
	})
	if got.ResultURL != "https://reports.example.com/api/v1/reports/"+rep.ID+"/download" || got.Size == 0 || got.SHA256 != "abc123" || got.CompletedAt == nil {
		t.Errorf("completed report: %+v", got)
	}
}

func TestFailedReportShowsItsError(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	h.setStatus(rep.ID, func(st *v1alpha1.ReportRequestStatus) {
		st.Phase, st.ErrorMessage = v1alpha1.PhaseFailed, "the database refused the query: permission denied"
	})
	eventually(t, "the facade shows the failure", func() bool {
		got := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK).report(t)
		return got.Status == facade.StatusFailed && got.ErrorMessage == "the database refused the query: permission denied" && got.ResultURL == ""
	})
}

func TestReadsComeFromTheCache(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	eventually(t, "the cache has the report", func() bool {
		h.liveGets.Store(0)
		h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK)
		return h.liveGets.Load() == 0
	})
	for range 20 {
		h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK)
	}
	h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK)
	if n := h.liveGets.Load(); n != 0 {
		t.Errorf("%d live GETs for reads the cache holds", n)
	}
}

func TestACacheMissFallsBackToOneLiveGet(t *testing.T) {
	// This facade's cache never holds a report, as right after a create.
	h := newHarness(t, harnessOptions{emptyCache: true})
	rep := h.create(aliceToken, salesBody)
	h.liveGets.Store(0)
	got := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK).report(t)
	if got.ID != rep.ID {
		t.Errorf("got %+v", got)
	}
	if n := h.liveGets.Load(); n != 1 {
		t.Errorf("%d live GETs, want exactly 1", n)
	}
	h.liveGets.Store(0)
	h.request(http.MethodGet, "/api/v1/reports/sales-nonexistent", aliceToken, "").expect(t, http.StatusNotFound)
	if n := h.liveGets.Load(); n != 1 {
		t.Errorf("%d live GETs before a 404, want exactly 1", n)
	}
}

func TestListIsNewestFirstWithALimit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var ids []string
	for range 3 {
		ids = append(ids, h.create(aliceToken, salesBody).ID)
		time.Sleep(1100 * time.Millisecond) // creation times have whole seconds
	}
	bobs := h.create(bobToken, salesBody)
	time.Sleep(1100 * time.Millisecond)
	shared := h.create(bobToken, `{"reportType": "inventory", "sharedWith": ["alice"]}`)
	want := []string{shared.ID, ids[2], ids[1], ids[0]}
	var list facade.ReportList
	eventually(t, "alice's list shows her reports and the one shared with her", func() bool {
		h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK).decode(t, &list)
		return slices.Equal(reportIDs(list), want)
	})
	h.request(http.MethodGet, "/api/v1/reports?limit=2", aliceToken, "").expect(t, http.StatusOK).decode(t, &list)
	if !slices.Equal(reportIDs(list), want[:2]) {
		t.Errorf("limit=2 gave %v, want %v", reportIDs(list), want[:2])
	}
	h.request(http.MethodGet, "/api/v1/reports", bobToken, "").expect(t, http.StatusOK).decode(t, &list)
	if got := reportIDs(list); !slices.Equal(got, []string{shared.ID, bobs.ID}) {
		t.Errorf("bob's list %v", got)
	}
	h.request(http.MethodGet, "/api/v1/reports", carolToken, "").expect(t, http.StatusOK).decode(t, &list)
	if len(list.Reports) != 0 {
		t.Errorf("carol sees %v", reportIDs(list))
	}
	for _, bad := range []string{"0", "101", "ten", "-1"} {
		resp := h.request(http.MethodGet, "/api/v1/reports?limit="+bad, aliceToken, "").expect(t, http.StatusBadRequest)
		expectField(t, resp, "limit", "from 1 to 100")
	}
}

// reportIDs lists a list's ids in order.
func reportIDs(list facade.ReportList) []string {
	ids := make([]string, len(list.Reports))
	for i, r := range list.Reports {
		ids[i] = r.ID
	}
	return ids
}

func TestQueuePosition(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var ids []string
	for range 3 {
		ids = append(ids, h.create(aliceToken, salesBody).ID)
	}
	other := h.create(bobToken, salesBody)
	queued := metav1.Condition{Type: v1alpha1.ConditionQueued, Status: metav1.ConditionTrue, Reason: "RequesterLimit", Message: "waiting", LastTransitionTime: metav1.Now()}
	for _, id := range append([]string{other.ID}, ids...) {
		h.setStatus(id, func(st *v1alpha1.ReportRequestStatus) {
			st.Phase = v1alpha1.PhasePending
			apimeta.SetStatusCondition(&st.Conditions, queued)
		})
	}
	// The queue is ordered by creation time, then name, across users.
	order := []string{ids[0], ids[1], ids[2], other.ID}
	slices.SortStableFunc(order, func(a, b string) int {
		ra, rb := h.get(a), h.get(b)
		if c := ra.CreationTimestamp.Compare(rb.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	want := map[string]int{}
	for i, id := range order {
		want[id] = i + 1
	}
	eventually(t, "queue positions follow creation order", func() bool {
		for _, id := range ids {
			got := h.request(http.MethodGet, "/api/v1/reports/"+id, aliceToken, "").expect(t, http.StatusOK).report(t)
			if got.QueuePosition != want[id] {
				return false
			}
		}
		return true
	})
	// Admitted: no longer queued, no position.
	h.setStatus(order[0], func(st *v1alpha1.ReportRequestStatus) {
		st.Phase = v1alpha1.PhaseProcessing
		apimeta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionQueued)
	})
	eventually(t, "the next in line moves up", func() bool {
		var list facade.ReportList
		h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK).decode(t, &list)
		for _, r := range list.Reports {
			wantPos := want[r.ID] - 1
			if r.ID == order[0] {
				wantPos = 0
			}
			if r.QueuePosition != wantPos {
				return false
			}
		}
		return true
	})
}

func TestReportTypesShowParametersNeverSQL(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp := h.request(http.MethodGet, "/api/v1/report-types", aliceToken, "").expect(t, http.StatusOK)
	if strings.Contains(string(resp.body), "SELECT") || strings.Contains(string(resp.body), "orders") {
		t.Errorf("report types show the query: %s", resp.body)
	}
	var list facade.ReportTypeList
	resp.decode(t, &list)
	if len(list.ReportTypes) != 2 || list.ReportTypes[0].Name != "inventory" || list.ReportTypes[1].Name != "sales" {
		t.Fatalf("types %+v", list.ReportTypes)
	}
	sales := list.ReportTypes[1]
	if sales.Description != "Orders between two days" || len(sales.Parameters) != 2 ||
		sales.Parameters[0].Name != "startDate" || sales.Parameters[0].Type != "date" || !sales.Parameters[0].Required ||
		!slices.Equal(sales.Formats, []string{"csv", "jsonl"}) || sales.TimeZone != "UTC" ||
		!slices.Equal(sales.Rules, []string{"startDate must not be after endDate"}) || !sales.Ready {
		t.Errorf("sales type %+v", sales)
	}
	inv := list.ReportTypes[0]
	if len(inv.Formats) != 4 || inv.Parameters[0].Default == nil || *inv.Parameters[0].Default != "false" {
		t.Errorf("inventory type %+v", inv)
	}
}

func TestBrokenReportTypeIsRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	def := salesDefinition(h.ns)
	def.Name = "broken"
	if err := admin.Create(testContext(t), def); err != nil {
		t.Fatal(err)
	}
	def.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "QueryInvalid", Message: `relation "orders" does not exist`, LastTransitionTime: metav1.Now()}}
	if err := admin.Status().Update(testContext(t), def); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broken type is refused", func() bool {
		resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken, strings.Replace(salesBody, `"sales"`, `"broken"`, 1))
		return resp.status == http.StatusUnprocessableEntity && strings.Contains(string(resp.body), "not available")
	})
	if strings.Contains(strings.Join(h.logs.all(), "\n"), "does not exist") {
		t.Error("the definition's condition message reached the logs")
	}
	if n := h.count(); n != 0 {
		t.Errorf("%d reports created", n)
	}
}

// manyParameters is n distinct parameters as JSON members.
func manyParameters(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"p%d": "%d"`, i, i)
	}
	return strings.Join(members, ", ")
}

// expectField checks an error body names field with a message containing msg.
func expectField(t *testing.T, resp *response, field, msg string) {
	t.Helper()
	var body facade.ErrorBody
	resp.decode(t, &body)
	for _, f := range body.Fields {
		if f.Field == field && strings.Contains(f.Message, msg) {
			if body.Error == "" {
				t.Errorf("no error message: %s", resp.body)
			}
			return
		}
	}
	t.Errorf("status %d: no field %q with %q in %s", resp.status, field, msg, resp.body)
}

func TestBadInputCreatesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	huge := `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31", "pad": "` + strings.Repeat("x", 70<<10) + `"}}`
	cases := []struct {
		name        string
		body        string
		headers     []string
		status      int
		field, want string
	}{
		{"unknown type", `{"reportType": "salez"}`, nil, 422, "reportType", `unknown report type "salez"`},
		{"missing type", `{"parameters": {}}`, nil, 422, "reportType", "is required"},
		{"malformed type", `{"reportType": "Sales!"}`, nil, 422, "reportType", "unknown report type"},
		{"missing parameter", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01"}}`, nil, 422, "parameters.endDate", `"endDate" is required`},
		{"malformed date", `{"reportType": "sales", "parameters": {"startDate": "01/02/2025", "endDate": "2025-01-31"}}`, nil, 422, "parameters.startDate", "startDate"},
		{"start after end", `{"reportType": "sales", "parameters": {"startDate": "2025-02-01", "endDate": "2025-01-31"}}`, nil, 422, "parameters", "startDate must not be after endDate"},
		{"unknown parameter", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31", "region": "EU"}}`, nil, 422, "parameters.region", "unknown parameter"},
		{"malformed boolean", `{"reportType": "inventory", "parameters": {"onlyBelowReorder": "maybe"}}`, nil, 422, "parameters.onlyBelowReorder", "onlyBelowReorder"},
		{"unknown format", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}, "format": "pdf"}`, nil, 422, "format", `unknown format "pdf"`},
		{"format not offered", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}, "format": "xlsx"}`, nil, 422, "format", "offered as csv, jsonl only"},
		{"unknown time zone", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}, "timeZone": "Mars/Olympus"}`, nil, 422, "timeZone", "Mars/Olympus"},
		{"empty sharedWith entry", `{"reportType": "inventory", "sharedWith": [""]}`, nil, 422, "sharedWith[0]", "identity"},
		{"oversize body", huge, nil, 413, "body", "at most 65536 bytes"},
		{"unknown JSON field", `{"reportType": "sales", "colour": "red"}`, nil, 400, "colour", "not a known field"},
		{"malformed JSON", `{"reportType": "sales",`, nil, 400, "body", "not valid JSON"},
		{"two JSON objects", `{"reportType": "inventory"} {"reportType": "inventory"}`, nil, 400, "body", "exactly one JSON object"},
		{"not an object", `["sales"]`, nil, 400, "body", "JSON object"},
		{"wrong JSON type", `{"reportType": "inventory", "sharedWith": "bob"}`, nil, 400, "sharedWith", "array"},
		{"parameter not a scalar", `{"reportType": "inventory", "parameters": {"onlyBelowReorder": {"x": 1}}}`, nil, 400, "parameters.onlyBelowReorder", "string, number or boolean"},
		{"parameter null", `{"reportType": "inventory", "parameters": {"onlyBelowReorder": null}}`, nil, 400, "parameters.onlyBelowReorder", "string, number or boolean"},
		{"wrong content type", salesBody, []string{"Content-Type", "text/plain"}, 415, "Content-Type", "application/json"},
		{"no content type", salesBody, []string{"Content-Type", ""}, 415, "Content-Type", "application/json"},
		{"form post", "reportType=sales", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "Content-Type", "application/json"},
		{"bad Idempotency-Key", salesBody, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, "Idempotency-Key", "printable ASCII"},
		{"invalid UTF-8", "{\"reportType\": \"sa\xffles\"}", nil, 400, "body", "is not valid UTF-8"},
		{"invalid UTF-8 in a parameter", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-3` + "\xc3" + `"}}`, nil, 400, "body", "is not valid UTF-8"},
		{"deeply nested JSON", `{"reportType": "sales", "parameters": {"x": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`, nil, 400, "body", "nested too deeply"},
		{"null body", `null`, nil, 400, "body", "must be a JSON object"},
		{"field name in another case", `{"ReportType": "inventory"}`, nil, 400, "ReportType", "not a known field (names are case-sensitive: reportType)"},
		{"field given twice", `{"reportType": "inventory", "reportType": "sales"}`, nil, 400, "reportType", "is given twice"},
		{"parameter given twice", `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "startDate": "2025-01-02", "endDate": "2025-01-31"}}`, nil, 400, "parameters.startDate", "is given twice"},
		{"too many parameters", `{"reportType": "sales", "parameters": {` + manyParameters(33) + `}}`, nil, 422, "parameters", "must have at most 32 entries"},
		{"oversize parameter value", `{"reportType": "sales", "parameters": {"startDate": "` + strings.Repeat("9", 4097) + `", "endDate": "2025-01-31"}}`, nil, 422, "parameters.startDate", "must be at most 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken, tc.body, tc.headers...)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.status, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			expectField(t, resp, tc.field, tc.want)
		})
	}
	if n := h.count(); n != 0 {
		t.Errorf("bad input created %d reports", n)
	}
	// Several problems at once are all named.
	resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken, `{"reportType": "sales", "format": "pdf", "parameters": {"region": "EU"}}`).expect(t, 422)
	expectField(t, resp, "format", "unknown format")
	expectField(t, resp, "parameters.region", "unknown parameter")
	expectField(t, resp, "parameters.startDate", "required")
	for _, id := range []string{"Bad_ID", "a..b", strings.Repeat("a", 254)} {
		for _, path := range []string{"/api/v1/reports/" + id, "/api/v1/reports/" + id + "/download", "/api/v1/reports/" + id + "/events"} {
			expectField(t, h.request(http.MethodGet, path, aliceToken, "").expect(t, http.StatusBadRequest), "id", "not a report id")
		}
		expectField(t, h.request(http.MethodDelete, "/api/v1/reports/"+id, aliceToken, "").expect(t, http.StatusBadRequest), "id", "not a report id")
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp := h.request(http.MethodGet, "/api/v1/nothing", aliceToken, "").expect(t, http.StatusNotFound)
	var body facade.ErrorBody
	resp.decode(t, &body)
	resp = h.request(http.MethodPut, "/api/v1/reports", aliceToken, "").expect(t, http.StatusMethodNotAllowed)
	if allow := resp.header.Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "GET") {
		t.Errorf("Allow %q", allow)
	}
	resp.decode(t, &body)
}

func TestEveryEndpointNeedsAUser(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, rt := range []struct{ method, path string }{
		{"POST", "/api/v1/reports"}, {"GET", "/api/v1/reports"}, {"GET", "/api/v1/reports/x"},
		{"DELETE", "/api/v1/reports/x"}, {"GET", "/api/v1/reports/x/download"}, {"GET", "/api/v1/reports/x/events"},
		{"GET", "/api/v1/events"}, {"GET", "/api/v1/report-types"}, {"GET", "/openapi.json"},
	} {
		for _, token := range []string{"", "not-a-known-token-at-all"} {
			resp := h.request(rt.method, rt.path, token, "")
			if resp.status != http.StatusUnauthorized || !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with token %q: %d %s", rt.method, rt.path, token, resp.status, resp.body)
			}
		}
	}
	// The web page and its files are public: they hold no data.
	for _, path := range []string{"/", "/reports/x", "/assets/app.js", "/healthz", "/readyz"} {
		h.request(http.MethodGet, path, "", "").expect(t, http.StatusOK)
	}
	if got := metricValue(t, h.reg, "reportd_facade_authentication_failures_total", map[string]string{"reason": "unknown_token"}); got != 9 {
		t.Errorf("unknown_token failures counted %v, want 9", got)
	}
	if got := metricValue(t, h.reg, "reportd_facade_authentication_failures_total", map[string]string{"reason": "missing"}); got != 9 {
		t.Errorf("missing failures counted %v, want 9", got)
	}
}

func TestOtherUsersGet404EverywhereAndSharedUsersAreAllowed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	private := h.create(aliceToken, salesBody)
	shared := h.create(aliceToken, `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}, "sharedWith": ["bob"]}`)
	h.complete(private.ID, "Date,OrderId\n")
	h.complete(shared.ID, "Date,OrderId\n2025-01-01,1\n")
	eventually(t, "the cache shows both completed", func() bool {
		var list facade.ReportList
		h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK).decode(t, &list)
		return len(list.Reports) == 2 && list.Reports[0].Status == facade.StatusCompleted && list.Reports[1].Status == facade.StatusCompleted
	})
	for _, token := range []string{malloryToken, bobToken} {
		for _, rt := range []struct{ method, path string }{
			{"GET", "/api/v1/reports/" + private.ID},
			{"GET", "/api/v1/reports/" + private.ID + "/download"},
			{"GET", "/api/v1/reports/" + private.ID + "/download?redirect=false"},
			{"GET", "/api/v1/reports/" + private.ID + "/events"},
			{"DELETE", "/api/v1/reports/" + private.ID},
		} {
			resp := h.request(rt.method, rt.path, token, "")
			nonexistent := h.request(rt.method, strings.Replace(rt.path, private.ID, "sales-doesnotexist", 1), token, "")
			if resp.status != http.StatusNotFound || string(resp.body) != strings.Replace(string(nonexistent.body), "sales-doesnotexist", private.ID, 1) {
				t.Errorf("%s %s: %d %s; must look exactly like a report that does not exist (%s)", rt.method, rt.path, resp.status, resp.body, nonexistent.body)
			}
		}
	}
	var list facade.ReportList
	h.request(http.MethodGet, "/api/v1/reports", malloryToken, "").expect(t, http.StatusOK).decode(t, &list)
	if len(list.Reports) != 0 {
		t.Errorf("mallory lists %v", reportIDs(list))
	}
	if h.get(private.ID).DeletionTimestamp != nil {
		t.Fatal("someone else deleted alice's report")
	}
	// bob may see, download and delete what alice shared with him.
	h.request(http.MethodGet, "/api/v1/reports/"+shared.ID, bobToken, "").expect(t, http.StatusOK)
	link := h.request(http.MethodGet, "/api/v1/reports/"+shared.ID+"/download?redirect=false", bobToken, "").expect(t, http.StatusOK)
	var dl facade.DownloadLink
	link.decode(t, &dl)
	if body := fetch(t, dl.URL).expect(t, http.StatusOK).body; string(body) != "Date,OrderId\n2025-01-01,1\n" {
		t.Errorf("bob downloaded %q", body)
	}
	h.request(http.MethodDelete, "/api/v1/reports/"+shared.ID, bobToken, "").expect(t, http.StatusNoContent)
	h.request(http.MethodGet, "/api/v1/reports/"+shared.ID, aliceToken, "").expect(t, http.StatusNotFound)
	audit := strings.Join(h.logs.all(), "\n")
	if !strings.Contains(audit, `"action":"delete"`) {
		t.Errorf("no audit line for the delete:\n%s", audit)
	}
}

// fetch GETs a URL without credentials.
func fetch(t *testing.T, url string) *response {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, http.DefaultClient, req)
}

func TestDeleteRemovesTheReport(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	h.request(http.MethodDelete, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNoContent)
	eventually(t, "the report is gone from the API server", func() bool { return h.count() == 0 })
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNotFound)
	h.request(http.MethodDelete, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNotFound)
}

func TestAuditLogNamesWhoAndWhatButNoValues(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, `{"reportType": "sales", "parameters": {"startDate": "2025-03-07", "endDate": "2025-03-09"}}`)
	h.request(http.MethodPost, "/api/v1/reports", aliceToken, `{"reportType": "sales", "parameters": {"startDate": "2025-03-19", "endDate": "2025-03-08"}}`).expect(t, 422)
	h.request(http.MethodDelete, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNoContent)
	var audit []map[string]any
	for _, line := range h.logs.all() {
		if strings.Contains(line, "2025-03") || strings.Contains(line, aliceToken) {
			t.Errorf("a log line repeats a parameter value or a token: %s", line)
		}
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["logger"] == "audit" {
			audit = append(audit, entry)
		}
	}
	want := []struct{ action, report, outcome string }{{"create", rep.ID, "ok"}, {"create", "", "refused"}, {"delete", rep.ID, "ok"}}
	if len(audit) != len(want) {
		t.Fatalf("audit lines %v, want %d", audit, len(want))
	}
	for i, w := range want {
		a := audit[i]
		if a["action"] != w.action || a["report"] != w.report || a["outcome"] != w.outcome || a["user"] != "alice" {
			t.Errorf("audit line %d: %v, want %+v", i, a, w)
		}
	}
}
