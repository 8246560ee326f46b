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
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// maxWritesPerReport bounds the API writes the manager makes for one
// report from creation to Completed, progress excluded: the cleanup
// finalizer, the Job, its JobCreated event, the status as Pending, with its
// first attempt, as Processing and as Completed, and the ReportCompleted
// event.
const maxWritesPerReport = 8

var _ = Describe("ReportRequest controller, with Jobs run by the local executor", func() {
	var h *reportHarness

	It("runs a report to Completed in a few writes, and writes nothing on a resync", func() {
		h = newReportHarness(reportHarnessOptions{syncPeriod: 2 * time.Second})
		h.readyDefinition(fakeDefinition("fake"))
		before := h.writes.count()
		checks := h.checker.callCount()

		h.create(reportRequest("q1", "fake", map[string]string{"rows": "40", "quiet": "true"}))
		done := h.waitForPhase("q1", v1alpha1.PhaseCompleted, 30*time.Second)

		key := storage.ReportKey(h.ns, "q1", done.UID, v1alpha1.FormatCSV)
		info, err := h.store.Head(h.ctx, key)
		Expect(err).NotTo(HaveOccurred())
		st := done.Status
		Expect(st.Result).To(Equal(&v1alpha1.ReportResult{
			URL: h.store.URI(key), Size: info.Size, Rows: 40, SHA256: "not-checked-here", ContentType: "text/csv",
		}))
		Expect([]any{st.Progress, st.Rows, st.Bytes, st.Attempts, st.JobName, st.ErrorMessage, st.ObservedGeneration}).
			To(Equal([]any{int32(100), int64(40), info.Size, int32(1), JobName(done), "", done.Generation}))
		Expect(st.StartedAt).NotTo(BeNil())
		Expect(st.CompletedAt).NotTo(BeNil())
		Expect(st.CompletedAt.Before(st.StartedAt)).To(BeFalse())
		Expect(st.EstimatedCompletion).To(BeNil())
		for _, typ := range []string{v1alpha1.ConditionValid, v1alpha1.ConditionReady} {
			c := meta.FindStatusCondition(st.Conditions, typ)
			Expect(c).NotTo(BeNil(), typ)
			Expect(c.Status).To(Equal(metav1.ConditionTrue), typ)
			Expect(c.ObservedGeneration).To(Equal(done.Generation), typ)
		}

		jobs := h.jobs()
		Expect(jobs).To(HaveLen(1))
		job := jobs[0]
		Expect(metav1.IsControlledBy(&job, done)).To(BeTrue())
		Expect(job.Labels).To(HaveKeyWithValue(v1alpha1.LabelRequest, "q1"))
		Expect(job.Labels).To(HaveKeyWithValue(v1alpha1.LabelRequesterHash, RequesterHash("alice@example.com")))
		Expect(job.Spec.ManagedBy).To(Equal(ptr.To(v1alpha1.ExecutorManagedBy)))

		By("counting the writes from creation to Completed")
		Eventually(func(g Gomega) {
			events := h.events("q1")
			g.Expect(events[EventJobCreated]).To(HaveLen(1))
			g.Expect(events[EventReportCompleted]).To(HaveLen(1))
			g.Expect(events[EventReportCompleted][0].Type).To(Equal(corev1.EventTypeNormal))
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		writes := h.writes.list()[before:]
		AddReportEntry("API writes for one report, creation to Completed", describeWrites(writes))
		GinkgoWriter.Println("API writes for one report, creation to Completed:", describeWrites(writes))
		Expect(len(writes)).To(BeNumerically("<=", maxWritesPerReport), describeWrites(writes))

		By("resyncing the cache, which must write nothing")
		after, reconciles := h.writes.count(), reconcileTotal(RequestControllerName)
		Eventually(func() float64 { return reconcileTotal(RequestControllerName) }, 10*time.Second, 100*time.Millisecond).
			Should(BeNumerically(">=", reconciles+2), "the cache resyncs every 2s")
		Expect(h.writes.list()[after:]).To(BeEmpty())
		Expect(h.checker.callCount()).To(Equal(checks), "a resync must not check the definition again")
	})

	It("copies progress, never backwards within an attempt and at most once a second", func() {
		h = newReportHarness(reportHarnessOptions{progressInterval: time.Second})
		h.readyDefinition(fakeDefinition("fake"))
		w := watchRequest(h, "q2")
		h.create(reportRequest("q2", "fake", map[string]string{"steps": "5,20,15,40,60,80,95", "stepMs": "300"}))
		h.waitForPhase("q2", v1alpha1.PhaseCompleted, 30*time.Second)
		seen := w.stop()

		// Progress writes: the statuses whose progress moved. Becoming
		// Processing at 0% is a phase change, written at once, not one.
		var changes []observation
		var last int32
		for _, o := range seen {
			if o.status.Phase != v1alpha1.PhaseProcessing || o.status.Progress == last {
				continue
			}
			Expect(o.status.Progress).To(BeNumerically(">", last), "progress went backwards: %v", describeProgress(seen))
			changes = append(changes, o)
			last = o.status.Progress
		}
		Expect(len(changes)).To(BeNumerically(">=", 2), "progress while Processing: %v", describeProgress(seen))
		Expect(len(changes)).To(BeNumerically("<", 7), "7 steps in 2.1s must be throttled: %v", describeProgress(seen))
		for i := 1; i < len(changes); i++ {
			Expect(changes[i].at.Sub(changes[i-1].at)).To(BeNumerically(">=", 800*time.Millisecond),
				"two progress writes less than the 1s interval apart: %v", describeProgress(seen))
		}
		Expect(seen).To(ContainElement(Satisfy(func(o observation) bool {
			return o.status.EstimatedCompletion != nil && o.status.Progress > 0 && o.status.Progress < 100
		})), "an estimated completion while processing")
	})

	It("retries a failed attempt, whose progress the retry starts again, then succeeds", func() {
		h = newReportHarness(reportHarnessOptions{progressInterval: 100 * time.Millisecond})
		h.readyDefinition(fakeDefinition("fake"))
		w := watchRequest(h, "q3")
		h.create(reportRequest("q3", "fake", map[string]string{"failAttempts": "1", "code": "1", "steps": "10,50", "stepMs": "700"}))
		done := h.waitForPhase("q3", v1alpha1.PhaseCompleted, 30*time.Second)
		seen := w.stop()

		Expect(done.Status.Attempts).To(Equal(int32(2)))
		first := indexOf(seen, func(o observation) bool { return o.status.Attempts == 1 && o.status.Progress == 50 })
		Expect(first).To(BeNumerically(">=", 0), "attempt 1 reached 50%%: %v", describeProgress(seen))
		retry := indexOf(seen[first:], func(o observation) bool { return o.status.Attempts == 2 })
		Expect(retry).To(BeNumerically(">=", 0), "a second attempt: %v", describeProgress(seen))
		Expect(seen[first+retry].status.Progress).To(BeNumerically("<", 50), "the retry starts again: %v", describeProgress(seen))

		job := h.jobs()[0]
		pods := h.pods(&job)
		Expect(pods).To(HaveLen(2))
		failed := terminatedState(&pods[0])
		if pods[0].Status.Phase != corev1.PodFailed {
			failed = terminatedState(&pods[1])
		}
		Expect(failed.ExitCode).To(Equal(int32(1)))
		Expect(failed.Message).To(Equal("fakegen failed on purpose with exit code 1"))
	})

	It("fails at once on exit code 3, in the generator's words, without a retry", func() {
		h = newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("q4", "fake", map[string]string{"mode": "exit", "code": "3", "errorMessage": "startDate must not be after endDate"}))
		done := h.waitForPhase("q4", v1alpha1.PhaseFailed, 30*time.Second)

		Expect(done.Status.ErrorMessage).To(Equal("startDate must not be after endDate"))
		Expect(done.Status.Attempts).To(Equal(int32(1)))
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonPermanentFailure))
		job := h.jobs()[0]
		Expect(h.pods(&job)).To(HaveLen(1))
		Expect(jobCondition(&job, batchv1.JobFailed).Reason).To(Equal(batchv1.JobReasonPodFailurePolicy))
		Eventually(func(g Gomega) {
			failed := h.events("q4")[EventReportFailed]
			g.Expect(failed).To(HaveLen(1))
			g.Expect(failed[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(failed[0].Note).To(Equal("startDate must not be after endDate"))
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	It("retries a panic (exit code 2) and names it when the retries are used up", func() {
		h = newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		rr := reportRequest("q5", "fake", map[string]string{"mode": "panic"})
		rr.Spec.Retries = ptr.To[int32](1)
		h.create(rr)
		done := h.waitForPhase("q5", v1alpha1.PhaseFailed, 30*time.Second)

		Expect(done.Status.Attempts).To(Equal(int32(2)))
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonBackoffLimitExceeded))
		Expect(done.Status.ErrorMessage).To(HavePrefix("The report failed on all 2 attempts. The last attempt: The generator stopped with exit code 2: "))
		Expect(done.Status.ErrorMessage).To(ContainSubstring("panic: fakegen: asked to panic"))
	})

	It("fails a report that runs past its timeout, killing its process", func() {
		h = newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		rr := reportRequest("q6", "fake", map[string]string{"mode": "sleep"})
		rr.Spec.TimeoutSeconds = ptr.To[int64](2)
		h.create(rr)
		done := h.waitForPhase("q6", v1alpha1.PhaseFailed, 30*time.Second)

		Expect(done.Status.ErrorMessage).To(Equal("The report did not finish within its time limit of 2s."))
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonDeadlineExceeded))
		job := h.jobs()[0]
		pods := h.pods(&job)
		Expect(pods).To(HaveLen(1))
		Expect(terminatedState(&pods[0]).ExitCode).To(Equal(int32(137)), "killed with SIGKILL")
	})

	It("rejects a result the generator reports for another key", func() {
		h = newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("q7", "fake", map[string]string{"forgeKey": "true"}))
		done := h.waitForPhase("q7", v1alpha1.PhaseFailed, 30*time.Second)

		Expect(done.Status.Result).To(BeNil())
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonResultRejected))
		Expect(done.Status.ErrorMessage).To(ContainSubstring("reported another report's file"))
	})

	It("never creates the Job of a finished report again, and fails one whose Job is deleted mid-run", func() {
		h = newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("q8", "fake", nil))
		h.waitForPhase("q8", v1alpha1.PhaseCompleted, 30*time.Second)
		job := h.jobs()[0]
		Expect(k8sClient.Delete(h.ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(h.jobs, 10*time.Second).Should(BeEmpty())
		Consistently(h.jobs, 3*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Expect(h.get("q8").Status.Phase).To(Equal(v1alpha1.PhaseCompleted))

		h.create(reportRequest("q9", "fake", map[string]string{"mode": "sleep"}))
		h.waitForPhase("q9", v1alpha1.PhaseProcessing, 30*time.Second)
		running := h.jobs()[0]
		Expect(k8sClient.Delete(h.ctx, &running, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		done := h.waitForPhase("q9", v1alpha1.PhaseFailed, 30*time.Second)
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonJobDeleted))
		Consistently(h.jobs, 3*time.Second, 100*time.Millisecond).Should(BeEmpty())
	})

	It("survives a manager restart mid-run: one Job, nothing lost", func() {
		h = newReportHarness(reportHarnessOptions{progressInterval: 100 * time.Millisecond})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("q10", "fake", map[string]string{"steps": "10,30,60,90", "stepMs": "800"}))
		var before *v1alpha1.ReportRequest
		Eventually(func(g Gomega) {
			before = h.get("q10")
			g.Expect(before.Status.Progress).To(BeNumerically(">=", 10))
		}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
		jobBefore := h.jobs()[0]

		h.stopManagerIfRunning()
		time.Sleep(1500 * time.Millisecond) // the generator runs on meanwhile
		h.startManager()

		done := h.waitForPhase("q10", v1alpha1.PhaseCompleted, 30*time.Second)
		jobs := h.jobs()
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].UID).To(Equal(jobBefore.UID))
		Expect(done.Status.Attempts).To(Equal(int32(1)))
		Expect(done.Status.StartedAt.Equal(before.Status.StartedAt)).To(BeTrue(), "startedAt kept across the restart")
		Expect(done.Status.Result).NotTo(BeNil())
	})
})

var _ = Describe("ReportRequest controller, before any Job", func() {
	It("fails invalid requests, naming what to fix, without a Job or a retry loop", func() {
		h := newReportHarness(reportHarnessOptions{})
		h.readyDefinition(salesReportDefinition())
		cases := []struct {
			name, typ string
			format    v1alpha1.ReportFormat
			params    map[string]string
			reason    string
			mentions  string
		}{
			{"missing", "sales", "", map[string]string{"endDate": "2025-01-31"}, ReasonInvalidParameters, `parameter "startDate" is required`},
			{"malformed", "sales", "", map[string]string{"startDate": "31/01/2025", "endDate": "2025-01-31"}, ReasonInvalidParameters, `"startDate"`},
			{"unknown", "sales", "", map[string]string{"startDate": "2025-01-01", "endDate": "2025-01-31", "colour": "red"}, ReasonInvalidParameters, `unknown parameter "colour"`},
			{"out-of-range", "sales", "", map[string]string{"startDate": "2020-01-01", "endDate": "2025-01-31"}, ReasonInvalidParameters, `"startDate"`},
			{"rule", "sales", "", map[string]string{"startDate": "2025-02-01", "endDate": "2025-01-31"}, ReasonInvalidParameters, "startDate must not be after endDate"},
			{"format", "sales", v1alpha1.FormatXLSX, map[string]string{"startDate": "2025-01-01", "endDate": "2025-01-31"}, ReasonFormatNotAllowed, "Request one of: csv, jsonl."},
			{"type", "no-such-type", "", nil, ReasonUnknownType, `Report type "no-such-type" does not exist`},
		}
		for _, tc := range cases {
			rr := reportRequest(tc.name, tc.typ, tc.params)
			if tc.format != "" {
				rr.Spec.Format = tc.format
			}
			h.create(rr)
		}
		for _, tc := range cases {
			done := h.waitForPhase(tc.name, v1alpha1.PhaseFailed, 10*time.Second)
			valid := meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionValid)
			Expect(valid.Status).To(Equal(metav1.ConditionFalse), tc.name)
			Expect(valid.Reason).To(Equal(tc.reason), tc.name)
			Expect(done.Status.ErrorMessage).To(ContainSubstring(tc.mentions), tc.name)
			Eventually(func(g Gomega) {
				invalid := h.events(tc.name)[EventReportInvalid]
				g.Expect(invalid).To(HaveLen(1))
				g.Expect(invalid[0].Type).To(Equal(corev1.EventTypeWarning))
				g.Expect(invalid[0].Note).To(ContainSubstring(tc.mentions))
			}, 10*time.Second, 100*time.Millisecond).Should(Succeed(), tc.name)
		}
		Expect(h.jobs()).To(BeEmpty())
		settled := h.writes.count()
		Consistently(h.writes.count, 3*time.Second, 100*time.Millisecond).Should(Equal(settled), "no retry loop")
	})

	It("fails a request whose definition is not Ready, and waits for one not checked yet", func() {
		h := newReportHarness(reportHarnessOptions{})
		broken := fakeDefinition("broken")
		broken.Spec.Query = "select * from broken"
		h.create(broken)
		h.create(reportRequest("on-broken", "broken", nil))
		done := h.waitForPhase("on-broken", v1alpha1.PhaseFailed, 10*time.Second)
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionValid).Reason).To(Equal(ReasonDefinitionNotReady))
		Expect(done.Status.ErrorMessage).To(ContainSubstring(`relation "broken" does not exist`))

		h.checker.setTransient(true)
		h.create(fakeDefinition("later"))
		h.create(reportRequest("on-later", "later", nil))
		Eventually(func(g Gomega) {
			rr := h.get("on-later")
			valid := meta.FindStatusCondition(rr.Status.Conditions, v1alpha1.ConditionValid)
			g.Expect(valid).NotTo(BeNil())
			g.Expect(valid.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(valid.Reason).To(Equal(ReasonWaitingForDefinition))
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		Consistently(func() v1alpha1.ReportPhase { return h.get("on-later").Status.Phase }, 2*time.Second).Should(Equal(v1alpha1.PhasePending))
		Expect(h.jobs()).To(BeEmpty())

		By("the definition becoming Ready lets the waiting request run")
		h.checker.setTransient(false)
		def := &v1alpha1.ReportDefinition{}
		Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "later"}, def)).To(Succeed())
		def.Spec.Description = "edited, so it is checked again"
		Expect(k8sClient.Update(h.ctx, def)).To(Succeed())
		h.waitForPhase("on-later", v1alpha1.PhaseCompleted, 30*time.Second)
		Expect(h.jobs()).To(HaveLen(1))
	})
})

// salesReportDefinition has the sample sales type's parameters and rule.
func salesReportDefinition() *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "sales"},
		Spec: v1alpha1.ReportDefinitionSpec{
			Query: "select id from orders where created_at >= @startDate and created_at < @endDate",
			Parameters: []v1alpha1.ReportParameter{
				{Name: "startDate", Type: v1alpha1.ParameterDate, Required: true, Min: ptr.To("2024-01-01")},
				{Name: "endDate", Type: v1alpha1.ParameterDate, Required: true},
			},
			Rules:   []v1alpha1.ReportRule{{Expression: "params.startDate <= params.endDate", Message: "startDate must not be after endDate"}},
			Formats: []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatJSONL},
		},
	}
}

// observation is one status of a request as a watch delivered it.
type observation struct {
	at     time.Time
	status v1alpha1.ReportRequestStatus
}

// requestWatch records every status of one request.
type requestWatch struct {
	w    watch.Interface
	mu   sync.Mutex
	seen []observation
	done chan struct{}
}

// watchRequest starts recording a request's statuses (it may not exist yet).
func watchRequest(h *reportHarness, name string) *requestWatch {
	w, err := k8sClient.Watch(context.Background(), &v1alpha1.ReportRequestList{}, client.InNamespace(h.ns),
		client.MatchingFields{"metadata.name": name})
	Expect(err).NotTo(HaveOccurred())
	rw := &requestWatch{w: w, done: make(chan struct{})}
	go func() {
		defer close(rw.done)
		for ev := range w.ResultChan() {
			if rr, ok := ev.Object.(*v1alpha1.ReportRequest); ok {
				rw.mu.Lock()
				rw.seen = append(rw.seen, observation{at: time.Now(), status: *rr.Status.DeepCopy()})
				rw.mu.Unlock()
			}
		}
	}()
	DeferCleanup(w.Stop)
	return rw
}

// stop ends the watch and returns what it saw.
func (rw *requestWatch) stop() []observation {
	rw.w.Stop()
	Eventually(rw.done, 5*time.Second).Should(BeClosed())
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]observation(nil), rw.seen...)
}

// describeProgress summarises observations for failure messages.
func describeProgress(seen []observation) []string {
	out := make([]string, len(seen))
	for i, o := range seen {
		out[i] = fmt.Sprintf("%s:%d%%#%d@%s", o.status.Phase, o.status.Progress, o.status.Attempts, o.at.Format("05.000"))
	}
	return out
}

// indexOf is the index of the first observation matching, or -1.
func indexOf(seen []observation, match func(observation) bool) int {
	for i, o := range seen {
		if match(o) {
			return i
		}
	}
	return -1
}

// reconcileTotal is controller-runtime's count of reconciles of a
// controller in this process.
func reconcileTotal(controller string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var sum float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
