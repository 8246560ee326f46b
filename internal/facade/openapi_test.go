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
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// peek sends a request and reads only the start of the answer, which
// also works for an event stream that never ends.
func (h *harness) peek(method, path, token string) (int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := noRedirects.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// openAPIRoutes reads "METHOD /path" pairs from a served OpenAPI document.
func openAPIRoutes(t *testing.T, doc []byte) []string {
	t.Helper()
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", spec.OpenAPI)
	}
	var routes []string
	for path, item := range spec.Paths {
		for key := range item {
			switch key {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				routes = append(routes, strings.ToUpper(key)+" "+path)
			}
		}
	}
	sort.Strings(routes)
	return routes
}

func TestOpenAPIDocumentMatchesTheServedRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	doc := h.request(http.MethodGet, "/openapi.json", aliceToken, "").expect(t, http.StatusOK)
	documented := openAPIRoutes(t, doc.body)
	served := h.srv.Routes()
	sort.Strings(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not documented: %s", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("documented but not served: %s", r)
		}
	}
	// Each documented route reaches a handler on the live server: neither
	// the mux's "no such endpoint" nor its 405.
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		path = strings.ReplaceAll(path, "{id}", "sales-doesnotexist")
		status, start := h.peek(method, path, aliceToken)
		if status == http.StatusMethodNotAllowed || strings.Contains(start, "no such endpoint") {
			t.Errorf("%s: the server has no such route (%d %s)", r, status, start)
		}
	}
	if len(documented) < 13 {
		t.Errorf("only %d routes documented: %v", len(documented), documented)
	}
}

func TestMetricsCountRequestsByRouteAndStatus(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	for range 3 {
		h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusOK)
	}
	h.request(http.MethodGet, "/api/v1/reports/sales-nope", aliceToken, "").expect(t, http.StatusNotFound)
	checks := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/api/v1/reports/{id}", "method": "GET", "code": "200"}, 3},
		{map[string]string{"route": "/api/v1/reports/{id}", "method": "GET", "code": "404"}, 1},
		{map[string]string{"route": "/api/v1/reports", "method": "POST", "code": "202"}, 1},
	}
	for _, c := range checks {
		if got := metricValue(t, h.reg, "reportd_facade_requests_total", c.labels); got != c.want {
			t.Errorf("requests%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := metricValue(t, h.reg, "reportd_facade_request_duration_seconds", map[string]string{"route": "/api/v1/reports/{id}", "method": "GET"}); got != 4 {
		t.Errorf("latency observations %v, want 4", got)
	}
}

// metricValue gathers reg and returns the value of the series of name
// whose labels include want (the sample count for a histogram; 0 when
// absent).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, want) {
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue()
				case m.Gauge != nil:
					return m.GetGauge().GetValue()
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

// hasLabels reports whether m carries every label of want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
