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

// Package executor runs reportd's Jobs where there is no cluster: envtest
// and `reportd dev` have an API server but no kubelet and no job
// controller. For each Job whose spec.managedBy is the executor's (a real
// job controller skips such Jobs), it does what those two would do:
//
//   - creates a Pod object per attempt (named <job>-<n>-<random>), runs the
//     pod's container command as a local process group with the pod's
//     environment (values, the downward API, Secret and ConfigMap
//     references read from the API server), and writes the pod's status as
//     the kubelet would: Running and Ready once started, then terminated
//     with the exit code, the reason (Completed, Error, StartError) and the
//     termination message. So the manager reads what happened where it
//     reads it in a cluster: on the pods.
//   - writes the Job's status in the sequences the job controller writes,
//     honouring backoffLimit, activeDeadlineSeconds (the process group is
//     killed) and the podFailurePolicy (FailJob on exit codes, Ignore on
//     pod conditions).
//
// The container command's first word is mapped to a local executable
// (Options.Commands; "reportd" to Options.Binary). Each attempt writes its
// termination message to the file named by REPORTD_TERMINATION_LOG; when it
// fails without one, the tail of its output is used (FallbackToLogsOnError).
//
// A missing Secret keeps the pod Pending with CreateContainerConfigError,
// retried, as the kubelet does. An executor that restarts finds pods
// without a process of its own: they are failed with a DisruptionTarget
// condition, as the pod garbage collector fails the pods of a lost node,
// and replaced (the podFailurePolicy's Ignore rule then keeps them from
// counting against backoffLimit). Stopping the executor kills every
// process it started, and so does the death of its own process (a SIGKILL
// of the manager): the attempts are gone, as the status it writes on
// restart says. A pod of its node that is deleted (by the garbage
// collector once its Job is gone, or by hand) is finished as the kubelet
// finishes it: its process is killed, then the pod is removed.
package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"reportd.io/reportd/api/v1alpha1"
)

// controllerUIDLabel is the label the API server puts on a Job's pod
// template; the executor finds a Job's pods by it, as the job controller does.
const controllerUIDLabel = "batch.kubernetes.io/controller-uid"

// configRetry is how often a pod waiting for a missing Secret is retried.
const configRetry = 2 * time.Second

// fieldOwner names the executor in managed fields.
const fieldOwner = client.FieldOwner("reportd-local-executor")

// Options configure an Executor.
type Options struct {
	// Binary is the local reportd executable that the command "reportd" runs.
	Binary string
	// Commands maps further command names to local executables; tests map
	// "reportd" to a small program of their own.
	Commands map[string]string
	// Kubeconfig is given to every process as KUBECONFIG: the local
	// stand-in for the pod's ServiceAccount token.
	Kubeconfig string
	// WorkDir holds one directory per attempt (output, termination message,
	// TMPDIR); a temporary directory when empty.
	WorkDir string
	// ManagedBy is the spec.managedBy value of the Jobs to run; default
	// v1alpha1.ExecutorManagedBy.
	ManagedBy string
	// Backoff is the delay before the first retry, doubled per failure up to
	// MaxBackoff. Default 1s (the job controller waits 10s; locally that is
	// only slower).
	Backoff time.Duration
	// MaxBackoff caps the delay; default 1 minute.
	MaxBackoff time.Duration
	// NodeName is written into the pods; default "reportd-local".
	NodeName string
	// Clock is the time source; the real clock when nil.
	Clock clock.Clock
}

// Executor runs Jobs as local processes. It is a controller-runtime
// Runnable (its Start returns when the manager stops, after killing every
// process) and a reconciler of Jobs.
type Executor struct {
	client client.Client
	reader client.Reader
	opts   Options
	wake   chan event.TypedGenericEvent[*batchv1.Job]
	stop   chan struct{} // closed when the executor stops

	mu      sync.Mutex
	running map[types.NamespacedName]*attempt // by pod
	stopped bool
}

// attempt is one pod the executor is responsible for.
type attempt struct {
	job  types.NamespacedName
	proc *process // nil while the pod waits for its configuration
}

// New returns an Executor using the manager's client and a live reader
// (Secrets and pods are read from the API server, not cached).
func New(c client.Client, reader client.Reader, opts Options) (*Executor, error) {
	if opts.ManagedBy == "" {
		opts.ManagedBy = v1alpha1.ExecutorManagedBy
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.NodeName == "" {
		opts.NodeName = "reportd-local"
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	commands := map[string]string{}
	for k, v := range opts.Commands {
		commands[k] = v
	}
	if opts.Binary != "" {
		if _, ok := commands["reportd"]; !ok {
			commands["reportd"] = opts.Binary
		}
	}
	opts.Commands = commands
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "reportd-executor-")
		if err != nil {
			return nil, err
		}
		opts.WorkDir = dir
	}
	return &Executor{
		client:  c,
		reader:  reader,
		opts:    opts,
		wake:    make(chan event.TypedGenericEvent[*batchv1.Job], 64),
		stop:    make(chan struct{}),
		running: map[types.NamespacedName]*attempt{},
	}, nil
}

// SetupWithManager registers the executor with mgr: its Job controller
// (named "local-executor") and the Runnable that stops its processes.
func (e *Executor) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(e); err != nil {
		return err
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("local-executor").
		For(&batchv1.Job{}, builder.WithPredicates(predicate.NewPredicateFuncs(e.manages))).
		WatchesRawSource(source.Channel(e.wake, &handler.TypedEnqueueRequestForObject[*batchv1.Job]{})).
		Complete(e)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("local-executor-pods").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(e.deleting))).
		Complete(reconcile.Func(e.finishDeletion))
}

// deleting reports whether obj is a pod of the executor's node being deleted.
func (e *Executor) deleting(obj client.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	return ok && pod.Spec.NodeName == e.opts.NodeName && !pod.DeletionTimestamp.IsZero()
}

// podKillWait is how often finishDeletion looks whether a killed process
// has exited.
const podKillWait = 100 * time.Millisecond

// finishDeletion does the kubelet's part of deleting a pod: it kills the
// pod's process (at once: no grace period locally) and, once it has
// exited, removes the pod. Without it a running pod, whose deletion waits
// for its kubelet, would stay Terminating for good.
func (e *Executor) finishDeletion(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := e.client.Get(ctx, req.NamespacedName, pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !e.deleting(pod) {
		return ctrl.Result{}, nil
	}
	e.mu.Lock()
	a := e.running[req.NamespacedName]
	e.mu.Unlock()
	if a != nil && a.proc != nil {
		a.proc.kill()
		if _, done := a.proc.exited(); !done {
			return ctrl.Result{RequeueAfter: podKillWait}, nil
		}
	}
	e.forget(req.NamespacedName)
	uid := pod.UID
	err := e.client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return ctrl.Result{}, fmt.Errorf("removing deleted pod %s: %w", pod.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("Removed a deleted pod", "pod", pod.Name)
	return ctrl.Result{}, nil
}

// manages reports whether a Job is the executor's to run.
func (e *Executor) manages(obj client.Object) bool {
	job, ok := obj.(*batchv1.Job)
	return ok && job.Spec.ManagedBy != nil && *job.Spec.ManagedBy == e.opts.ManagedBy
}

// Start waits for ctx to end, then kills every process the executor
// started and waits for them to exit.
func (e *Executor) Start(ctx context.Context) error {
	<-ctx.Done()
	close(e.stop)
	e.mu.Lock()
	e.stopped = true
	var procs []*process
	for _, a := range e.running {
		if a.proc != nil {
			a.proc.kill()
			procs = append(procs, a.proc)
		}
	}
	e.mu.Unlock()
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			return errors.New("local executor: processes did not exit after SIGKILL")
		}
	}
	return nil
}

// Reconcile brings one Job a step closer to finished: it records what its
// processes did on their pods, decides the Job's status as the job
// controller would, and starts or kills attempts.
func (e *Executor) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if e.isStopped() {
		return ctrl.Result{}, nil
	}
	job := &batchv1.Job{}
	if err := e.client.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			e.killJob(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !e.manages(job) || job.Spec.Suspend != nil && *job.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	if isFinished(job) {
		e.killJob(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	pods, retry, err := e.settlePods(ctx, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	result, err := e.step(ctx, job, pods)
	if retry && (result.RequeueAfter == 0 || result.RequeueAfter > configRetry) {
		result.RequeueAfter = configRetry
	}
	return result, err
}

// step applies decide's decision: kill, write the Job status, start an attempt.
func (e *Executor) step(ctx context.Context, job *batchv1.Job, pods []corev1.Pod) (ctrl.Result, error) {
	d := decide(job, pods, e.opts.Clock.Now(), e.opts.Backoff, e.opts.MaxBackoff)
	if d.KillActive {
		e.killJob(client.ObjectKeyFromObject(job))
	}
	if d.StartPod {
		if err := e.startAttempt(ctx, job, len(pods)+1); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !equality.Semantic.DeepEqual(job.Status, d.Status) {
		orig := job.DeepCopy()
		job.Status = d.Status
		if err := e.client.Status().Patch(ctx, job, client.MergeFrom(orig), fieldOwner); err != nil {
			return ctrl.Result{}, fmt.Errorf("writing the Job's status: %w", err)
		}
	}
	return ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
}

// settlePods writes on each unfinished pod what became of it: its process
// ended, it has none (the executor restarted), or its configuration can
// now be read. It returns the pods as they are now, and whether a pod still
// waits for its configuration.
func (e *Executor) settlePods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, bool, error) {
	var list corev1.PodList
	if err := e.reader.List(ctx, &list, client.InNamespace(job.Namespace),
		client.MatchingLabels{controllerUIDLabel: string(job.UID)}); err != nil {
		return nil, false, fmt.Errorf("listing the Job's pods: %w", err)
	}
	waiting := false
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		still, err := e.settlePod(ctx, job, pod)
		if err != nil {
			return nil, false, err
		}
		waiting = waiting || still
	}
	return list.Items, waiting, nil
}

// settlePod updates one unfinished pod; it reports whether the pod still
// waits for its configuration.
func (e *Executor) settlePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) (bool, error) {
	key := client.ObjectKeyFromObject(pod)
	e.mu.Lock()
	a := e.running[key]
	e.mu.Unlock()
	switch {
	case a == nil:
		// Started by an earlier executor that is gone, like a lost node.
		logf.FromContext(ctx).Info("Failing an attempt the executor no longer runs", "pod", key.Name)
		return false, e.writePod(ctx, pod, disruptedStatus(pod, e.opts.Clock.Now()))
	case a.proc == nil:
		return e.run(ctx, job, pod)
	}
	if res, done := a.proc.exited(); done {
		if err := e.writePod(ctx, pod, terminatedStatus(pod, res)); err != nil {
			return false, err
		}
		e.forget(key)
	}
	return false, nil
}

// startAttempt creates the attempt's pod and runs it.
func (e *Executor) startAttempt(ctx context.Context, job *batchv1.Job, n int) error {
	pod := newPod(job, n, e.opts.NodeName)
	if err := e.client.Create(ctx, pod, fieldOwner); err != nil {
		return fmt.Errorf("creating the attempt's pod: %w", err)
	}
	e.remember(client.ObjectKeyFromObject(pod), &attempt{job: client.ObjectKeyFromObject(job)})
	_, err := e.run(ctx, job, pod)
	return err
}

// run starts the pod's process, or records why it cannot start yet. It
// reports whether the pod waits for its configuration.
func (e *Executor) run(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) (bool, error) {
	key := client.ObjectKeyFromObject(pod)
	container := &pod.Spec.Containers[0]
	env, err := resolveEnv(ctx, pod, container, e)
	var cfgErr configError
	switch {
	case errors.As(err, &cfgErr):
		return true, e.writePod(ctx, pod, waitingStatus(pod, "CreateContainerConfigError", cfgErr.msg))
	case err != nil:
		return false, err
	}
	dir := filepath.Join(e.opts.WorkDir, pod.Namespace, pod.Name)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return false, err
	}
	s, err := e.processSpec(container, env, dir)
	if err == nil {
		var p *process
		// The key, not the Job: the reconcile goes on decoding into job
		// while the process runs, and its end is reported from another
		// goroutine.
		jobKey := client.ObjectKeyFromObject(job)
		p, err = startProcess(s, func() { e.notify(jobKey) })
		if err == nil {
			e.remember(key, &attempt{job: jobKey, proc: p})
			return false, e.writePod(ctx, pod, runningStatus(pod, p.startedAt))
		}
	}
	// The kubelet's StartError: the pod fails with exit code 128.
	e.forget(key)
	now := e.opts.Clock.Now()
	res := exitResult{ExitCode: exitCodeStartError, Reason: "StartError", Message: err.Error(), Started: now, Finished: now}
	return false, e.writePod(ctx, pod, terminatedStatus(pod, res))
}

// processSpec maps the container's command to a local executable and
// builds the process environment: a minimal base, then the pod's.
func (e *Executor) processSpec(c *corev1.Container, env []corev1.EnvVar, dir string) (spec, error) {
	values := map[string]string{}
	for _, v := range env {
		values[v.Name] = v.Value
	}
	var argv []string
	for _, s := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, expand(s, values))
	}
	if len(c.Command) == 0 {
		return spec{}, errors.New("the container has no command; the local executor cannot read an image's entrypoint")
	}
	path, ok := e.opts.Commands[argv[0]]
	if !ok {
		return spec{}, fmt.Errorf("the local executor has no executable for command %q", argv[0])
	}
	// Never the executor's own environment: its REPORTD_* variables would
	// become the process's flags.
	procEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + filepath.Join(dir, "tmp")}
	if e.opts.Kubeconfig != "" {
		procEnv = append(procEnv, "KUBECONFIG="+e.opts.Kubeconfig)
	}
	for _, v := range env {
		procEnv = append(procEnv, v.Name+"="+v.Value)
	}
	return spec{
		path: path, args: argv[1:], env: procEnv, dir: dir,
		fallback: c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError,
	}, nil
}

// writePod writes a pod's status through the status subresource.
func (e *Executor) writePod(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	pod.Status = status
	if err := e.client.Status().Update(ctx, pod, fieldOwner); err != nil {
		return fmt.Errorf("writing pod %s status: %w", pod.Name, err)
	}
	return nil
}

// secretData reads a Secret from the API server for the environment.
func (e *Executor) secretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := e.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}

// configMapData reads a ConfigMap from the API server for the environment.
func (e *Executor) configMapData(ctx context.Context, namespace, name string) (map[string]string, error) {
	var cm corev1.ConfigMap
	if err := e.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cm); err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// notify asks for a reconcile of a Job: one of its processes ended.
func (e *Executor) notify(job types.NamespacedName) {
	stub := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name}}
	go func() {
		select {
		case e.wake <- event.TypedGenericEvent[*batchv1.Job]{Object: stub}:
		case <-e.stop:
		}
	}()
}

// killJob kills every process of the Job's attempts.
func (e *Executor) killJob(job types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.running {
		if a.job == job && a.proc != nil {
			a.proc.kill()
		}
	}
}

func (e *Executor) remember(pod types.NamespacedName, a *attempt) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running[pod] = a
}

func (e *Executor) forget(pod types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, pod)
}

func (e *Executor) isStopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// randomSuffix makes attempt pod names unique, as generateName would.
func randomSuffix() string { return rand.String(5) }
