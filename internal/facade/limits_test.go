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
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/facade"
)

func TestIdempotentRetryAcrossTwoFacades(t *testing.T) {
	a := newHarness(t, harnessOptions{})
	b := newHarness(t, harnessOptions{ns: a.ns, store: a.store})
	first := a.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody, "Idempotency-Key", "retry-42").expect(t, http.StatusAccepted)
	rep := first.report(t)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first create says it was replayed")
	}
	// The retry reaches the other replica at once, before its cache can
	// know the report: the derived name makes the API server find it.
	again := b.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody, "Idempotency-Key", "retry-42").expect(t, http.StatusAccepted)
	if got := again.report(t); got.ID != rep.ID || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry gave %s (replayed %q), want %s", got.ID, again.header.Get("Idempotent-Replayed"), rep.ID)
	}
	a.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody, "Idempotency-Key", "retry-42").expect(t, http.StatusAccepted)
	if n := a.count(); n != 1 {
		t.Fatalf("%d reports after three tries with one key", n)
	}
	// The same key with another body is refused; nothing is created.
	resp := b.request(http.MethodPost, "/api/v1/reports", aliceToken,
		`{"reportType": "sales", "parameters": {"startDate": "2025-02-01", "endDate": "2025-02-28"}}`, "Idempotency-Key", "retry-42").
		expect(t, http.StatusUnprocessableEntity)
	expectField(t, resp, "Idempotency-Key", "different request")
	// Keys are per user.
	bobs := b.request(http.MethodPost, "/api/v1/reports", bobToken, salesBody, "Idempotency-Key", "retry-42").expect(t, http.StatusAccepted).report(t)
	if bobs.ID == rep.ID || bobs.RequestedBy != "bob" {
		t.Errorf("bob's report %+v shares alice's id", bobs)
	}
	if n := a.count(); n != 2 {
		t.Errorf("%d reports, want 2", n)
	}

	// Simultaneous retries on both replicas race to create: the API
	// server lets one win and the others find its report.
	ids := make(chan string, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		replica := []*harness{a, b}[i%2]
		wg.Go(func() {
			resp := replica.request(http.MethodPost, "/api/v1/reports", carolToken, salesBody, "Idempotency-Key", "race")
			if resp.status != http.StatusAccepted {
				t.Errorf("racing retry: %d %s", resp.status, resp.body)
				return
			}
			var rep facade.Report
			if err := json.Unmarshal(resp.body, &rep); err != nil {
				t.Errorf("racing retry: %v", err)
				return
			}
			ids <- rep.ID
		})
	}
	wg.Wait()
	close(ids)
	var raced []string
	for id := range ids {
		raced = append(raced, id)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(raced))); len(raced) != 8 || len(distinct) != 1 {
		t.Errorf("racing retries gave ids %v, want one id eight times", raced)
	}
	if n := a.count(); n != 3 {
		t.Errorf("%d reports after the race, want 3", n)
	}
}

func TestRequestRateLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{limits: facade.Limits{RequestsPerMinute: 3}})
	for range 3 {
		h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK)
	}
	resp := h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusTooManyRequests)
	retry, err := strconv.Atoi(resp.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 20 {
		t.Errorf("Retry-After %q, want about 20 s (a minute for 3 requests)", resp.header.Get("Retry-After"))
	}
	expectNoField(t, resp, "too many requests")
	// Other users have their own budget.
	h.request(http.MethodGet, "/api/v1/reports", bobToken, "").expect(t, http.StatusOK)
	if got := metricValue(t, h.reg, "reportd_facade_rate_limited_total", map[string]string{"limit": "requests"}); got != 1 {
		t.Errorf("rate limited counted %v", got)
	}
}

func TestActiveReportLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{limits: facade.Limits{MaxActive: 2}})
	first := h.create(aliceToken, salesBody)
	h.create(aliceToken, salesBody)
	// At once, before the cache can show the two: still refused.
	resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody).expect(t, http.StatusTooManyRequests)
	if resp.header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q, want 30 when no completion is estimated", resp.header.Get("Retry-After"))
	}
	expectNoField(t, resp, "2 active reports")
	if n := h.count(); n != 2 {
		t.Fatalf("%d reports after a refused create", n)
	}
	eta := metav1.NewTime(h.clock.now().Add(42 * time.Second))
	h.setStatus(first.ID, func(st *v1alpha1.ReportRequestStatus) {
		st.Phase, st.Progress, st.EstimatedCompletion = v1alpha1.PhaseProcessing, 50, &eta
	})
	eventually(t, "Retry-After follows the soonest estimated completion", func() bool {
		resp := h.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody)
		ra, _ := strconv.Atoi(resp.header.Get("Retry-After"))
		return resp.status == http.StatusTooManyRequests && ra >= 35 && ra <= 43
	})
	h.create(bobToken, salesBody) // bob is not limited by alice's reports
	h.complete(first.ID, csvContent)
	eventually(t, "a finished report frees a slot", func() bool {
		return h.request(http.MethodPost, "/api/v1/reports", aliceToken, salesBody).status == http.StatusAccepted
	})
}

// expectNoField checks an error body has a message containing msg.
func expectNoField(t *testing.T, resp *response, msg string) {
	t.Helper()
	var body facade.ErrorBody
	resp.decode(t, &body)
	if !strings.Contains(body.Error, msg) {
		t.Errorf("error %q does not say %q", body.Error, msg)
	}
}
