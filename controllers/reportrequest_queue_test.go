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
	"strings"
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

	"reportd.io/reportd/api/v1alpha1"
)

var _ = Describe("The queue", func() {
	It("admits a burst over both limits first come, first served, with one status write to queue each", func() {
		h := newReportHarness(reportHarnessOptions{
			handDriven: true, syncPeriod: time.Second,
			limits: Limits{MaxRunningJobs: 3, MaxRunningPerRequester: 2},
		})
		h.readyDefinition(fakeDefinition("fake"))
		admitted := watchJobCreations(h)

		By("a burst of eight requests from three people, made while the manager is down")
		h.stopManagerIfRunning()
		burst := []struct{ name, by string }{
			{"r01", "alice"}, {"r02", "alice"}, {"r03", "alice"}, {"r04", "bob"},
			{"r05", "carol"}, {"r06", "bob"}, {"r07", "alice"}, {"r08", "carol"},
		}
		for _, r := range burst {
			rr := reportRequest(r.name, "fake", nil)
			rr.Spec.RequestedBy = r.by + "@example.com"
			h.create(rr)
		}
		before := h.writes.count()
		h.startManager()

		By("three start: alice's two, and bob's; alice's third waits for her, the rest for a slot")
		// At once, so in whatever order they are reconciled.
		Eventually(admitted, 10*time.Second, 50*time.Millisecond).Should(ConsistOf("r01", "r02", "r04"))
		// alice's r07 is held by both limits: hers is named.
		expectQueued := map[string]string{"r03": ReasonRequesterLimit, "r05": ReasonManagerLimit, "r06": ReasonManagerLimit,
			"r07": ReasonRequesterLimit, "r08": ReasonManagerLimit}
		Eventually(func(g Gomega) {
			for name, reason := range expectQueued {
				rr := h.get(name)
				g.Expect(rr.Status.Phase).To(Equal(v1alpha1.PhasePending), name)
				queued := meta.FindStatusCondition(rr.Status.Conditions, v1alpha1.ConditionQueued)
				g.Expect(queued).NotTo(BeNil(), name)
				g.Expect([]any{queued.Status, queued.Reason}).To(Equal([]any{metav1.ConditionTrue, reason}), name)
				g.Expect(meta.FindStatusCondition(rr.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonQueued), name)
			}
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(meta.FindStatusCondition(h.get("r01").Status.Conditions, v1alpha1.ConditionQueued)).To(BeNil(),
			"a request that never waited carries no Queued condition")
		waited := h.writes.count()
		Consistently(admitted, 2500*time.Millisecond, 100*time.Millisecond).Should(HaveLen(3), "nothing more starts while all run")
		Expect(h.writes.list()[waited:]).To(BeEmpty(), "queued requests are not written again while they wait (the cache resyncs every second)")

		By("each finished Job letting in the next one the limits allow")
		for _, step := range []struct{ finish, next string }{
			{"r04", "r05"}, // bob's ends: alice's r03 still waits for her, carol's r05 is next
			{"r01", "r03"}, // one of alice's ends: her r03 is next
			{"r02", "r06"}, // r06 is bob's
			{"r05", "r07"}, // alice runs only r03 now
			{"r03", "r08"},
		} {
			h.failJob(h.waitForJobOf(step.finish))
			Eventually(admitted, 10*time.Second, 50*time.Millisecond).Should(ContainElement(step.next), "after %s ends", step.finish)
			Consistently(func() int { return len(admitted()) }, 500*time.Millisecond, 50*time.Millisecond).
				Should(Equal(len(admitted())), "one in for one out")
		}
		Expect(admitted()[3:]).To(Equal([]string{"r05", "r03", "r06", "r07", "r08"}))
		for name := range expectQueued {
			queued := meta.FindStatusCondition(h.get(name).Status.Conditions, v1alpha1.ConditionQueued)
			Expect([]any{queued.Status, queued.Reason}).To(Equal([]any{metav1.ConditionFalse, ReasonAdmitted}), name)
		}

		By("counting the status writes of each request")
		for _, name := range []string{"r06", "r07", "r08"} {
			h.failJob(h.waitForJobOf(name))
		}
		for _, r := range burst {
			h.waitForPhase(r.name, v1alpha1.PhaseFailed, 10*time.Second)
		}
		writes := h.writes.list()[before:]
		for _, r := range burst {
			status, queuedWrites := statusWrites(writes, h.ns, r.name)
			_, wasQueued := expectQueued[r.name]
			// Pending with its Job, then Failed; a queued request once more.
			bound, queued := 2, 0
			if wasQueued {
				bound, queued = 3, 1
			}
			Expect(status).To(HaveLen(bound), "%s: %s", r.name, describeWrites(status))
			Expect(queuedWrites).To(Equal(queued), "%s: %s", r.name, describeWrites(status))
		}
	})

	// Eight workers reconcile the burst side by side: admission must be
	// decided one request at a time however many reconcile at once.
	It("never runs more than the limits allow, however many workers reconcile a burst", func() {
		h := newReportHarness(reportHarnessOptions{limits: Limits{MaxRunningJobs: 3, MaxRunningPerRequester: 1}, workers: 8})
		h.readyDefinition(fakeDefinition("fake"))
		peaks := watchRunningJobs(h)
		var names []string
		for i := range 16 {
			rr := reportRequest(fmt.Sprintf("b%02d", i), "fake", map[string]string{"steps": "10", "stepMs": "200"})
			rr.Spec.RequestedBy = []string{"alice", "bob", "carol", "dave"}[i%4] + "@example.com"
			h.create(rr)
			names = append(names, rr.Name)
		}
		for _, name := range names {
			h.waitForPhase(name, v1alpha1.PhaseCompleted, 90*time.Second)
		}
		total, perRequester := peaks()
		Expect(total).To(Equal(3), "the most Jobs running at once")
		Expect(perRequester).To(Equal(1), "the most Jobs of one requester running at once")
		Expect(h.jobs()).To(HaveLen(16), "one Job per report")
	})
})

// watchJobCreations returns a function listing the requests whose Jobs
// were created in the namespace, in the order the API server created them.
func watchJobCreations(h *reportHarness) func() []string {
	var mu sync.Mutex
	var order []string
	watchJobs(h, func(ev watch.Event, job *batchv1.Job) {
		if ev.Type == watch.Added {
			mu.Lock()
			order = append(order, job.Labels[v1alpha1.LabelRequest])
			mu.Unlock()
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), order...)
	}
}

// watchRunningJobs follows the namespace's Jobs in the API server's order
// and returns a function telling the most unfinished at once, in all and of
// one requester.
func watchRunningJobs(h *reportHarness) func() (int, int) {
	var mu sync.Mutex
	running := map[string]string{} // Job name to requester hash
	peakTotal, peakRequester := 0, 0
	watchJobs(h, func(ev watch.Event, job *batchv1.Job) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Type == watch.Deleted || jobFinished(job) {
			delete(running, job.Name)
			return
		}
		running[job.Name] = job.Labels[v1alpha1.LabelRequesterHash]
		byRequester := map[string]int{}
		for _, r := range running {
			byRequester[r]++
			peakRequester = max(peakRequester, byRequester[r])
		}
		peakTotal = max(peakTotal, len(running))
	})
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return peakTotal, peakRequester
	}
}

// watchJobs calls seen for each watch event of the namespace's Jobs until
// the spec ends.
func watchJobs(h *reportHarness, seen func(watch.Event, *batchv1.Job)) {
	w, err := k8sClient.Watch(h.ctx, &batchv1.JobList{}, client.InNamespace(h.ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			if job, ok := ev.Object.(*batchv1.Job); ok {
				seen(ev, job)
			}
		}
	}()
}

// failJob ends a Job as the job controller does when its retries are used
// up: failed, with FailureTarget and Failed.
func (h *reportHarness) failJob(job *batchv1.Job) {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	h.setJobStatus(job.Name, func(st *batchv1.JobStatus) {
		st.StartTime, st.Active, st.Ready, st.Failed = ptr.To(now), 0, ptr.To[int32](0), 1
		for _, typ := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
			st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue,
				Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit", LastTransitionTime: now})
		}
	})
}

// statusWrites picks the status writes of one request from the writes,
// and counts those that put it in the queue (a Queued condition that is
// True: a merge patch carries the whole conditions list).
func statusWrites(writes []string, ns, name string) ([]string, int) {
	prefix := "PATCH /apis/" + v1alpha1.GroupVersion.String() + "/namespaces/" + ns + "/reportrequests/" + name + "/status "
	var out []string
	queued := 0
	for _, w := range writes {
		if !strings.HasPrefix(w, prefix) {
			continue
		}
		out = append(out, w)
		if strings.Contains(w, `"reason":"`+ReasonManagerLimit+`"`) || strings.Contains(w, `"reason":"`+ReasonRequesterLimit+`"`) {
			queued++
		}
	}
	return out, queued
}
