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

package executor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("Local executor", func() {
	It("runs a Job to Complete in the job controller's sequence, with the pod as the kubelet writes it", func() {
		h := newExecHarness()
		statuses := watchJobStatuses(h, "ok")
		job := h.job("ok", `sleep 0.3; exit 0`)
		done := h.waitFinished(job, 20*time.Second)

		Expect(jobCond(done, batchv1.JobComplete)).NotTo(BeNil())
		Expect(done.Status.Succeeded).To(Equal(int32(1)))
		Expect(done.Status.CompletionTime).NotTo(BeNil())
		seen := statuses()
		first := seen[0]
		Expect(first.StartTime).NotTo(BeNil())
		Expect(first.Active).To(Equal(int32(1)))
		Expect(seen).To(ContainElement(Satisfy(func(st batchv1.JobStatus) bool { return ptr.Deref(st.Ready, 0) == 1 })), "ready once started")
		Expect(seen).To(ContainElement(Satisfy(func(st batchv1.JobStatus) bool {
			return hasCondition(&st, batchv1.JobSuccessCriteriaMet) && !hasCondition(&st, batchv1.JobComplete)
		})), "SuccessCriteriaMet before Complete")

		pods := h.pods(job)
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].Status.Phase).To(Equal(corev1.PodSucceeded))
		Expect(pods[0].Name).To(HavePrefix("ok-1-"))
		Expect(metav1.IsControlledBy(&pods[0], done)).To(BeTrue())
		t := pods[0].Status.ContainerStatuses[0].State.Terminated
		Expect(t.ExitCode).To(Equal(int32(0)))
		Expect(t.Reason).To(Equal("Completed"))
	})

	It("gives the process the pod's environment: values, the downward API and Secrets, nothing of its own", func() {
		h := newExecHarness()
		Expect(k8sClient.Create(h.ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: h.ns},
			StringData: map[string]string{"url": "postgres://reader@db/app"},
		})).To(Succeed())
		GinkgoT().Setenv("REPORTD_LEAK", "the executor's own environment")
		out := h.path("env.out")
		job := h.job("env", `printf '%s|%s|%s|%s|%s|%s' "$NS" "$POD" "$JOB" "$URL" "$PLAIN" "${REPORTD_LEAK:-none}" > `+out, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "JOB", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
				{Name: "URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "url"}}},
				{Name: "PLAIN", Value: "$(NS)-x"},
			}
		})
		h.waitFinished(job, 20*time.Second)
		pod := h.pods(job)[0]
		Expect(readFile(out)).To(Equal(strings.Join([]string{h.ns, pod.Name, "env", "postgres://reader@db/app", h.ns + "-x", "none"}, "|")))
	})

	It("retries a failed attempt after a backoff, then succeeds", func() {
		h := newExecHarness()
		marker := h.path("tried")
		job := h.job("retry", `if [ -e `+marker+` ]; then exit 0; fi; touch `+marker+`; exit 1`)
		done := h.waitFinished(job, 20*time.Second)
		Expect(jobCond(done, batchv1.JobComplete)).NotTo(BeNil())
		Expect([]int32{done.Status.Failed, done.Status.Succeeded}).To(Equal([]int32{1, 1}))
		pods := h.pods(job)
		Expect(pods).To(HaveLen(2))
		Expect(pods[0].Status.Phase).To(Equal(corev1.PodFailed))
		Expect(pods[1].Status.Phase).To(Equal(corev1.PodSucceeded))
		gap := pods[1].CreationTimestamp.Sub(pods[0].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time)
		Expect(gap).To(BeNumerically(">=", 0), "the retry starts after the failure")
	})

	It("fails the Job at once on exit code 3 (FailJob), with the termination message on the pod", func() {
		h := newExecHarness()
		job := h.job("permanent", `printf 'bad parameters' > "$REPORTD_TERMINATION_LOG"; exit 3`)
		done := h.waitFinished(job, 20*time.Second)
		failed := jobCond(done, batchv1.JobFailed)
		Expect(failed).NotTo(BeNil())
		Expect(failed.Reason).To(Equal(batchv1.JobReasonPodFailurePolicy))
		pods := h.pods(job)
		Expect(pods).To(HaveLen(1))
		Expect(failed.Message).To(Equal("Container generate for pod " + h.ns + "/" + pods[0].Name + " failed with exit code 3 matching FailJob rule at index 0"))
		Expect(jobCond(done, batchv1.JobFailureTarget)).NotTo(BeNil())
		Expect(done.Status.Failed).To(Equal(int32(1)))
		t := pods[0].Status.ContainerStatuses[0].State.Terminated
		Expect([]any{t.ExitCode, t.Reason, t.Message}).To(Equal([]any{int32(3), "Error", "bad parameters"}))
	})

	It("fails the Job when its retries are used up, the last output as the message", func() {
		h := newExecHarness()
		job := h.job("crash", `echo "panic: boom" >&2; exit 2`, func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](1) })
		done := h.waitFinished(job, 20*time.Second)
		failed := jobCond(done, batchv1.JobFailed)
		Expect(failed.Reason).To(Equal(batchv1.JobReasonBackoffLimitExceeded))
		Expect(failed.Message).To(Equal("Job has reached the specified backoff limit"))
		Expect(done.Status.Failed).To(Equal(int32(2)))
		pods := h.pods(job)
		Expect(pods).To(HaveLen(2))
		Expect(pods[1].Status.ContainerStatuses[0].State.Terminated.Message).To(Equal("panic: boom"), "FallbackToLogsOnError")
	})

	It("kills the process group at the deadline and fails the Job with DeadlineExceeded", func() {
		h := newExecHarness()
		pidFile := h.path("pid")
		statuses := watchJobStatuses(h, "slow")
		job := h.job("slow", `sleep 60 & echo $! > `+pidFile+`; wait`, func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](2) })
		done := h.waitFinished(job, 20*time.Second)
		failed := jobCond(done, batchv1.JobFailed)
		Expect(failed.Reason).To(Equal(batchv1.JobReasonDeadlineExceeded))
		Expect(failed.Message).To(Equal("Job was active longer than specified deadline"))
		Expect(done.Status.Failed).To(Equal(int32(1)))
		Expect(statuses()).To(ContainElement(Satisfy(func(st batchv1.JobStatus) bool {
			return hasCondition(&st, batchv1.JobFailureTarget) && !hasCondition(&st, batchv1.JobFailed) && ptr.Deref(st.Terminating, 0) == 1
		})), "terminating while the attempt is killed")
		Expect(h.pods(job)[0].Status.ContainerStatuses[0].State.Terminated.ExitCode).To(Equal(int32(137)))
		expectGone(readFile(pidFile))
	})

	It("keeps a pod Pending while its Secret is missing, and runs it once the Secret exists", func() {
		h := newExecHarness()
		job := h.job("needs-secret", `test "$URL" = postgres://x`, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "URL", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}, Key: "url"}}}}
		})
		Eventually(func(g Gomega) {
			pods := h.pods(job)
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodPending))
			g.Expect(pods[0].Status.ContainerStatuses).To(HaveLen(1))
			w := pods[0].Status.ContainerStatuses[0].State.Waiting
			g.Expect(w).NotTo(BeNil())
			g.Expect([]string{w.Reason, w.Message}).To(Equal([]string{"CreateContainerConfigError", `secret "later" not found`}))
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(k8sClient.Create(h.ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "later", Namespace: h.ns}, StringData: map[string]string{"url": "postgres://x"},
		})).To(Succeed())
		done := h.waitFinished(job, 20*time.Second)
		Expect(jobCond(done, batchv1.JobComplete)).NotTo(BeNil())
		Expect(h.pods(job)).To(HaveLen(1), "the same attempt ran")
	})

	It("kills its processes when it stops, and after a restart replaces the lost attempt without counting it", func() {
		h := newExecHarness()
		marker, pidFile := h.path("started"), h.path("pid")
		job := h.job("restart", `if [ -e `+marker+` ]; then exit 0; fi; touch `+marker+`; sleep 60 & echo $! > `+pidFile+`; wait`)
		Eventually(func() string { return readFile(pidFile) }, 20*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())

		h.stopIfRunning()
		expectGone(readFile(pidFile))

		h.start()
		done := h.waitFinished(job, 20*time.Second)
		Expect(jobCond(done, batchv1.JobComplete)).NotTo(BeNil())
		Expect(done.Status.Failed).To(Equal(int32(0)), "a lost attempt is a disruption, ignored by the podFailurePolicy")
		pods := h.pods(job)
		Expect(pods).To(HaveLen(2))
		Expect(pods[0].Status.Phase).To(Equal(corev1.PodFailed))
		Expect(podConditionIs(&pods[0], corev1.DisruptionTarget, corev1.ConditionTrue)).To(BeTrue())
		Expect(pods[1].Status.Phase).To(Equal(corev1.PodSucceeded))
	})

	It("finishes a running pod that is deleted as the kubelet does: its process killed, then the pod removed", func() {
		h := newExecHarness()
		pidFile := h.path("pid")
		job := h.job("deleted", `sleep 60 & echo $! > `+pidFile+`; wait`)
		Eventually(func() string { return readFile(pidFile) }, 20*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())
		pod := h.pods(job)[0]
		Expect(k8sClient.Delete(h.ctx, h.get(job), client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		// What the garbage collector does once the Job is gone: a graceful
		// delete, which for a pod on a node waits for its kubelet.
		Expect(k8sClient.Delete(h.ctx, &pod)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(&pod), &corev1.Pod{}))
		},
			20*time.Second, 50*time.Millisecond).Should(BeTrue())
		expectGone(readFile(pidFile))
	})

	It("leaves Jobs without its spec.managedBy alone", func() {
		h := newExecHarness()
		job := h.job("not-mine", `exit 0`, func(j *batchv1.Job) { j.Spec.ManagedBy = nil })
		Consistently(func() []corev1.Pod { return h.pods(job) }, 2*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Expect(h.get(job).Status.StartTime).To(BeNil())
	})
})

// jobCond is the Job's True condition of a type, or nil.
func jobCond(job *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	return findCondition(&job.Status, typ)
}

// watchJobStatuses records every status a Job shows, from before its
// creation; the returned function gives what was seen so far.
func watchJobStatuses(h *execHarness, name string) func() []batchv1.JobStatus {
	w, err := k8sClient.Watch(context.Background(), &batchv1.JobList{}, client.InNamespace(h.ns),
		client.MatchingFields{"metadata.name": name})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	var seen []batchv1.JobStatus
	go func() {
		for ev := range w.ResultChan() {
			if job, ok := ev.Object.(*batchv1.Job); ok && job.Status.StartTime != nil {
				mu.Lock()
				seen = append(seen, *job.Status.DeepCopy())
				mu.Unlock()
			}
		}
	}()
	return func() []batchv1.JobStatus {
		mu.Lock()
		defer mu.Unlock()
		return append([]batchv1.JobStatus(nil), seen...)
	}
}

// expectGone waits until the process whose pid is in pidText has exited
// (a zombie waiting for init counts as gone).
func expectGone(pidText string) {
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	Expect(err).NotTo(HaveOccurred(), "pid %q", pidText)
	Eventually(func() bool {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		return err != nil || strings.Contains(string(stat), ") Z ")
	}, 10*time.Second, 50*time.Millisecond).Should(BeTrue(), "process %d outlived its attempt", pid)
}
