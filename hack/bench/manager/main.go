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

// Command manager measures the manager under a burst of reports (run as
// part of `make bench`).
//
// It starts an API server (envtest) and the manager in this process
// (internal/manager.Setup, as `reportd manager` assembles it, with no
// local executor: with no job controller the Jobs stay pending, so only
// the manager's own work is measured, with no queue limit), creates a
// burst of ReportRequests as fast as the API server takes them, and
// measures the time from the first create until every report has its
// Job, watched as they appear. The yardstick is a plain controller-runtime
// client with the manager's client rate settings (QPS/burst) creating as
// many equivalent Jobs one at a time, as a controller's single worker
// does. It also counts the manager's API writes per report (every request
// other than a GET through its connection, events included) and names
// them. It prints a table and merges it as JSON into $BENCH_OUT (default
// bin/bench.json).
//
//	go run ./hack/bench/manager [-reports 1000] [-qps -1] [-burst 0]
//
// The default -qps -1 (no client-side limit) is what the manager gets in a
// cluster (controller-runtime's default); -qps 20 -burst 30 measures the
// manager behind a client-side rate limit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/hack/bench/internal/table"
	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

const (
	namespace   = "bench"
	yardstickNS = "bench-yardstick"
	definition  = "inventory"
	// submitters create the ReportRequests concurrently, as many users
	// (or facade replicas) would.
	submitters = 8
	// quiet is how long no write must come for the manager's work on the
	// burst to count as done (status writes may follow the Jobs).
	quiet = 3 * time.Second
)

// options are the command line's settings.
type options struct {
	reports int
	qps     float32
	burst   int
	workers int // the request controller's workers, and every other controller's; 0: the manager's defaults
}

func main() {
	var o options
	flag.IntVar(&o.reports, "reports", 1000, "ReportRequests in the burst (and Jobs the yardstick creates)")
	qps := flag.Float64("qps", -1, "client-side QPS of the manager and of the yardstick client (-1: no limit, controller-runtime's default)")
	flag.IntVar(&o.burst, "burst", 0, "client-side burst of the manager and of the yardstick client")
	flag.IntVar(&o.workers, "workers", 0, "reconciles each controller runs at once (0: the manager's defaults, as `reportd manager` runs: --request-workers 4, one for the definitions and schedules); for what-if runs")
	flag.Parse()
	o.qps = float32(*qps)
	ctrllog.SetLogger(logr.Discard()) // only the figures go to stdout
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench manager:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench manager %s] "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// run starts the API server, measures the manager and the yardstick, and
// reports.
func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logf("starting envtest")
	env, cfg, err := testsupport.StartEnvtest()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	admin := rest.CopyConfig(cfg)
	admin.QPS, admin.Burst = -1, 0 // the bench's own calls are never throttled
	c, err := client.NewWithWatch(admin, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		return err
	}
	if err := setup(ctx, c); err != nil {
		return err
	}

	writes := &writeCounter{namespace: namespace}
	stopManager, err := startManager(ctx, throttled(cfg, o), o.workers, writes)
	if err != nil {
		return err
	}
	defer stopManager()
	if err := waitReady(ctx, c); err != nil {
		return err
	}
	logf("%d ReportRequests at once (manager: %s)", o.reports, rate(o))
	writes.reset()
	burst, err := measureBurst(ctx, c, o.reports)
	if err != nil {
		return err
	}
	waitQuiet(ctx, writes)
	stopManager()
	perReport := float64(writes.total()) / float64(o.reports)
	logf("  every report had its Job after %.2fs (the creates took %.2fs); %d writes: %s",
		burst.jobs.Seconds(), burst.submit.Seconds(), writes.total(), writes.describe())

	plain, err := measurePlain(ctx, c, throttled(cfg, o), o.reports)
	if err != nil {
		return err
	}
	logf("  a plain client created %d Jobs in %.2fs", o.reports, plain.Seconds())

	entries := []table.Entry{
		table.Compared(fmt.Sprintf("manager: %d ReportRequests until each has its Job (%s)", o.reports, rate(o)),
			burst.jobs.Seconds(), "s", fmt.Sprintf("plain client, %d Jobs", o.reports), plain.Seconds(), true),
		{Name: fmt.Sprintf("manager API writes per report (%s)", writes.describePerReport(o.reports)), Value: perReport, Unit: "writes"},
	}
	return table.Report(entries)
}

// throttled is cfg with the client rate settings under test.
func throttled(cfg *rest.Config, o options) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = o.qps, o.burst
	return c
}

// rate describes the client rate settings (and workers, when set).
func rate(o options) string {
	s := "no QPS limit"
	if o.qps >= 0 {
		s = fmt.Sprintf("QPS %g, burst %d", o.qps, o.burst)
	}
	if o.workers > 0 {
		s += fmt.Sprintf(", %d workers", o.workers)
	}
	return s
}

// setup creates the namespaces, the default datasource Secret and a
// definition without parameters. A new CRD's objects can be refused for a
// moment after the API server starts, so the definition is retried.
func setup(ctx context.Context, c client.Client) error {
	for _, ns := range []string{namespace, yardstickNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "reportd-datasource"},
		StringData: map[string]string{"url": "postgres://reader@127.0.0.1:1/none"},
	}); err != nil {
		return err
	}
	def := &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: definition},
		Spec:       v1alpha1.ReportDefinitionSpec{Query: "SELECT 1 AS one"},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, def.DeepCopy())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create the ReportDefinition: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startManager runs the manager as `reportd manager` assembles it, over a
// connection that counts its writes, and returns a function that stops it
// and waits (safe to call twice).
func startManager(ctx context.Context, cfg *rest.Config, workers int, writes *writeCounter) (func(), error) {
	cfg.WrapTransport = writes.wrap
	dir, err := os.MkdirTemp("", "reportd-bench-manager-")
	if err != nil {
		return nil, err
	}
	store, err := storage.New(ctx, storage.Config{URL: "file://" + dir})
	if err != nil {
		return nil, err
	}
	c := manager.Config{
		Namespaces: []string{namespace}, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		Jobs: controllers.JobSettings{
			Image: "reportd:bench", ImagePullPolicy: corev1.PullIfNotPresent, ServiceAccountName: "reportd-generator",
			DatasourceSecret: "reportd-datasource", DatasourceSecretKey: "url",
			Storage: controllers.StorageSettings{URL: "file://" + dir},
		},
		Defaults:       controllers.DefaultDefaults(),
		RequestWorkers: workers,
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := c.Options()
	opts.Controller.MaxConcurrentReconciles = workers
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, err
	}
	// The definition is not checked against a database: every check passes.
	ready := controllers.DefinitionCheckerFunc(func(context.Context, string, *v1alpha1.ReportDefinition) controllers.CheckResult {
		return controllers.CheckResult{Ready: true, Reason: "QueryPrepared", Columns: []string{"one"}}
	})
	if err := manager.Setup(ctx, mgr, c, manager.Deps{Checker: ready, Store: store}); err != nil {
		return nil, err
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				logf("the manager stopped with: %v", err)
			}
			_ = os.RemoveAll(dir)
		})
	}, nil
}

// waitReady waits until the manager has checked the definition.
func waitReady(ctx context.Context, c client.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		def := &v1alpha1.ReportDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: definition}, def); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(def.Status.Conditions, v1alpha1.ConditionReady) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the manager did not mark the definition Ready within 60 s")
}

// burstResult is how long the creates took and how long until every
// report had its Job, both from the first create.
type burstResult struct {
	submit, jobs time.Duration
}

// measureBurst creates n ReportRequests from several goroutines and waits,
// watching Jobs, until n Jobs exist.
func measureBurst(ctx context.Context, c client.WithWatch, n int) (burstResult, error) {
	w, err := c.Watch(ctx, &batchv1.JobList{}, client.InNamespace(namespace))
	if err != nil {
		return burstResult{}, err
	}
	defer w.Stop()
	start := time.Now()
	var res burstResult
	var next atomic.Int64
	errs := make(chan error, submitters)
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				if err := c.Create(ctx, reportRequest(i)); err != nil {
					errs <- fmt.Errorf("create ReportRequest %d: %w", i, err)
					return
				}
			}
		})
	}
	submitted := make(chan time.Duration, 1)
	go func() { wg.Wait(); submitted <- time.Since(start); close(errs) }()
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case err, ok := <-errs:
			if ok {
				return burstResult{}, err
			}
			errs = nil // all created
		case ev, ok := <-w.ResultChan():
			if !ok {
				return burstResult{}, errors.New("the watch of Jobs ended")
			}
			if ev.Type == watch.Added {
				seen[ev.Object.(*batchv1.Job).Name] = true
			}
		case <-ctx.Done():
			return burstResult{}, fmt.Errorf("%d of %d Jobs after %s: %w", len(seen), n, time.Since(start).Round(time.Second), ctx.Err())
		}
	}
	res.jobs = time.Since(start)
	res.submit = <-submitted
	return res, nil
}

// reportRequest is the i-th report of the burst.
func reportRequest(i int) *v1alpha1.ReportRequest {
	return &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("burst-%04d", i)},
		Spec:       v1alpha1.ReportRequestSpec{Type: definition, RequestedBy: "bench@example.com"},
	}
}

// waitQuiet waits until the manager has made no write for a while, so the
// count includes the status writes that follow the Jobs.
func waitQuiet(ctx context.Context, writes *writeCounter) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if time.Since(writes.last()) >= quiet {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("the manager was still writing a minute after the burst")
}

// measurePlain creates n copies of one of the manager's Jobs (same spec,
// labels and annotations, no owner) one at a time with a plain client and
// the manager's rate settings, and returns the time taken.
func measurePlain(ctx context.Context, admin client.Client, cfg *rest.Config, n int) (time.Duration, error) {
	var jobs batchv1.JobList
	if err := admin.List(ctx, &jobs, client.InNamespace(namespace), client.Limit(1)); err != nil {
		return 0, fmt.Errorf("reading one of the manager's Jobs: %w", err)
	}
	if len(jobs.Items) == 0 {
		return 0, errors.New("the manager made no Job to copy")
	}
	model := jobs.Items[0]
	template := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: yardstickNS, Labels: model.Labels, Annotations: model.Annotations},
		Spec:       *model.Spec.DeepCopy(),
	}
	// The API server added the selector and its labels; a new Job gets its own.
	template.Spec.Selector, template.Spec.ManualSelector = nil, nil
	for _, k := range []string{"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", controllers.JobLabelJobName} {
		delete(template.Spec.Template.Labels, k)
	}
	c, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 1; i <= n; i++ {
		job := template.DeepCopy()
		job.Name = fmt.Sprintf("plain-%04d", i)
		if err := c.Create(ctx, job); err != nil {
			return 0, fmt.Errorf("create Job %d: %w", i, err)
		}
	}
	return time.Since(start), nil
}

// writeCounter counts the API writes (every method but GET) the manager
// makes in one namespace, by wrapping its HTTP transport.
type writeCounter struct {
	namespace string
	mu        sync.Mutex
	byKind    map[string]int
	lastWrite time.Time
}

// wrap is a rest.Config WrapTransport.
func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && strings.Contains(req.URL.Path, "/namespaces/"+w.namespace+"/") {
			kind := req.Method + " " + resourcePath(req.URL.Path)
			w.mu.Lock()
			if w.byKind == nil {
				w.byKind = map[string]int{}
			}
			w.byKind[kind]++
			w.lastWrite = time.Now()
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// objectName matches the namespace and object name in an API path, so
// writes group by resource: /apis/batch/v1/namespaces/x/jobs/y -> jobs.
var objectName = regexp.MustCompile(`^.*/namespaces/[^/]+/([^/]+)(?:/[^/]+)?(/[^/]+)?$`)

// resourcePath is the resource (and subresource) a path writes.
func resourcePath(path string) string {
	if m := objectName.FindStringSubmatch(path); m != nil {
		return m[1] + m[2]
	}
	return path
}

// reset forgets the writes so far.
func (w *writeCounter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byKind, w.lastWrite = nil, time.Now()
}

// total is the number of writes.
func (w *writeCounter) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.byKind {
		n += c
	}
	return n
}

// last is when the last write was made.
func (w *writeCounter) last() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastWrite
}

// describe lists the writes by kind: "POST jobs 1000, PATCH reportrequests 1000, ...".
func (w *writeCounter) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(w.byKind)) {
		parts = append(parts, fmt.Sprintf("%s %d", kind, w.byKind[kind]))
	}
	return strings.Join(parts, ", ")
}

// describePerReport lists the writes by kind per report: "POST jobs 1, ...".
func (w *writeCounter) describePerReport(reports int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(w.byKind)) {
		parts = append(parts, fmt.Sprintf("%s %.3g", kind, float64(w.byKind[kind])/float64(reports)))
	}
	return strings.Join(parts, ", ")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
