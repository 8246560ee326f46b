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
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"reportd.io/reportd/api/v1alpha1"
)

// Report metrics recorded as things happen. The generator is short-lived,
// so rows and bytes come from the verified results the manager records.
var (
	reportDurationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reportd_report_duration_seconds",
		Help:    "Time from a ReportRequest's creation to its end (Completed or Failed), queueing included.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
	}, []string{"namespace", "type", "phase"})
	reportRows = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reportd_report_rows",
		Help:    "Rows of each completed report (the _sum is all rows written).",
		Buckets: prometheus.ExponentialBuckets(10, 10, 8), // 10 to 100 million
	}, []string{"namespace", "type"})
	reportBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reportd_report_bytes",
		Help:    "Size in bytes of each completed report's file (the _sum is all bytes stored).",
		Buckets: prometheus.ExponentialBuckets(1024, 8, 10), // 1 KiB to 128 GiB
	}, []string{"namespace", "type"})
	queueWaitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "reportd_queue_wait_seconds",
		Help:    "Time from a ReportRequest's creation to the creation of its Job: waiting in the queue (and for its definition's check).",
		Buckets: []float64{0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
	}, []string{"namespace"})
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
	metrics.Registry.MustRegister(reportDurationSeconds, reportRows, reportBytes, queueWaitSeconds,
		reportsExpiredTotal, staleUploadsAbortedTotal)
}

// observeEnd records a report that just reached a terminal phase.
func observeEnd(rr *v1alpha1.ReportRequest, now time.Time) {
	end := now
	if rr.Status.CompletedAt != nil {
		end = rr.Status.CompletedAt.Time
	}
	reportDurationSeconds.WithLabelValues(rr.Namespace, rr.Spec.Type, string(rr.Status.Phase)).
		Observe(max(end.Sub(rr.CreationTimestamp.Time), 0).Seconds())
	if r := rr.Status.Result; rr.Status.Phase == v1alpha1.PhaseCompleted && r != nil {
		reportRows.WithLabelValues(rr.Namespace, rr.Spec.Type).Observe(float64(r.Rows))
		reportBytes.WithLabelValues(rr.Namespace, rr.Spec.Type).Observe(float64(r.Size))
	}
}

// observeAdmission records how long a request waited for its Job.
func observeAdmission(rr *v1alpha1.ReportRequest, now time.Time) {
	queueWaitSeconds.WithLabelValues(rr.Namespace).Observe(max(now.Sub(rr.CreationTimestamp.Time), 0).Seconds())
}

// Gauges computed from the cache at scrape time, so they are right after
// a restart and cost nothing between scrapes.
var (
	reportsDesc = prometheus.NewDesc("reportd_reports",
		"ReportRequests by namespace, type and phase.", []string{"namespace", "type", "phase"}, nil)
	queueLengthDesc = prometheus.NewDesc("reportd_queue_length",
		"ReportRequests waiting in the queue for a free slot (Pending with Queued=True), by namespace.", []string{"namespace"}, nil)
	runningJobsDesc = prometheus.NewDesc("reportd_running_jobs",
		"Unfinished report Jobs, by namespace: what the limits of the queue count.", []string{"namespace"}, nil)
)

// scrapeTimeout bounds one collection's reads of the cache.
const scrapeTimeout = 10 * time.Second

// cacheCollector is a prometheus.Collector of the gauges above, and a
// leader-elected manager Runnable that registers it while this replica
// leads: only the leader's cache is sure to hold every watched Job, and
// one replica reporting keeps sums across replicas right.
type cacheCollector struct {
	reader client.Reader
	ctx    context.Context
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (c *cacheCollector) NeedLeaderElection() bool { return true }

// Start registers the collector until ctx ends.
func (c *cacheCollector) Start(ctx context.Context) error {
	c.ctx = ctx
	if err := metrics.Registry.Register(c); err != nil {
		return fmt.Errorf("registering the report gauges: %w", err)
	}
	<-ctx.Done()
	metrics.Registry.Unregister(c)
	return nil
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reportsDesc
	ch <- queueLengthDesc
	ch <- runningJobsDesc
}

// Collect implements prometheus.Collector: it counts from the cache.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.ctx, scrapeTimeout)
	defer cancel()
	log := logf.FromContext(ctx)
	type reportKey struct{ namespace, typ, phase string }
	reports := map[reportKey]int{}
	queued := map[string]int{}
	var requests v1alpha1.ReportRequestList
	if err := c.reader.List(ctx, &requests, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "Listing ReportRequests for the metrics")
		ch <- prometheus.NewInvalidMetric(reportsDesc, err)
	} else {
		for i := range requests.Items {
			rr := &requests.Items[i]
			phase := rr.Status.Phase
			if phase == "" {
				phase = v1alpha1.PhasePending // not looked at yet
			}
			reports[reportKey{rr.Namespace, rr.Spec.Type, string(phase)}]++
			if phase == v1alpha1.PhasePending && isQueued(&rr.Status) {
				queued[rr.Namespace]++
			} else if _, ok := queued[rr.Namespace]; !ok {
				queued[rr.Namespace] = 0 // a zero, not an absent series
			}
		}
		for k, n := range reports {
			ch <- prometheus.MustNewConstMetric(reportsDesc, prometheus.GaugeValue, float64(n), k.namespace, k.typ, k.phase)
		}
		for ns, n := range queued {
			ch <- prometheus.MustNewConstMetric(queueLengthDesc, prometheus.GaugeValue, float64(n), ns)
		}
	}
	var jobs batchv1.JobList
	if err := c.reader.List(ctx, &jobs, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "Listing report Jobs for the metrics")
		ch <- prometheus.NewInvalidMetric(runningJobsDesc, err)
		return
	}
	running := map[string]int{}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if !isReportJob(job) {
			continue
		}
		if !jobFinished(job) {
			running[job.Namespace]++
		} else if _, ok := running[job.Namespace]; !ok {
			running[job.Namespace] = 0
		}
	}
	for ns, n := range running {
		ch <- prometheus.MustNewConstMetric(runningJobsDesc, prometheus.GaugeValue, float64(n), ns)
	}
}
