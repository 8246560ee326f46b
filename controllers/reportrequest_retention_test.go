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
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/notify"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// holdFinalizer keeps a pod in Terminating, as a kubelet still stopping
// its container does, until the spec removes it.
const holdFinalizer = "test.reportd.io/hold"

// These specs delete reports, by hand and when their time to live runs
// out. kube-controller-manager's garbage collector runs for them, as in a
// cluster: it deletes the pods of a deleted Job (envtest alone never does,
// and the cleanup finalizer waits for them) and, for a foreground
// deletion, the Job of a deleted request.
var _ = Describe("Deleting reports, with the garbage collector", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		gc, err := testsupport.StartGarbageCollector(ctx, testEnv)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(gc.Stop)
	}, NodeTimeout(2*time.Minute))

	It("stops a running report's Job, waits for its pods, then aborts its upload and lets the request go", func() {
		h := newReportHarness(reportHarnessOptions{s3: true})
		h.readyDefinition(fakeDefinition("fake"))
		By("a report in the middle of its upload")
		h.create(reportRequest("mid", "fake", map[string]string{"mode": "hangUpload"}))
		rr := h.waitForPhase("mid", v1alpha1.PhaseProcessing, 30*time.Second)
		key := storage.ReportKey(h.ns, "mid", rr.UID, v1alpha1.FormatCSV)
		Eventually(func() []string { return h.uploads(key) }, 30*time.Second, 100*time.Millisecond).
			Should(HaveLen(1), "the generator is in the middle of a multipart upload")
		job := h.waitForJobOf("mid")
		pods := h.pods(job)
		Expect(pods).To(HaveLen(1))
		pod := &pods[0]
		h.holdPod(pod)

		By("deleting it while its pod is held in Terminating")
		Expect(k8sClient.Delete(h.ctx, rr)).To(Succeed())
		Eventually(h.jobs, 10*time.Second, 50*time.Millisecond).Should(BeEmpty(), "the Job is stopped")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			g.Expect(pod.DeletionTimestamp).NotTo(BeNil())
		}, 30*time.Second, 50*time.Millisecond).Should(Succeed(), "the garbage collector deletes the stopped Job's pod")
		Consistently(func(g Gomega) {
			g.Expect(h.get("mid").Finalizers).To(ContainElement(v1alpha1.FinalizerCleanup))
			g.Expect(h.uploads(key)).To(HaveLen(1))
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed(),
			"while a pod may still upload, the request and the upload stay")

		By("the pod going")
		h.releasePod(pod)
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rr), rr)) },
			30*time.Second, 50*time.Millisecond).Should(BeTrue(), "the request goes once its pod is gone")
		Expect(h.uploads(key)).To(BeEmpty(), "the unfinished upload is aborted")
		_, err := h.store.Head(h.ctx, key)
		Expect(err).To(MatchError(storage.ErrNotFound))
	})

	It("deletes a finished report's file, Job and pods", func() {
		h := newReportHarness(reportHarnessOptions{s3: true})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("done", "fake", map[string]string{"rows": "5"}))
		rr := h.waitForPhase("done", v1alpha1.PhaseCompleted, 30*time.Second)
		key := storage.ReportKey(h.ns, "done", rr.UID, v1alpha1.FormatCSV)
		_, err := h.store.Head(h.ctx, key)
		Expect(err).NotTo(HaveOccurred())
		job := h.waitForJobOf("done")
		Expect(h.pods(job)).To(HaveLen(1))

		Expect(k8sClient.Delete(h.ctx, rr)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rr), rr)) },
			30*time.Second, 50*time.Millisecond).Should(BeTrue())
		_, err = h.store.Head(h.ctx, key)
		Expect(err).To(MatchError(storage.ErrNotFound), "the file is deleted")
		Expect(h.jobs()).To(BeEmpty())
		Eventually(func() []corev1.Pod { return h.pods(job) }, 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
	})

	It("lets the garbage collector remove the Job of a request deleted in the foreground while the manager is down", func() {
		h := newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(reportRequest("fg", "fake", nil))
		rr := h.waitForPhase("fg", v1alpha1.PhaseCompleted, 30*time.Second)
		key := storage.ReportKey(h.ns, "fg", rr.UID, v1alpha1.FormatCSV)
		job := h.waitForJobOf("fg")

		h.stopManagerIfRunning()
		Expect(k8sClient.Delete(h.ctx, rr, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		Eventually(h.jobs, 30*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the garbage collector deletes the Job")
		Eventually(func() []corev1.Pod { return h.pods(job) }, 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rr), rr)).To(Succeed())
			_, err := h.store.Head(h.ctx, key)
			g.Expect(err).NotTo(HaveOccurred())
		}, time.Second, 100*time.Millisecond).Should(Succeed(), "without the manager, the file and the request stay")

		h.startManager()
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rr), rr)) },
			30*time.Second, 50*time.Millisecond).Should(BeTrue())
		_, err := h.store.Head(h.ctx, key)
		Expect(err).To(MatchError(storage.ErrNotFound))
	})

	It("deletes finished reports and their files when their time to live runs out, not before", func() {
		h := newReportHarness(reportHarnessOptions{})
		h.readyDefinition(fakeDefinition("fake"))
		gone := watchDeletions(h)
		now := reportRequest("ttl0", "fake", nil)
		now.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		later := reportRequest("ttl3", "fake", nil)
		later.Spec.TTLSecondsAfterFinished = ptr.To[int32](3)
		failed := reportRequest("ttl3-failed", "fake", map[string]string{"mode": "exit", "code": "3"})
		failed.Spec.TTLSecondsAfterFinished = ptr.To[int32](3)
		kept := reportRequest("kept", "fake", nil) // the default: 7 days
		for _, rr := range []*v1alpha1.ReportRequest{now, later, failed, kept} {
			h.create(rr)
		}
		finished := map[string]*v1alpha1.ReportRequest{}
		for _, rr := range []*v1alpha1.ReportRequest{later, failed, kept} {
			phase := v1alpha1.PhaseCompleted
			if rr == failed {
				phase = v1alpha1.PhaseFailed
			}
			finished[rr.Name] = h.waitForPhase(rr.Name, phase, 30*time.Second)
		}
		keys := map[string]string{}
		for _, rr := range []*v1alpha1.ReportRequest{now, later, kept} {
			keys[rr.Name] = storage.ReportKey(h.ns, rr.Name, rr.UID, v1alpha1.FormatCSV)
		}
		_, err := h.store.Head(h.ctx, keys["ttl3"])
		Expect(err).NotTo(HaveOccurred())

		for _, name := range []string{"ttl0", "ttl3", "ttl3-failed"} {
			Eventually(gone, 20*time.Second, 50*time.Millisecond).Should(HaveKey(name))
		}
		deletedAt := gone()
		for _, name := range []string{"ttl3", "ttl3-failed"} {
			expiry := finished[name].Status.CompletedAt.Add(3 * time.Second)
			Expect(deletedAt[name]).To(BeTemporally(">=", expiry), "%s deleted before its TTL ran out", name)
		}
		for _, name := range []string{"ttl0", "ttl3"} {
			_, err := h.store.Head(h.ctx, keys[name])
			Expect(err).To(MatchError(storage.ErrNotFound), "%s's file", name)
		}
		Expect(h.get("kept").Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
		_, err = h.store.Head(h.ctx, keys["kept"])
		Expect(err).NotTo(HaveOccurred())
	})

	It("deletes a report whose time to live ran out only once its notifications are out", func() {
		hook := &flakyWebhook{failures: 2}
		h := newReportHarness(reportHarnessOptions{webhooks: hook})
		h.readyDefinition(fakeDefinition("fake"))
		h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook"}, StringData: map[string]string{"url": "https://hooks.example.com/reports"}})
		last := watchLastState(h, "told")
		rr := reportRequest("told", "fake", nil)
		rr.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		rr.Spec.Notify = &v1alpha1.NotifySpec{Webhooks: []v1alpha1.WebhookTarget{
			{URLSecretRef: v1alpha1.SecretKeyRef{Name: "hook", Key: "url"}},
		}}
		h.create(rr)

		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(rr), rr)) },
			30*time.Second, 50*time.Millisecond).Should(BeTrue())
		Expect(hook.attempts()).To(Equal(3), "two failed attempts and one that went through")
		final := last()
		Expect(final.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
		Expect(final.Status.Notifications).To(HaveLen(1))
		Expect(final.Status.Notifications[0].State).To(Equal(v1alpha1.DeliverySent),
			"the report went only after its notification was recorded")
	})
})

// flakyWebhook stands in for the webhook sender: its first failures
// attempts fail, the rest go through.
type flakyWebhook struct {
	mu       sync.Mutex
	failures int
	calls    int
}

// PostWebhook implements WebhookPoster.
func (f *flakyWebhook) PostWebhook(context.Context, string, notify.WebhookTarget, notify.Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return errors.New("503 Service Unavailable")
	}
	return nil
}

func (f *flakyWebhook) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// watchLastState returns a function giving the last state of a request
// that the watch saw, its deletion included.
func watchLastState(h *reportHarness, name string) func() *v1alpha1.ReportRequest {
	w, err := k8sClient.Watch(h.ctx, &v1alpha1.ReportRequestList{}, client.InNamespace(h.ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	last := &v1alpha1.ReportRequest{}
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			if rr, ok := ev.Object.(*v1alpha1.ReportRequest); ok && rr.Name == name {
				mu.Lock()
				last = rr
				mu.Unlock()
			}
		}
	}()
	return func() *v1alpha1.ReportRequest {
		mu.Lock()
		defer mu.Unlock()
		return last.DeepCopy()
	}
}

// watchDeletions watches the namespace's requests and returns a function
// listing when each was deleted, as seen by the watch.
func watchDeletions(h *reportHarness) func() map[string]time.Time {
	w, err := k8sClient.Watch(h.ctx, &v1alpha1.ReportRequestList{}, client.InNamespace(h.ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	seen := make(chan map[string]time.Time, 1)
	seen <- map[string]time.Time{}
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			if ev.Type != watch.Deleted {
				continue
			}
			if rr, ok := ev.Object.(*v1alpha1.ReportRequest); ok {
				m := <-seen
				m[rr.Name] = time.Now()
				seen <- m
			}
		}
	}()
	return func() map[string]time.Time {
		m := <-seen
		out := make(map[string]time.Time, len(m))
		for k, v := range m {
			out[k] = v
		}
		seen <- m
		return out
	}
}

// uploads lists the unfinished multipart uploads of key in the spec's S3
// bucket.
func (h *reportHarness) uploads(key string) []string {
	out, err := h.s3.Client().ListMultipartUploads(h.ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(h.s3.Bucket), Prefix: aws.String(key)})
	Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			ids = append(ids, aws.ToString(u.UploadId))
		}
	}
	return ids
}

// holdPod adds holdFinalizer to a pod.
func (h *reportHarness) holdPod(pod *corev1.Pod) {
	h.changePod(pod, func(p *corev1.Pod) { controllerutil.AddFinalizer(p, holdFinalizer) })
}

// releasePod removes holdFinalizer from a pod, which then goes if deleted.
func (h *reportHarness) releasePod(pod *corev1.Pod) {
	h.changePod(pod, func(p *corev1.Pod) { controllerutil.RemoveFinalizer(p, holdFinalizer) })
}

// changePod patches a pod's metadata, retrying on conflicts.
func (h *reportHarness) changePod(pod *corev1.Pod, change func(*corev1.Pod)) {
	Eventually(func() error {
		current := &corev1.Pod{}
		if err := k8sClient.Get(h.ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, current); err != nil {
			return err
		}
		original := current.DeepCopy()
		change(current)
		return k8sClient.Patch(h.ctx, current, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}
