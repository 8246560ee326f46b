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
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"reportd.io/reportd/api/v1alpha1"
)

// Limits bound how many report Jobs run at once, whoever created the
// requests (the facade, kubectl, schedules). Zero means no limit. A request
// over a limit stays Pending with the Queued condition until a slot frees;
// requests start first come, first served (creation time, then name).
type Limits struct {
	// MaxRunningJobs is the most report Jobs running at once, manager-wide.
	MaxRunningJobs int
	// MaxRunningPerRequester is the most report Jobs of one requester
	// (spec.requestedBy) running at once.
	MaxRunningPerRequester int
}

// unlimited reports whether no limit is set: every request starts at once.
func (l Limits) unlimited() bool { return l.MaxRunningJobs <= 0 && l.MaxRunningPerRequester <= 0 }

// queueRecheck is how often a queued request is looked at again even when
// no Job finished: a safety net, since finished Jobs and requests leaving
// the queue already wake the requests that may start.
const queueRecheck = time.Minute

// inFlightExpiry bounds how long a Job this process created is counted
// while the cache does not show it; the cache normally shows it within
// milliseconds.
const inFlightExpiry = time.Minute

// admissionQueue decides which waiting requests may create their Job. It
// counts the running Jobs from the cache: the unfinished Jobs the manager's
// requests control, plus the Jobs this process created that the cache does
// not show yet, so a burst of reconciles reading a stale cache cannot start
// more Jobs than the limits allow. The queue itself is not stored: it is
// computed from the cache when asked, in order of creation time and name.
type admissionQueue struct {
	limits Limits
	reader client.Reader

	mu sync.Mutex
	// inFlight are the Jobs this process created that the cache has not
	// shown yet, by Job key.
	inFlight map[types.NamespacedName]inFlightJob
}

// inFlightJob is a Job created by this process, not yet in the cache.
type inFlightJob struct {
	requester string
	created   time.Time
}

// waitingRequest is a request that waits for a slot.
type waitingRequest struct {
	key       types.NamespacedName
	requester string
	created   time.Time
}

// occupancy is what runs: in all, and by requester hash.
type occupancy struct {
	total       int
	byRequester map[string]int
}

// admission is the queue's verdict on one request.
type admission struct {
	// admitted means the request may create its Job now.
	admitted bool
	// reason and message say which limit holds the request back.
	reason, message string
}

// newAdmissionQueue returns a queue reading Jobs and requests from reader.
func newAdmissionQueue(limits Limits, reader client.Reader) *admissionQueue {
	return &admissionQueue{limits: limits, reader: reader, inFlight: map[types.NamespacedName]inFlightJob{}}
}

// admit says whether rr may create its Job now. When it may, its Job is
// counted as running from this moment: call release if the Job is not
// created after all.
func (q *admissionQueue) admit(ctx context.Context, rr *v1alpha1.ReportRequest, now time.Time) (admission, error) {
	if q.limits.unlimited() {
		return admission{admitted: true}, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	jobKey := types.NamespacedName{Namespace: rr.Namespace, Name: JobName(rr)}
	if _, ok := q.inFlight[jobKey]; ok {
		// Admitted moments ago; the cache does not show its Job yet.
		return admission{admitted: true}, nil
	}
	running, jobs, err := q.occupancy(ctx, now)
	if err != nil {
		return admission{}, err
	}
	me := waitingRequest{key: client.ObjectKeyFromObject(rr), requester: RequesterHash(rr.Spec.RequestedBy), created: rr.CreationTimestamp.Time}
	// Slots only fill up along the queue: a request held back by what
	// already runs stays held whoever waits ahead of it, so the waiting
	// requests need not be listed. That is a full queue's every recheck.
	if held, ok := heldBy(q.limits, running.total, running.byRequester[me.requester]); ok {
		return held, nil
	}
	waiting, err := q.waiting(ctx, jobs)
	if err != nil {
		return admission{}, err
	}
	waiting = slices.DeleteFunc(waiting, func(w waitingRequest) bool { return w.key == me.key })
	waiting = append(waiting, me)
	verdict := admissions(q.limits, running, waiting)[me.key]
	if verdict.admitted {
		q.inFlight[jobKey] = inFlightJob{requester: me.requester, created: now}
	}
	return verdict, nil
}

// release forgets an admission whose Job was not created.
func (q *admissionQueue) release(rr *v1alpha1.ReportRequest) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, types.NamespacedName{Namespace: rr.Namespace, Name: JobName(rr)})
}

// seen forgets a Job the cache now shows (or showed deleted): from here
// on the cache counts it.
func (q *admissionQueue) seen(job client.Object) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, client.ObjectKeyFromObject(job))
}

// startable lists the waiting requests that may start now, in queue order.
func (q *admissionQueue) startable(ctx context.Context, now time.Time) ([]types.NamespacedName, error) {
	if q.limits.unlimited() {
		return nil, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	running, jobs, err := q.occupancy(ctx, now)
	if err != nil {
		return nil, err
	}
	waiting, err := q.waiting(ctx, jobs)
	if err != nil {
		return nil, err
	}
	verdicts := admissions(q.limits, running, waiting)
	var out []types.NamespacedName
	for _, w := range sortedQueue(waiting) {
		if verdicts[w.key].admitted {
			out = append(out, w.key)
		}
	}
	return out, nil
}

// occupancy counts the running report Jobs: the unfinished ones in the
// cache that a ReportRequest controls, and the ones created by this
// process that the cache does not show yet. It also returns the keys of
// all the report Jobs the cache holds. Called with q.mu held.
func (q *admissionQueue) occupancy(ctx context.Context, now time.Time) (occupancy, map[types.NamespacedName]bool, error) {
	var list batchv1.JobList
	// Read only: the cache's own objects, not copies.
	if err := q.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return occupancy{}, nil, fmt.Errorf("listing the report Jobs: %w", err)
	}
	occ := occupancy{byRequester: map[string]int{}}
	jobs := make(map[types.NamespacedName]bool, len(list.Items))
	for i := range list.Items {
		job := &list.Items[i]
		if !isReportJob(job) {
			continue
		}
		key := client.ObjectKeyFromObject(job)
		jobs[key] = true
		delete(q.inFlight, key)
		if !jobFinished(job) {
			occ.total++
			occ.byRequester[job.Labels[v1alpha1.LabelRequesterHash]]++
		}
	}
	for key, j := range q.inFlight {
		if now.Sub(j.created) > inFlightExpiry {
			delete(q.inFlight, key)
			continue
		}
		occ.total++
		occ.byRequester[j.requester]++
	}
	return occ, jobs, nil
}

// waiting lists the requests waiting for a slot: not finished, not being
// deleted, accepted or not yet looked at, without a Job (in the cache or
// in flight). A request waiting for its definition's check holds no place.
// Called with q.mu held.
func (q *admissionQueue) waiting(ctx context.Context, jobs map[types.NamespacedName]bool) ([]waitingRequest, error) {
	var list v1alpha1.ReportRequestList
	if err := q.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the report requests: %w", err)
	}
	var out []waitingRequest
	for i := range list.Items {
		rr := &list.Items[i]
		if !waitsForSlot(rr) {
			continue
		}
		jobKey := types.NamespacedName{Namespace: rr.Namespace, Name: JobName(rr)}
		if _, ok := q.inFlight[jobKey]; ok || jobs[jobKey] {
			continue
		}
		out = append(out, waitingRequest{
			key: client.ObjectKeyFromObject(rr), requester: RequesterHash(rr.Spec.RequestedBy), created: rr.CreationTimestamp.Time,
		})
	}
	return out, nil
}

// waitsForSlot reports whether a request, as the cache shows it, waits to
// create its Job: not finished, not being deleted, without a Job, and not
// waiting for its definition's check.
func waitsForSlot(rr *v1alpha1.ReportRequest) bool {
	if !rr.DeletionTimestamp.IsZero() || rr.Status.Phase.IsTerminal() || rr.Status.JobName != "" {
		return false
	}
	valid := meta.FindStatusCondition(rr.Status.Conditions, v1alpha1.ConditionValid)
	return valid == nil || valid.Status == metav1.ConditionTrue
}

// admissions walks the waiting requests first come, first served and says
// which may start now, given what runs: each starts if both limits leave
// room for it. A request held by its requester's limit does not hold back
// the requests of others behind it; one held by the manager-wide limit
// holds back everyone behind it, since they all wait for the same slot.
func admissions(limits Limits, running occupancy, waiting []waitingRequest) map[types.NamespacedName]admission {
	total := running.total
	byRequester := make(map[string]int, len(running.byRequester))
	for k, v := range running.byRequester {
		byRequester[k] = v
	}
	out := make(map[types.NamespacedName]admission, len(waiting))
	for _, w := range sortedQueue(waiting) {
		if held, ok := heldBy(limits, total, byRequester[w.requester]); ok {
			out[w.key] = held
			continue
		}
		out[w.key] = admission{admitted: true}
		total++
		byRequester[w.requester]++
	}
	return out
}

// heldBy says which limit, if any, holds back a request when total report
// Jobs run, perRequester of them its requester's. When both limits hold
// it, its requester's is named: a slot freed by someone else would not let
// it start.
func heldBy(limits Limits, total, perRequester int) (admission, bool) {
	switch {
	case limits.MaxRunningPerRequester > 0 && perRequester >= limits.MaxRunningPerRequester:
		return admission{reason: ReasonRequesterLimit, message: fmt.Sprintf(
			"Waiting for a free slot: the requester's limit of %d reports running at once is reached. Reports start first come, first served.",
			limits.MaxRunningPerRequester)}, true
	case limits.MaxRunningJobs > 0 && total >= limits.MaxRunningJobs:
		return admission{reason: ReasonManagerLimit, message: fmt.Sprintf(
			"Waiting for a free slot: the limit of %d reports running at once is reached. Reports start first come, first served.",
			limits.MaxRunningJobs)}, true
	}
	return admission{}, false
}

// sortedQueue returns the waiting requests in queue order: creation time,
// then name, then namespace.
func sortedQueue(waiting []waitingRequest) []waitingRequest {
	sorted := slices.Clone(waiting)
	slices.SortFunc(sorted, func(a, b waitingRequest) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.key.Name, b.key.Name), cmp.Compare(a.key.Namespace, b.key.Namespace))
	})
	return sorted
}

// isReportJob reports whether a ReportRequest controls job.
func isReportJob(job *batchv1.Job) bool {
	ref := metav1.GetControllerOfNoCopy(job)
	return ref != nil && ref.Kind == "ReportRequest" && ref.APIVersion == v1alpha1.GroupVersion.String()
}

// jobFinished reports whether the Job is Complete or Failed: until then
// its pods may run and it holds its slot.
func jobFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) != nil || jobCondition(job, batchv1.JobFailed) != nil
}

// queuedStatus is the status of a request held in the queue: Pending, with
// Queued=True saying which limit holds it.
func queuedStatus(rr *v1alpha1.ReportRequest, a admission, now time.Time) v1alpha1.ReportRequestStatus {
	st := *rr.Status.DeepCopy()
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.ObservedGeneration = rr.Generation
	st.Phase = v1alpha1.PhasePending
	setCondition(&st.Conditions, v1alpha1.ConditionValid, metav1.ConditionTrue, ReasonAccepted,
		"The report type, parameters and format were accepted", rr.Generation, at)
	setCondition(&st.Conditions, v1alpha1.ConditionQueued, metav1.ConditionTrue, a.reason, a.message, rr.Generation, at)
	setReady(&st, metav1.ConditionFalse, ReasonQueued, a.message, at)
	return st
}

// isQueued reports whether a status holds the request in the queue.
func isQueued(st *v1alpha1.ReportRequestStatus) bool {
	return meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionQueued)
}

// markAdmitted ends a request's wait in the queue once its Job exists.
// Requests that never waited carry no Queued condition.
func markAdmitted(st *v1alpha1.ReportRequestStatus, generation int64, jobCreated time.Time) {
	if meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionQueued) == nil {
		return
	}
	setCondition(&st.Conditions, v1alpha1.ConditionQueued, metav1.ConditionFalse, ReasonAdmitted,
		"A slot freed up and the report's Job was created", generation, metav1.NewTime(jobCreated.UTC().Truncate(time.Second)))
}

// holdInQueue keeps a request Pending with Queued=True. The condition is
// written once: a request already queued (in the cache, or by a write the
// cache does not show yet) is not written again while it waits, however
// often it is looked at, so a queue of thousands costs one write each.
// Its message therefore names the limit that held it first.
func (r *ReportRequestReconciler) holdInQueue(ctx context.Context, rr *v1alpha1.ReportRequest, a admission, now time.Time) (ctrl.Result, error) {
	if isQueued(&rr.Status) || r.writes.queued(rr.UID) {
		return ctrl.Result{RequeueAfter: queueRecheck}, nil
	}
	if _, err := r.writeStatus(ctx, rr, queuedStatus(rr, a, now), now); err != nil {
		return ctrl.Result{}, err
	}
	logf.FromContext(ctx).V(1).Info("Queued the report", "reason", a.reason)
	return ctrl.Result{RequeueAfter: queueRecheck}, nil
}

// jobQueueEvents tells the queue which Jobs the cache shows, and wakes the
// queued requests that may start when a report Job finishes or goes away
// unfinished.
func (r *ReportRequestReconciler) jobQueueEvents() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.queue.seen(e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.queue.seen(e.ObjectNew)
			oldJob, okOld := e.ObjectOld.(*batchv1.Job)
			newJob, okNew := e.ObjectNew.(*batchv1.Job)
			if okOld && okNew && isReportJob(newJob) && !jobFinished(oldJob) && jobFinished(newJob) {
				r.wakeQueue(ctx, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.queue.seen(e.Object)
			if job, ok := e.Object.(*batchv1.Job); ok && isReportJob(job) && !jobFinished(job) {
				r.wakeQueue(ctx, q)
			}
		},
	}
}

// requestQueueEvents wakes the queued requests that may start when a
// request leaves the queue without a Job (it failed validation, or was
// deleted): the place it held goes to the next.
func (r *ReportRequestReconciler) requestQueueEvents() handler.EventHandler {
	return handler.Funcs{
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldRR, okOld := e.ObjectOld.(*v1alpha1.ReportRequest)
			newRR, okNew := e.ObjectNew.(*v1alpha1.ReportRequest)
			if okOld && okNew && waitsForSlot(oldRR) && !waitsForSlot(newRR) && newRR.Status.JobName == "" {
				r.wakeQueue(ctx, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if rr, ok := e.Object.(*v1alpha1.ReportRequest); ok && waitsForSlot(rr) {
				r.wakeQueue(ctx, q)
			}
		},
	}
}

// wakeQueue enqueues, in queue order, the requests that may start now.
// Only those: the rest would find no slot.
func (r *ReportRequestReconciler) wakeQueue(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	keys, err := r.queue.startable(ctx, r.Clock.Now())
	if err != nil {
		// The queued requests look again within queueRecheck.
		logf.FromContext(ctx).Error(err, "Finding the queued reports that may start")
		return
	}
	for _, key := range keys {
		q.Add(reconcile.Request{NamespacedName: key})
	}
}
