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
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names, on controller-runtime's registry (the manager's /metrics).
const (
	MetricSent   = "reportd_notifications_sent_total"
	MetricFailed = "reportd_notifications_failed_total"
)

var (
	sentTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricSent,
		Help: "Notifications delivered and recorded as Sent, by channel (email, webhook).",
	}, []string{"channel"})
	failedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricFailed,
		Help: "Notifications recorded as Failed (refused, rejected, or out of attempts), by channel (email, webhook).",
	}, []string{"channel"})
)

func init() {
	metrics.Registry.MustRegister(sentTotal, failedTotal)
	// Both channels show from the start, so a rate() of zero is a value.
	for _, ch := range []string{"email", "webhook"} {
		sentTotal.WithLabelValues(ch)
		failedTotal.WithLabelValues(ch)
	}
}

// CountSent counts a delivery recorded as Sent.
func CountSent(channel string) { sentTotal.WithLabelValues(channel).Inc() }

// CountFailed counts a delivery recorded as Failed.
func CountFailed(channel string) { failedTotal.WithLabelValues(channel).Inc() }
