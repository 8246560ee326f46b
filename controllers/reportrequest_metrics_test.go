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
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

var _ = Describe("The manager's metrics endpoint", func() {
	It("serves reports by phase, rows, bytes, durations and the queue", func() {
		port, err := testsupport.FreePort()
		Expect(err).NotTo(HaveOccurred())
		h := newReportHarness(reportHarnessOptions{
			metricsAddr: fmt.Sprintf("127.0.0.1:%d", port), limits: Limits{MaxRunningJobs: 1},
		})
		h.readyDefinition(fakeDefinition("sales"))
		h.create(reportRequest("s1", "sales", map[string]string{"rows": "40"}))
		h.create(reportRequest("s2", "sales", map[string]string{"rows": "60"}))
		h.create(reportRequest("bad", "sales", map[string]string{"mode": "exit", "code": "3"}))
		s1 := h.waitForPhase("s1", v1alpha1.PhaseCompleted, 30*time.Second)
		s2 := h.waitForPhase("s2", v1alpha1.PhaseCompleted, 30*time.Second)
		h.waitForPhase("bad", v1alpha1.PhaseFailed, 30*time.Second)
		h.create(reportRequest("running", "sales", map[string]string{"mode": "sleep"}))
		h.waitForPhase("running", v1alpha1.PhaseProcessing, 30*time.Second)
		h.create(reportRequest("waiting", "sales", nil))
		Eventually(func() bool {
			return meta.IsStatusConditionTrue(h.get("waiting").Status.Conditions, v1alpha1.ConditionQueued)
		}, 10*time.Second, 50*time.Millisecond).Should(BeTrue())

		families := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		ns := map[string]string{"namespace": h.ns}
		of := func(phase string) map[string]string {
			return map[string]string{"namespace": h.ns, "type": "sales", "phase": phase}
		}
		sales := map[string]string{"namespace": h.ns, "type": "sales"}
		Expect(gauge(families, "reportd_reports", of("Completed"))).To(Equal(2.0))
		Expect(gauge(families, "reportd_reports", of("Failed"))).To(Equal(1.0))
		Expect(gauge(families, "reportd_reports", of("Processing"))).To(Equal(1.0))
		Expect(gauge(families, "reportd_reports", of("Pending"))).To(Equal(1.0))
		Expect(gauge(families, "reportd_queue_length", ns)).To(Equal(1.0))
		Expect(gauge(families, "reportd_running_jobs", ns)).To(Equal(1.0))

		rows := histogram(families, "reportd_report_rows", sales)
		Expect([]any{rows.GetSampleCount(), rows.GetSampleSum()}).To(Equal([]any{uint64(2), 100.0}))
		bytes := histogram(families, "reportd_report_bytes", sales)
		Expect([]any{bytes.GetSampleCount(), bytes.GetSampleSum()}).To(Equal([]any{uint64(2), float64(s1.Status.Bytes + s2.Status.Bytes)}))
		Expect(histogram(families, "reportd_report_duration_seconds", of("Completed")).GetSampleCount()).To(Equal(uint64(2)))
		Expect(histogram(families, "reportd_report_duration_seconds", of("Failed")).GetSampleCount()).To(Equal(uint64(1)))
		wait := histogram(families, "reportd_queue_wait_seconds", ns)
		Expect(wait.GetSampleCount()).To(Equal(uint64(4)), "s1, s2, bad and running got their Jobs")
		Expect(wait.GetSampleSum()).To(BeNumerically(">", 0), "one at a time: the later ones waited")
	})
})

// scrape GETs a Prometheus text endpoint and parses it.
func scrape(url string) map[string]*dto.MetricFamily {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return families
}

// sample finds the metric of a family with exactly these labels.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f, ok := families[name]
	Expect(ok).To(BeTrue(), "no metric %s", name)
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(labels) {
			return m
		}
	}
	Fail(fmt.Sprintf("no %s%v among %d series", name, labels, len(f.GetMetric())))
	return nil
}

// gauge is the value of a gauge.
func gauge(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return sample(families, name, labels).GetGauge().GetValue()
}

// histogram is a histogram's data.
func histogram(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Histogram {
	return sample(families, name, labels).GetHistogram()
}
