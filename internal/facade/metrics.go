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

package facade

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the facade's Prometheus metrics.
type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	authFailed  *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	streams     prometheus.Gauge
}

// newMetrics creates the metrics and registers them with reg (none when nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportd_facade_requests_total",
			Help: "HTTP requests answered by the facade, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reportd_facade_request_duration_seconds",
			Help:    "Time to answer a facade request, by route and method (event streams excluded: they last as long as the client listens).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportd_facade_authentication_failures_total",
			Help: "Requests refused because their credentials were missing or invalid, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reportd_facade_rate_limited_total",
			Help: "Requests answered 429 by a per-user limit (requests per minute, or active reports).",
		}, []string{"limit"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reportd_facade_open_streams",
			Help: "Server-sent event streams open now.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.authFailed, m.rateLimited, m.streams} {
		// Two facades in one process need two registries: a shared one
		// would count both into whichever registered first.
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering facade metrics: %w", err)
		}
	}
	return m, nil
}
