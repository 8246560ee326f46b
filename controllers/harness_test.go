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
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/executor"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// reportHarness is one spec's world: a namespace holding the generator's
// datasource Secret, a file store, the reportd manager (the two
// controllers of this file's package, restricted to the namespace) and,
// unless the spec drives Job status by hand, the local executor in a
// manager of its own, so either can be stopped and started alone.
type reportHarness struct {
	ctx      context.Context
	ns       string
	storeDir string
	store    storage.Store
	storage  StorageSettings
	s3       *testsupport.S3
	writes   *writeCounter
	checker  *fakeChecker
	opts     reportHarnessOptions

	stopManager  func()
	stopExecutor func()
}

// reportHarnessOptions vary the harness per spec.
type reportHarnessOptions struct {
	// handDriven runs no executor: the spec writes Job status itself.
	handDriven bool
	// progressInterval is the manager's progress throttle; 2 s when zero.
	progressInterval time.Duration
	// syncPeriod makes the manager's cache resync that often.
	syncPeriod time.Duration
	// checker replaces the stand-in definition check (the real one).
	checker DefinitionChecker
	// generator is what the Job's "reportd" runs; fakegen when empty.
	generator string
	// datasourceURL is the default datasource Secret's URL.
	datasourceURL string
	// s3 stores the files in a real S3 server (versitygw) started for the
	// spec, instead of a directory.
	s3 bool
	// limits are the manager's queue limits; none when zero.
	limits Limits
	// workers are the request controller's workers; the manager's
	// default (DefaultRequestWorkers) when zero.
	workers int
	// metricsAddr serves the manager's metrics; none when empty.
	metricsAddr string
	// webhooks, when set, runs the notification controller in the
	// manager, posting webhooks through it (no e-mail).
	webhooks WebhookPoster
}

// newReportHarness creates the namespace and starts the managers; the
// spec's cleanup stops them.
func newReportHarness(opts reportHarnessOptions) *reportHarness {
	h := &reportHarness{ctx: context.Background(), opts: opts, writes: &writeCounter{}, checker: &fakeChecker{}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "report-"}}
	Expect(k8sClient.Create(h.ctx, ns)).To(Succeed())
	h.ns = ns.Name
	h.writes.namespace = h.ns
	Expect(k8sClient.Create(h.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "reportd-datasource", Namespace: h.ns},
		StringData: map[string]string{"url": cmp.Or(opts.datasourceURL, "postgres://reader@127.0.0.1:1/none")},
	})).To(Succeed())
	h.openStore()
	h.startManager()
	if !opts.handDriven {
		h.startExecutor()
	}
	DeferCleanup(func() {
		h.stopExecutorIfRunning()
		h.stopManagerIfRunning()
	})
	return h
}

// s3CredentialsSecret holds the S3 keys in the spec's namespace.
const s3CredentialsSecret = "reportd-s3"

// openStore opens the spec's storage: a directory, or a bucket of an S3
// server started for the spec, whose keys the Jobs read from a Secret.
func (h *reportHarness) openStore() {
	h.storeDir = GinkgoT().TempDir()
	cfg := storage.Config{URL: "file://" + h.storeDir}
	h.storage = StorageSettings{URL: cfg.URL}
	if h.opts.s3 {
		ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
		defer cancel()
		srv, err := testsupport.StartS3(ctx, testsupport.S3Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Stop)
		h.s3 = srv
		cfg = storage.Config{URL: "s3://" + srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
		h.storage = StorageSettings{URL: cfg.URL, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
			CredentialsSecret: s3CredentialsSecret}
		Expect(k8sClient.Create(h.ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s3CredentialsSecret, Namespace: h.ns},
			StringData: map[string]string{S3AccessKeyKey: srv.AccessKey, S3SecretKeyKey: srv.SecretKey},
		})).To(Succeed())
	}
	var err error
	h.store, err = storage.New(h.ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
}

// settings are the Job settings of the harness's manager.
func (h *reportHarness) settings() JobSettings {
	return JobSettings{
		Image:               "reportd:test",
		ImagePullPolicy:     corev1.PullIfNotPresent,
		ServiceAccountName:  "reportd-generator",
		DatasourceSecret:    "reportd-datasource",
		DatasourceSecretKey: "url",
		Storage:             h.storage,
		ManagedBy:           v1alpha1.ExecutorManagedBy,
	}
}

// startManager starts the reportd manager's two controllers with the
// production cache restrictions, through a connection that counts writes.
func (h *reportHarness) startManager() {
	counted := rest.CopyConfig(cfg)
	counted.WrapTransport = h.writes.wrap
	cacheOpts := CacheOptions([]string{h.ns})
	if h.opts.syncPeriod > 0 {
		cacheOpts.SyncPeriod = ptr.To(h.opts.syncPeriod)
	}
	mgr, err := ctrl.NewManager(counted, ctrl.Options{
		Scheme:                 testsupport.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: cmp.Or(h.opts.metricsAddr, "0")},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
		// Every spec registers controllers of the same names in this process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	var checker DefinitionChecker = h.checker
	if h.opts.checker != nil {
		checker = h.opts.checker
	}
	Expect((&ReportDefinitionReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Checker: checker, Settings: h.settings(),
	}).SetupWithManager(h.ctx, mgr)).To(Succeed())
	requests := &ReportRequestReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("reportd-manager"),
		Store: h.store, Settings: h.settings(), Defaults: DefaultDefaults(), ProgressInterval: h.opts.progressInterval,
		Limits: h.opts.limits, Workers: h.opts.workers,
	}
	Expect(requests.SetupWithManager(h.ctx, mgr)).To(Succeed())
	if h.opts.webhooks != nil {
		notifier := &NotificationReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("reportd-manager"),
			Webhooks: h.opts.webhooks,
			Settings: NotificationSettings{Backoff: 200 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: 2 * time.Second},
		}
		Expect(notifier.SetupWithManager(mgr)).To(Succeed())
		requests.Notifications = notifier
	}
	h.stopManager = runManager(mgr)
}

// startExecutor starts the local executor, running fakegen for "reportd".
func (h *reportHarness) startExecutor() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testsupport.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  CacheOptions([]string{h.ns}),
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	ex, err := executor.New(mgr.GetClient(), mgr.GetAPIReader(), executor.Options{
		Commands:   map[string]string{"reportd": cmp.Or(h.opts.generator, fakegenPath)},
		Kubeconfig: processKubeconfig,
		WorkDir:    GinkgoT().TempDir(),
		Backoff:    200 * time.Millisecond,
		MaxBackoff: time.Second,
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(ex.SetupWithManager(mgr)).To(Succeed())
	h.stopExecutor = runManager(mgr)
}

func (h *reportHarness) stopManagerIfRunning() {
	if h.stopManager != nil {
		h.stopManager()
		h.stopManager = nil
	}
}

func (h *reportHarness) stopExecutorIfRunning() {
	if h.stopExecutor != nil {
		h.stopExecutor()
		h.stopExecutor = nil
	}
}

// runManager starts mgr and returns a function that stops it and waits.
func runManager(mgr ctrl.Manager) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- mgr.Start(ctx)
	}()
	return func() {
		cancel()
		Eventually(done, 30*time.Second).Should(Receive(BeNil()))
	}
}

// create creates obj in the harness's namespace.
func (h *reportHarness) create(obj client.Object) {
	obj.SetNamespace(h.ns)
	Expect(k8sClient.Create(h.ctx, obj)).To(Succeed())
}

// readyDefinition creates a definition and waits until it is Ready.
func (h *reportHarness) readyDefinition(def *v1alpha1.ReportDefinition) *v1alpha1.ReportDefinition {
	h.create(def)
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(h.ctx, client.ObjectKeyFromObject(def), def)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(def.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	return def
}

// get reads a request's current state.
func (h *reportHarness) get(name string) *v1alpha1.ReportRequest {
	rr := &v1alpha1.ReportRequest{}
	Expect(k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, rr)).To(Succeed())
	return rr
}

// waitForPhase waits for a request to reach a phase and returns it.
func (h *reportHarness) waitForPhase(name string, phase v1alpha1.ReportPhase, timeout time.Duration) *v1alpha1.ReportRequest {
	var rr *v1alpha1.ReportRequest
	Eventually(func(g Gomega) {
		rr = &v1alpha1.ReportRequest{}
		g.Expect(k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, rr)).To(Succeed())
		g.Expect(rr.Status.Phase).To(Equal(phase), "errorMessage: %s", rr.Status.ErrorMessage)
	}, timeout, 50*time.Millisecond).Should(Succeed())
	return rr
}

// jobs lists the Jobs in the namespace.
func (h *reportHarness) jobs() []batchv1.Job {
	var list batchv1.JobList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns))).To(Succeed())
	return list.Items
}

// pods lists the pods of a Job.
func (h *reportHarness) pods(job *batchv1.Job) []corev1.Pod {
	var list corev1.PodList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns),
		client.MatchingLabels{jobControllerUIDLabel: string(job.UID)})).To(Succeed())
	return list.Items
}

// events lists the events.k8s.io Events about an object, by reason.
func (h *reportHarness) events(name string) map[string][]eventsv1.Event {
	var list eventsv1.EventList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns))).To(Succeed())
	out := map[string][]eventsv1.Event{}
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out[e.Reason] = append(out[e.Reason], e)
		}
	}
	return out
}

// fakeDefinition declares the parameters fakegen reads, so requests can
// say what the stand-in generator does.
func fakeDefinition(name string) *v1alpha1.ReportDefinition {
	def := &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ReportDefinitionSpec{Query: "select 1 as id"},
	}
	for _, p := range []struct {
		name string
		typ  v1alpha1.ParameterType
	}{
		{"mode", v1alpha1.ParameterString}, {"code", v1alpha1.ParameterInteger}, {"failAttempts", v1alpha1.ParameterInteger},
		{"steps", v1alpha1.ParameterString}, {"stepMs", v1alpha1.ParameterInteger}, {"rows", v1alpha1.ParameterInteger},
		{"forgeKey", v1alpha1.ParameterBoolean}, {"errorMessage", v1alpha1.ParameterString}, {"quiet", v1alpha1.ParameterBoolean},
	} {
		def.Spec.Parameters = append(def.Spec.Parameters, v1alpha1.ReportParameter{Name: p.name, Type: p.typ})
	}
	return def
}

// reportRequest is a request of a type with parameters.
func reportRequest(name, typ string, params map[string]string) *v1alpha1.ReportRequest {
	rr := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ReportRequestSpec{Type: typ, RequestedBy: "alice@example.com", Format: v1alpha1.FormatCSV},
	}
	if len(params) > 0 {
		rr.Spec.Parameters = map[string]v1alpha1.ParameterValue{}
		for k, v := range params {
			rr.Spec.Parameters[k] = v1alpha1.ParameterValue(v)
		}
	}
	return rr
}

// fakeChecker stands in for the generator's definition check: a query
// containing "broken" does not prepare; transient makes every check fail
// to run.
type fakeChecker struct {
	mu        sync.Mutex
	calls     int
	lastURL   string
	transient bool
}

// CheckDefinition implements DefinitionChecker.
func (f *fakeChecker) CheckDefinition(_ context.Context, url string, def *v1alpha1.ReportDefinition) CheckResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.lastURL = url
	switch {
	case f.transient:
		return CheckResult{Transient: true, Reason: "DatasourceUnavailable", Message: "connection refused"}
	case strings.Contains(def.Spec.Query, "broken"):
		return CheckResult{Reason: "QueryInvalid", Message: `relation "broken" does not exist`}
	}
	return CheckResult{Ready: true, Columns: []string{"id"}}
}

func (f *fakeChecker) setTransient(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transient = v
}

func (f *fakeChecker) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeChecker) checkedURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastURL
}

// writeCounter counts the API writes (POST, PUT, PATCH, DELETE) the
// manager makes in one namespace, by wrapping its HTTP transport: every
// write the manager makes, events included, passes through it.
type writeCounter struct {
	namespace string
	mu        sync.Mutex
	writes    []string
}

// wrap is a rest.Config WrapTransport.
func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && strings.Contains(req.URL.Path, "/namespaces/"+w.namespace+"/") {
			write := req.Method + " " + req.URL.Path
			if req.Method == http.MethodPatch && req.GetBody != nil {
				// The patch itself, so a failure shows what each write changed.
				if body, err := req.GetBody(); err == nil {
					b, _ := io.ReadAll(body)
					write += " " + string(b)
				}
			}
			w.mu.Lock()
			w.writes = append(w.writes, write)
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// list returns the writes so far.
func (w *writeCounter) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// count returns how many writes were made so far.
func (w *writeCounter) count() int { return len(w.list()) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// describeWrites formats writes for a failure message.
func describeWrites(writes []string) string {
	return fmt.Sprintf("%d writes:\n  %s", len(writes), strings.Join(writes, "\n  "))
}
