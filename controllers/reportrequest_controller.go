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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"reportd.io/reportd/api/v1alpha1"
)

// RequestControllerName names the ReportRequest controller, its field
// manager and its metrics.
const RequestControllerName = "reportrequest"

// DefaultProgressInterval is the least time between two progress writes
// of one report.
const DefaultProgressInterval = 2 * time.Second

// jobControllerUIDLabel is the label the API server puts on a Job's pods
// (through its template) with the Job's UID.
const jobControllerUIDLabel = "batch.kubernetes.io/controller-uid"

// ReportRequestReconciler runs each ReportRequest as one Job and keeps its
// status true to the world: the Job, its pods, the Job's annotations
// (progress, rows, result, error) and the stored file. It is the only
// writer of ReportRequest status. A Completed or Failed status is the
// record and is never changed again; its Job is never created again.
type ReportRequestReconciler struct {
	// Client reads from the manager's cache (reportd's Jobs and pods only)
	// and writes.
	Client client.Client
	// APIReader reads past the cache where it may lag: the Job just created.
	APIReader client.Reader
	// Recorder records the few events people read.
	Recorder events.EventRecorder
	// Store is where the generator put the file; the result is checked there.
	Store ResultStore
	// Settings shape every Job.
	Settings JobSettings
	// Defaults fill in what a request leaves out.
	Defaults Defaults
	// Clock tells the time; the real clock when nil.
	Clock clock.PassiveClock
	// ProgressInterval is the least time between two progress writes of
	// one report; DefaultProgressInterval when zero.
	ProgressInterval time.Duration
	// Limits bound the report Jobs running at once; none when zero.
	Limits Limits
	// Workers is how many reports are reconciled at once;
	// DefaultRequestWorkers when zero.
	// One report is never reconciled by two workers at once, and the
	// queue's admission is serialized, so more workers never start more
	// Jobs than the limits allow: they only drain a burst sooner.
	Workers int
	// Notifications, when set, tells whether a finished report still has
	// notifications to send: its time to live waits for them, since they
	// point to it.
	Notifications PendingNotifications

	writes writeLog
	queue  *admissionQueue
}

// DefaultRequestWorkers is how many reports the request controller
// reconciles at once unless told otherwise. Each report costs the manager
// three API round trips before its Job exists; one worker does them one
// report after the other; four drained a burst 1.6 times as fast
// (docs/benchmarks.md, "The manager under a burst").
const DefaultRequestWorkers = 4

// SetupWithManager registers the controller: requests, the Jobs they own,
// those Jobs' pods, and the definitions requests wait for; finished Jobs
// and requests leaving the queue wake the queued requests that may start.
// It also adds the report gauges, computed from the cache at scrape time.
func (r *ReportRequestReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.ProgressInterval <= 0 {
		r.ProgressInterval = DefaultProgressInterval
	}
	r.queue = newAdmissionQueue(r.Limits, r.Client)
	if err := indexRequestType(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	if err := mgr.Add(&cacheCollector{reader: r.Client}); err != nil {
		return fmt.Errorf("adding the report gauges: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(RequestControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.Workers, DefaultRequestWorkers)}).
		For(&v1alpha1.ReportRequest{}).
		Owns(&batchv1.Job{}).
		Watches(&batchv1.Job{}, r.jobQueueEvents()).
		Watches(&v1alpha1.ReportRequest{}, r.requestQueueEvents()).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.requestForPod)).
		Watches(&v1alpha1.ReportDefinition{}, handler.EnqueueRequestsFromMapFunc(r.requestsForDefinition)).
		Complete(r)
}

// Reconcile reads as its phases: a finished report is left alone; a report
// without a Job is validated and gets one; a report with a Job takes its
// status from the Job, its pods and the stored file.
func (r *ReportRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rr := &v1alpha1.ReportRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, rr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rr.DeletionTimestamp.IsZero() {
		return r.cleanUp(ctx, rr)
	}
	if err := r.ensureFinalizer(ctx, rr); err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	if rr.Status.Phase.IsTerminal() {
		// The status is the record; the Job, if any, has nothing to add.
		// What is left is to delete the report when its time is up.
		r.writes.forget(rr.UID)
		return r.expire(ctx, rr, now)
	}
	job, err := r.findJob(ctx, rr)
	if err != nil {
		return ctrl.Result{}, err
	}
	if job == nil && rr.Status.JobName != "" {
		return r.failJobDeleted(ctx, rr, now)
	}
	if job == nil {
		return r.startJob(ctx, rr, now)
	}
	return r.observe(ctx, rr, job, now)
}

// findJob returns the report's Job, or nil. The cache may not show a Job
// created moments ago, so a miss for a report whose status names its Job
// is checked with a live read before the Job is believed gone.
func (r *ReportRequestReconciler) findJob(ctx context.Context, rr *v1alpha1.ReportRequest) (*batchv1.Job, error) {
	key := types.NamespacedName{Namespace: rr.Namespace, Name: JobName(rr)}
	job := &batchv1.Job{}
	err := r.Client.Get(ctx, key, job)
	if apierrors.IsNotFound(err) && rr.Status.JobName != "" {
		err = r.APIReader.Get(ctx, key, job)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the report's Job: %w", err)
	case !metav1.IsControlledBy(job, rr):
		// Not ours: startJob's create reports the conflict.
		return nil, nil
	}
	return job, nil
}

// startJob validates the request and creates its Job when the queue
// admits it. An invalid request fails for good; one whose definition is
// not checked yet waits; one over a limit waits in the queue.
func (r *ReportRequestReconciler) startJob(ctx context.Context, rr *v1alpha1.ReportRequest, now time.Time) (ctrl.Result, error) {
	def, v, err := r.validate(ctx, rr)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch v.outcome {
	case validationWait:
		return r.writeStatus(ctx, rr, waitingStatus(rr, v, now), now)
	case validationInvalid:
		return r.writeStatus(ctx, rr, invalidStatus(rr, v, now), now)
	}
	admission, err := r.queue.admit(ctx, rr, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !admission.admitted {
		return r.holdInQueue(ctx, rr, admission, now)
	}
	job, conflict, err := r.createJob(ctx, rr, def)
	if err != nil || conflict != "" {
		r.queue.release(rr)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if conflict != "" {
		st := *rr.Status.DeepCopy()
		st.ObservedGeneration = rr.Generation
		fail(&st, ReasonJobConflict, conflict, metav1.NewTime(now.UTC().Truncate(time.Second)))
		return r.writeStatus(ctx, rr, st, now)
	}
	return r.observe(ctx, rr, job, now)
}

// createJob creates the report's Job. AlreadyExists means adopt it when
// the report controls it, else a conflict, described for the user.
func (r *ReportRequestReconciler) createJob(ctx context.Context, rr *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition) (*batchv1.Job, string, error) {
	job := buildJob(rr, def, r.Settings, r.Defaults)
	err := r.Client.Create(ctx, job, client.FieldOwner(RequestControllerName))
	if apierrors.IsAlreadyExists(err) {
		existing := &batchv1.Job{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), existing); err != nil {
			return nil, "", fmt.Errorf("reading the existing Job: %w", err)
		}
		if metav1.IsControlledBy(existing, rr) {
			return existing, "", nil
		}
		return nil, fmt.Sprintf("A Job named %q already exists in namespace %q and does not belong to this report. "+
			"Delete or rename that Job, then create the report again.", job.Name, rr.Namespace), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("creating the report's Job: %w", err)
	}
	observeAdmission(rr, r.Clock.Now())
	logf.FromContext(ctx).V(1).Info("Created the report's Job", "job", job.Name)
	r.Recorder.Eventf(rr, job, corev1.EventTypeNormal, EventJobCreated, actionCreateJob, "Created Job %s", job.Name)
	return job, "", nil
}

// observe computes the status from the Job, its pods and, once the Job
// completed, the stored file.
func (r *ReportRequestReconciler) observe(ctx context.Context, rr *v1alpha1.ReportRequest, job *batchv1.Job, now time.Time) (ctrl.Result, error) {
	pods, err := r.podsOf(ctx, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	verdict, err := r.verifyResult(ctx, rr, job)
	if err != nil {
		return ctrl.Result{}, err
	}
	accepted := rr.DeepCopy()
	// Accepted when its Job was created: a time from the world, so every
	// reconcile computes the same condition.
	markValid(&accepted.Status, rr.Generation, job.CreationTimestamp.Time)
	markAdmitted(&accepted.Status, rr.Generation, job.CreationTimestamp.Time)
	st := computeStatus(observed{Request: accepted, Job: job, Pods: pods, Result: verdict, Now: now})
	return r.writeStatus(ctx, rr, st, now)
}

// podsOf lists the Job's pods from the cache.
func (r *ReportRequestReconciler) podsOf(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{jobControllerUIDLabel: string(job.UID)}); err != nil {
		return nil, fmt.Errorf("listing the Job's pods: %w", err)
	}
	return pods.Items, nil
}

// failJobDeleted ends a report whose Job disappeared before it finished.
// Re-running it silently could repeat work the user did not ask for twice.
func (r *ReportRequestReconciler) failJobDeleted(ctx context.Context, rr *v1alpha1.ReportRequest, now time.Time) (ctrl.Result, error) {
	st := *rr.Status.DeepCopy()
	st.ObservedGeneration = rr.Generation
	fail(&st, ReasonJobDeleted, fmt.Sprintf(
		"The report's Job %s was deleted before the report finished. Create the report again to retry.", rr.Status.JobName),
		metav1.NewTime(now.UTC().Truncate(time.Second)))
	return r.writeStatus(ctx, rr, st, now)
}

// writeStatus patches the status if it changed. Progress-only changes are
// throttled to one per ProgressInterval per report (a later reconcile
// writes what was held back); the end of a report raises its event.
func (r *ReportRequestReconciler) writeStatus(ctx context.Context, rr *v1alpha1.ReportRequest, st v1alpha1.ReportRequestStatus, now time.Time) (ctrl.Result, error) {
	old := rr.Status
	if equality.Semantic.DeepEqual(old, st) || r.writes.justWritten(rr.UID, st, now) {
		return ctrl.Result{}, nil
	}
	progressed := st.Progress != old.Progress
	if progressOnly(old, st) {
		if !progressed {
			// Rows alone wait for the next whole percent.
			return ctrl.Result{}, nil
		}
		if wait := r.writes.progressWait(rr.UID, now, r.ProgressInterval); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	updated := rr.DeepCopy()
	updated.Status = st
	if err := r.Client.Status().Patch(ctx, updated, client.MergeFrom(rr), client.FieldOwner(RequestControllerName)); err != nil {
		return ctrl.Result{}, fmt.Errorf("writing the report's status: %w", err)
	}
	r.writes.record(rr.UID, st, now, progressed)
	if !old.Phase.IsTerminal() && st.Phase.IsTerminal() {
		r.recordEnd(updated)
		observeEnd(updated, now)
	}
	return ctrl.Result{}, nil
}

// recordEnd raises the one event that says how a report ended.
func (r *ReportRequestReconciler) recordEnd(rr *v1alpha1.ReportRequest) {
	typ, reason, note := endEvent(rr.Status)
	r.Recorder.Eventf(rr, nil, typ, reason, actionFinish, "%s", note)
}

// endEvent is the event for a finished report: Completed, or why it
// failed, with an invalid request's own reason so users know to fix it.
func endEvent(st v1alpha1.ReportRequestStatus) (typ, reason, note string) {
	if st.Phase == v1alpha1.PhaseCompleted {
		return corev1.EventTypeNormal, EventReportCompleted,
			fmt.Sprintf("The report is ready: %d rows, %d bytes", st.Rows, st.Bytes)
	}
	if c := findCondition(st.Conditions, v1alpha1.ConditionValid); c != nil && c.Status == metav1.ConditionFalse {
		return corev1.EventTypeWarning, EventReportInvalid, st.ErrorMessage
	}
	if c := findCondition(st.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == ReasonJobConflict {
		return corev1.EventTypeWarning, EventJobConflict, st.ErrorMessage
	}
	return corev1.EventTypeWarning, EventReportFailed, st.ErrorMessage
}

// requestForPod maps a pod to the report owning its Job.
func (r *ReportRequestReconciler) requestForPod(ctx context.Context, obj client.Object) []reconcile.Request {
	owner := metav1.GetControllerOf(obj)
	if owner == nil || owner.Kind != "Job" {
		return nil
	}
	job := &batchv1.Job{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: owner.Name}, job); err != nil {
		return nil
	}
	if !isReportJob(job) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: job.Namespace, Name: metav1.GetControllerOfNoCopy(job).Name}}}
}

// requestsForDefinition maps a definition to the requests of its type that
// wait for it (not finished, no Job yet).
func (r *ReportRequestReconciler) requestsForDefinition(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.ReportRequestList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{IndexRequestType: obj.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the requests of a definition")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		rr := &list.Items[i]
		if !rr.Status.Phase.IsTerminal() && rr.Status.JobName == "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(rr)})
		}
	}
	return reqs
}

// findCondition returns the condition of that type, or nil.
func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}
