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
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// These specs run no executor: they write the Job's status, its pods and
// its annotations themselves, in the sequences the job controller, the
// kubelet and the generator write them, to hold the world at a precise
// moment.
var _ = Describe("ReportRequest controller, with Job status driven by hand", func() {
	It("names what the pods tell, loses nothing across a restart, and completes on a verified result", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true, progressInterval: 100 * time.Millisecond})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("h1", "fake", nil))
		job := h.waitForJob()
		Eventually(func() string { return h.get("h1").Status.JobName }, 10*time.Second).Should(Equal(job.Name))

		By("a pod that cannot pull its image")
		h.setJobStatus(job.Name, func(st *batchv1.JobStatus) {
			st.StartTime, st.Active, st.Ready = ptr.To(metav1.Now()), 1, ptr.To[int32](0)
		})
		pod := h.createPod(job, "h1-1-abcde")
		h.setPodStatus(pod, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: GeneratorContainer, Image: "reportd:test",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "reportd:test"`}},
		}}})
		Eventually(func(g Gomega) {
			rr := h.get("h1")
			g.Expect(rr.Status.Phase).To(Equal(v1alpha1.PhasePending))
			g.Expect(rr.Status.Attempts).To(Equal(int32(1)))
			g.Expect(rr.Status.ErrorMessage).To(ContainSubstring(`the generator image "reportd:test" cannot be pulled (ImagePullBackOff`))
			g.Expect(meta.FindStatusCondition(rr.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonImagePullFailed))
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())

		By("the pod running and ready")
		started := metav1.NewTime(time.Now().Truncate(time.Second))
		h.setPodStatus(pod, corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: GeneratorContainer, Image: "reportd:test", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
		})
		h.setJobStatus(job.Name, func(st *batchv1.JobStatus) { st.Ready = ptr.To[int32](1) })
		processing := h.waitForPhase("h1", v1alpha1.PhaseProcessing, 10*time.Second)
		Expect(processing.Status.StartedAt).NotTo(BeNil())
		Eventually(func() string { return h.get("h1").Status.ErrorMessage }, 10*time.Second).Should(BeEmpty())

		By("progress written while the manager is down")
		h.stopManagerIfRunning()
		h.annotateJob(job.Name, v1alpha1.AnnotationProgress, v1alpha1.ProgressAnnotation{Attempt: pod.Name, Value: 40})
		h.annotateJob(job.Name, v1alpha1.AnnotationRows, v1alpha1.ProgressAnnotation{Attempt: pod.Name, Value: 4000})
		h.startManager()
		Eventually(func(g Gomega) {
			rr := h.get("h1")
			g.Expect(rr.Status.Progress).To(Equal(int32(40)))
			g.Expect(rr.Status.Rows).To(Equal(int64(4000)))
			g.Expect(rr.Status.StartedAt.Equal(processing.Status.StartedAt)).To(BeTrue())
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(h.jobs()).To(HaveLen(1))
		Expect(h.jobs()[0].UID).To(Equal(job.UID))

		By("the generator storing the file and the Job completing")
		rr := h.get("h1")
		key := storage.ReportKey(h.ns, "h1", rr.UID, v1alpha1.FormatCSV)
		info, err := h.store.Put(h.ctx, key, strings.NewReader("id\n1\n2\n"), storage.PutOptions{ContentType: "text/csv"})
		Expect(err).NotTo(HaveOccurred())
		h.annotateJob(job.Name, v1alpha1.AnnotationResult, v1alpha1.ResultAnnotation{
			Version: 1, Attempt: pod.Name, Key: key, URL: "s3://somewhere/else", Size: info.Size, Rows: 2, SHA256: "abc", ContentType: "text/csv",
		})
		completed := h.completeJob(job.Name, pod)
		done := h.waitForPhase("h1", v1alpha1.PhaseCompleted, 10*time.Second)
		Expect(done.Status.Result).To(Equal(&v1alpha1.ReportResult{
			URL: h.store.URI(key), Size: info.Size, Rows: 2, SHA256: "abc", ContentType: "text/csv",
		}), "the URL is the manager's, never the annotation's")
		Expect(done.Status.CompletedAt.Equal(completed.Status.CompletionTime)).To(BeTrue())
		Expect(done.Status.Attempts).To(Equal(int32(1)))
	})

	It("rejects a result for another key even when this report's file exists, and a file of another size", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true})
		h.readyDefinition(fakeDefinition("fake"))
		cases := map[string]func(key string, size int64) v1alpha1.ResultAnnotation{
			"forged": func(key string, size int64) v1alpha1.ResultAnnotation {
				return v1alpha1.ResultAnnotation{Version: 1, Key: h.ns + "/someone-else-12345678.csv", Size: size, Rows: 2}
			},
			"resized": func(key string, size int64) v1alpha1.ResultAnnotation {
				return v1alpha1.ResultAnnotation{Version: 1, Key: key, Size: size + 1, Rows: 2}
			},
		}
		for name, result := range cases {
			h.create(reportRequest(name, "fake", nil))
			job := h.waitForJobOf(name)
			rr := h.get(name)
			key := storage.ReportKey(h.ns, name, rr.UID, v1alpha1.FormatCSV)
			info, err := h.store.Put(h.ctx, key, strings.NewReader("id\n1\n2\n"), storage.PutOptions{})
			Expect(err).NotTo(HaveOccurred())
			h.setJobStatus(job.Name, func(st *batchv1.JobStatus) { st.StartTime, st.Active = ptr.To(metav1.Now()), 1 })
			pod := h.createPod(job, name+"-1-abcde")
			h.annotateJob(job.Name, v1alpha1.AnnotationResult, result(key, info.Size))
			h.completeJob(job.Name, pod)
			done := h.waitForPhase(name, v1alpha1.PhaseFailed, 10*time.Second)
			Expect(done.Status.Result).To(BeNil(), name)
			Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonResultRejected), name)
		}
	})
})

var _ = Describe("ReportRequest controller, with a Job it does not own", func() {
	It("fails the report with a Warning naming the Job instead of adopting it", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true})
		h.readyDefinition(fakeDefinition("fake"))
		h.stopManagerIfRunning()
		h.create(reportRequest("taken", "fake", nil))
		name := JobName(h.get("taken"))
		squatter := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "other", Image: "other:1"}},
			}}},
		}
		Expect(k8sClient.Create(h.ctx, squatter)).To(Succeed())
		h.startManager()

		done := h.waitForPhase("taken", v1alpha1.PhaseFailed, 10*time.Second)
		Expect(meta.FindStatusCondition(done.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(ReasonJobConflict))
		Expect(done.Status.ErrorMessage).To(ContainSubstring(`A Job named "` + name + `" already exists`))
		Eventually(func(g Gomega) {
			conflict := h.events("taken")[EventJobConflict]
			g.Expect(conflict).To(HaveLen(1))
			g.Expect(conflict[0].Type).To(Equal(corev1.EventTypeWarning))
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		job := &batchv1.Job{}
		Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(squatter), job)).To(Succeed())
		Expect(job.OwnerReferences).To(BeEmpty(), "someone else's Job is left alone")
	})
})

// waitForJob waits for the one Job of the namespace.
func (h *reportHarness) waitForJob() *batchv1.Job {
	var jobs []batchv1.Job
	Eventually(func() []batchv1.Job { jobs = h.jobs(); return jobs }, 10*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	return &jobs[0]
}

// waitForJobOf waits for the Job of a request.
func (h *reportHarness) waitForJobOf(name string) *batchv1.Job {
	job := &batchv1.Job{}
	Eventually(func(g Gomega) {
		rr := h.get(name)
		g.Expect(k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: JobName(rr)}, job)).To(Succeed())
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	return job
}

// setJobStatus changes a Job's status through the status subresource.
func (h *reportHarness) setJobStatus(name string, change func(*batchv1.JobStatus)) *batchv1.Job {
	job := &batchv1.Job{}
	Eventually(func() error {
		if err := k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, job); err != nil {
			return err
		}
		change(&job.Status)
		return k8sClient.Status().Update(h.ctx, job)
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	return job
}

// completeJob ends the pod and writes the job controller's two success steps.
func (h *reportHarness) completeJob(name string, pod *corev1.Pod) *batchv1.Job {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	h.setPodStatus(pod, corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: GeneratorContainer, Image: "reportd:test",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
	}}})
	h.setJobStatus(name, func(st *batchv1.JobStatus) {
		st.Active, st.Ready, st.Succeeded = 0, ptr.To[int32](0), 1
		st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue,
			Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: now})
	})
	return h.setJobStatus(name, func(st *batchv1.JobStatus) {
		st.CompletionTime = &now
		st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue,
			Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: now})
	})
}

// annotateJob merge-patches one annotation onto a Job, as the generator does.
func (h *reportHarness) annotateJob(name, key string, payload any) {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: v1alpha1.EncodeAnnotation(payload)}}})
	Expect(err).NotTo(HaveOccurred())
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}}
	Expect(k8sClient.Patch(h.ctx, job, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// createPod creates an attempt's pod for a Job as the job controller
// would: from its template, owned by it.
func (h *reportHarness) createPod(job *batchv1.Job, name string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: h.ns, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = "node-1"
	Expect(k8sClient.Create(h.ctx, pod)).To(Succeed())
	return pod
}

// setPodStatus writes a pod's status as the kubelet would.
func (h *reportHarness) setPodStatus(pod *corev1.Pod, status corev1.PodStatus) {
	Eventually(func() error {
		if err := k8sClient.Get(h.ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status = status
		return k8sClient.Status().Update(h.ctx, pod)
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}
