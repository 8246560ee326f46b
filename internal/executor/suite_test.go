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
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

// The executor against a real API server: Jobs whose container is a
// shell script, run by /bin/sh, with the Job and pod statuses the API
// server accepts.
var (
	cfg       *rest.Config
	k8sClient client.WithWatch
	testEnv   *envtest.Environment
)

func TestExecutorSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Local executor suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(GinkgoLogr)
	var err error
	testEnv, cfg, err = testsupport.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: testsupport.Scheme()})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// execHarness is one spec's namespace, scratch directory and executor.
type execHarness struct {
	ctx  context.Context
	ns   string
	dir  string
	stop func()
}

func newExecHarness() *execHarness {
	h := &execHarness{ctx: context.Background(), dir: GinkgoT().TempDir()}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "exec-"}}
	Expect(k8sClient.Create(h.ctx, ns)).To(Succeed())
	h.ns = ns.Name
	h.start()
	DeferCleanup(h.stopIfRunning)
	return h
}

// start runs an executor in a manager of its own, caching the namespace.
func (h *execHarness) start() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testsupport.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheFor(h.ns),
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	ex, err := New(mgr.GetClient(), mgr.GetAPIReader(), Options{
		Commands: map[string]string{"sh": "/bin/sh"},
		WorkDir:  filepath.Join(h.dir, "work"),
		Backoff:  200 * time.Millisecond,
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(ex.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- mgr.Start(ctx)
	}()
	h.stop = func() {
		cancel()
		Eventually(done, 30*time.Second).Should(Receive(BeNil()))
	}
}

func (h *execHarness) stopIfRunning() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// path is a file in the spec's scratch directory.
func (h *execHarness) path(name string) string { return filepath.Join(h.dir, name) }

// job creates a Job running script with sh, as reportd's Jobs are shaped:
// the report podFailurePolicy, restartPolicy Never, the local executor's
// spec.managedBy.
func (h *execHarness) job(name, script string, mutate ...func(*batchv1.Job)) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](2),
			ActiveDeadlineSeconds: ptr.To[int64](60),
			ManagedBy:             ptr.To(v1alpha1.ExecutorManagedBy),
			PodFailurePolicy:      reportPolicy(),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "generate", Image: "reportd:test", Command: []string{"sh", "-c", script},
					TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
			}},
		},
	}
	for _, m := range mutate {
		m(job)
	}
	Expect(k8sClient.Create(h.ctx, job)).To(Succeed())
	return job
}

// get reads a Job.
func (h *execHarness) get(job *batchv1.Job) *batchv1.Job {
	out := &batchv1.Job{}
	Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(job), out)).To(Succeed())
	return out
}

// waitFinished waits for a Job's Complete or Failed condition.
func (h *execHarness) waitFinished(job *batchv1.Job, timeout time.Duration) *batchv1.Job {
	var out *batchv1.Job
	Eventually(func() bool { out = h.get(job); return isFinished(out) }, timeout, 50*time.Millisecond).Should(BeTrue())
	return out
}

// pods lists a Job's pods, oldest first.
func (h *execHarness) pods(job *batchv1.Job) []corev1.Pod {
	var list corev1.PodList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns), client.MatchingLabels{controllerUIDLabel: string(h.get(job).UID)})).To(Succeed())
	pods := list.Items
	for i := 1; i < len(pods); i++ {
		for j := i; j > 0 && podIndex(pods[j]) < podIndex(pods[j-1]); j-- {
			pods[j], pods[j-1] = pods[j-1], pods[j]
		}
	}
	return pods
}

// podIndex is the attempt number in an executor pod's name (<job>-<n>-<random>).
func podIndex(p corev1.Pod) string {
	name := p.Name
	end := len(name) - 6
	start := end
	for start > 0 && name[start-1] != '-' {
		start--
	}
	return fmt.Sprintf("%06s", name[start:end])
}

// readFile returns a scratch file's content, or "" while it is missing.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// cacheFor caches one namespace.
func cacheFor(ns string) cache.Options {
	return cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}
}
