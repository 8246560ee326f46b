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

package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Retention metrics.
var (
	reportsExpiredTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reportd_reports_expired_total",
		Help: "Finished ReportRequests deleted, with their files, when their ttlSecondsAfterFinished ran out.",
	}, []string{"namespace"})
	staleUploadsAbortedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "reportd_stale_uploads_aborted_total",
		Help: "Unfinished uploads (S3 multipart uploads, partial files) left by stopped generators and aborted by the sweep.",
	})
)

func init() {
	metrics.Registry.MustRegister(reportsExpiredTotal, staleUploadsAbortedTotal)
}
