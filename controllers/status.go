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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
)

// maxErrorMessage is status.errorMessage's limit in the CRD.
const maxErrorMessage = 4096

// observed is what one reconcile saw of a report's world: the request, its
// Job, the Job's pods and the verdict on the stored file. computeStatus
// turns it into the request's status; it does no I/O, so it is tested with
// tables.
type observed struct {
	// Request is the ReportRequest as read; computeStatus never modifies it.
	Request *v1alpha1.ReportRequest
	// Job is the report's Job; nil when there is none.
	Job *batchv1.Job
	// Pods are the Job's pods, in any order.
	Pods []corev1.Pod
	// Result is the verdict on the Job's result; read only once the Job completed.
	Result resultVerdict
	// Now is the time of the reconcile.
	Now time.Time
}

// resultVerdict is what the manager concluded about the generator's result
// after computing the key itself and checking the object with a HEAD.
type resultVerdict struct {
	// Accepted is the verified result; nil when none was accepted.
	Accepted *v1alpha1.ReportResult
	// Problem says why no result was accepted, in words for the requester.
	Problem string
}

// attempt is the Job's current pod, the only one whose annotations count.
type attempt struct {
	// Pod is the newest pod (a running one before finished ones); nil when
	// no pod is visible.
	Pod *corev1.Pod
	// unseenFirst is true when no pod is visible and the Job has never
	// failed: an annotation can then only come from the first attempt.
	unseenFirst bool
}

// accepts reports whether an annotation written by attemptName belongs to
// the current attempt, so a retry never shows a stale attempt's numbers.
func (a attempt) accepts(attemptName string) bool {
	if a.Pod != nil {
		return attemptName == a.Pod.Name
	}
	return a.unseenFirst
}

// computeStatus is the request's status as the world shows it. A terminal
// status is returned unchanged: once Completed or Failed it is the record.
func computeStatus(o observed) v1alpha1.ReportRequestStatus {
	st := *o.Request.Status.DeepCopy()
	if st.Phase.IsTerminal() || o.Job == nil {
		return st
	}
	now := metav1.NewTime(o.Now.UTC().Truncate(time.Second))
	st.ObservedGeneration = o.Request.Generation
	st.JobName = o.Job.Name
	if st.Phase == "" {
		st.Phase = v1alpha1.PhasePending
	}
	pods := sortPodsNewestFirst(o.Pods)
	att := attempt{unseenFirst: o.Job.Status.Failed == 0}
	if len(pods) > 0 {
		att = attempt{Pod: pods[0]}
	}
	oldProgress := st.Progress
	newAttempt := observeAttempts(&st, o.Job, len(pods))
	progressSeen := observeProgress(&st, o.Job, att, newAttempt)

	switch {
	case jobCondition(o.Job, batchv1.JobComplete) != nil:
		observeCompleted(&st, o, now)
	case jobCondition(o.Job, batchv1.JobFailed) != nil:
		observeFailed(&st, o.Job, pods, now)
	default:
		observeRunning(&st, o.Job, att, progressSeen, now)
		if st.Progress != oldProgress || newAttempt {
			st.EstimatedCompletion = estimateCompletion(st, att, now.Time)
		}
	}
	return st
}

// observeAttempts counts the runs started: every pod is one, and so is
// every pod the Job's counters remember. It reports whether a new one began.
func observeAttempts(st *v1alpha1.ReportRequestStatus, job *batchv1.Job, pods int) bool {
	n := max(st.Attempts, int32(pods), job.Status.Failed+job.Status.Succeeded+job.Status.Active)
	started := n > st.Attempts
	st.Attempts = n
	return started
}

// observeProgress copies progress and rows of the current attempt from the
// Job's annotations. Within an attempt neither goes backwards; a new
// attempt starts again from zero. It reports whether the current attempt
// has written progress.
func observeProgress(st *v1alpha1.ReportRequestStatus, job *batchv1.Job, att attempt, newAttempt bool) bool {
	if newAttempt {
		st.Progress, st.Rows, st.EstimatedCompletion = 0, 0, nil
	}
	progress, seen := readProgress(job, v1alpha1.AnnotationProgress, att)
	if seen {
		st.Progress = max(st.Progress, int32(min(max(progress, 0), 100)))
	}
	if rows, ok := readProgress(job, v1alpha1.AnnotationRows, att); ok {
		st.Rows = max(st.Rows, rows)
	}
	return seen
}

// readProgress reads a progress or rows annotation if the current attempt
// wrote it. A malformed annotation counts as absent: the generator's next
// write repairs it, and status never shows garbage.
func readProgress(job *batchv1.Job, key string, att attempt) (int64, bool) {
	var p v1alpha1.ProgressAnnotation
	found, err := v1alpha1.DecodeAnnotation(job.Annotations, key, &p)
	if !found || err != nil || !att.accepts(p.Attempt) {
		return 0, false
	}
	return p.Value, true
}

// observeRunning moves a Pending report to Processing once a pod is ready
// or progress arrived, and names what keeps a pod from running. Its times
// come from the world (the Job's creation, the pod's start), never from
// the clock: a reconcile reading a cache that lags behind the last write
// then computes the very status written, and writes nothing.
func observeRunning(st *v1alpha1.ReportRequestStatus, job *batchv1.Job, att attempt, progressSeen bool, now metav1.Time) {
	ready := (job.Status.Ready != nil && *job.Status.Ready > 0) || (att.Pod != nil && isPodReady(att.Pod))
	if st.Phase == v1alpha1.PhasePending && (ready || progressSeen) {
		st.Phase = v1alpha1.PhaseProcessing
	}
	if st.Phase == v1alpha1.PhaseProcessing && st.StartedAt == nil {
		st.StartedAt = firstTime(attemptStart(att), job.Status.StartTime, &now)
	}
	// The Ready condition stays False while running; its transition time is
	// when the report was accepted, its Job created.
	created := *firstTime(&job.CreationTimestamp, &now)
	if fact, stuck := podStuck(att.Pod); stuck {
		// Named now, not at the deadline: a report stuck at 0% says why.
		st.ErrorMessage = fact.Message
		setReady(st, metav1.ConditionFalse, fact.Reason, fact.Message, created)
		return
	}
	st.ErrorMessage = ""
	if st.Phase == v1alpha1.PhaseProcessing {
		setReady(st, metav1.ConditionFalse, ReasonProcessing, "The report is being generated", created)
		return
	}
	setReady(st, metav1.ConditionFalse, ReasonPending, "The report's Job was created and waits for its pod to start", created)
}

// attemptStart is when the current attempt's pod started: its Ready
// transition, its start time, or its creation; nil without a pod.
func attemptStart(att attempt) *metav1.Time {
	if att.Pod == nil {
		return nil
	}
	for _, c := range att.Pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return &c.LastTransitionTime
		}
	}
	if att.Pod.Status.StartTime != nil {
		return att.Pod.Status.StartTime
	}
	return &att.Pod.CreationTimestamp
}

// estimateCompletion extrapolates the current attempt's progress rate: an
// attempt that reached 25% in one minute ends three minutes later.
func estimateCompletion(st v1alpha1.ReportRequestStatus, att attempt, now time.Time) *metav1.Time {
	if st.Progress <= 0 || st.Progress >= 100 {
		return nil
	}
	begun := firstTime(attemptStart(att), st.StartedAt)
	if begun == nil {
		return nil
	}
	start := begun.Time
	elapsed := now.Sub(start)
	if elapsed <= 0 {
		return nil
	}
	total := time.Duration(float64(elapsed) * 100 / float64(st.Progress))
	eta := metav1.NewTime(start.Add(total).UTC().Truncate(time.Second))
	return &eta
}

// observeCompleted ends a report whose Job succeeded: Completed with the
// verified result, or Failed when the result did not verify.
func observeCompleted(st *v1alpha1.ReportRequestStatus, o observed, now metav1.Time) {
	completed := *firstTime(o.Job.Status.CompletionTime, &now)
	if o.Result.Accepted == nil {
		fail(st, ReasonResultRejected, o.Result.Problem, completed)
		return
	}
	r := o.Result.Accepted.DeepCopy()
	st.Phase = v1alpha1.PhaseCompleted
	st.Result = r
	st.Rows, st.Bytes, st.Progress = r.Rows, r.Size, 100
	st.EstimatedCompletion = nil
	st.ErrorMessage = ""
	if st.StartedAt == nil {
		st.StartedAt = firstTime(o.Job.Status.StartTime, &now)
	}
	if st.CompletedAt == nil {
		st.CompletedAt = &completed
	}
	setReady(st, metav1.ConditionTrue, ReasonCompleted, "The report is ready to download", completed)
}

// observeFailed ends a report whose Job failed, saying why in words.
func observeFailed(st *v1alpha1.ReportRequestStatus, job *batchv1.Job, pods []*corev1.Pod, now metav1.Time) {
	reason, message := jobFailure(job, pods, st.ErrorMessage)
	at := now
	if cond := jobCondition(job, batchv1.JobFailed); !cond.LastTransitionTime.IsZero() {
		at = cond.LastTransitionTime
	}
	fail(st, reason, message, at)
}

// jobFailure explains a failed Job: the generator's own words for the last
// attempt first, then what its pod tells (out of memory, exit code and
// termination message), framed by why the Job gave up. stuckBefore is what
// kept the pod from running while the report was alive, if anything.
func jobFailure(job *batchv1.Job, pods []*corev1.Pod, stuckBefore string) (reason, message string) {
	cond := jobCondition(job, batchv1.JobFailed)
	last := lastFailedPod(pods)
	cause := generatorError(job, last, len(pods) == 0)
	told := cause != "" // the generator said why in its own words
	if !told {
		cause = podFailure(last)
	}
	switch cond.Reason {
	case batchv1.JobReasonDeadlineExceeded:
		msg := "The report did not finish within its time limit of " + deadlineText(job) + "."
		if stuck := currentStuck(pods); stuck != "" {
			stuckBefore = stuck
		}
		if stuckBefore != "" {
			msg += " " + stuckBefore
		}
		return ReasonDeadlineExceeded, msg
	case batchv1.JobReasonPodFailurePolicy:
		// A bare exit code tells less than what exit code 3 means.
		if t := terminatedState(last); !told && (t == nil || (t.Message == "" && t.Reason != "OOMKilled")) {
			cause = "The report failed, and retrying cannot help (the generator exited with code 3)."
		}
		return ReasonPermanentFailure, cause
	case batchv1.JobReasonBackoffLimitExceeded:
		msg := fmt.Sprintf("The report failed on all %d attempts.", job.Status.Failed)
		if cause != "" {
			msg += " The last attempt: " + cause
		}
		return ReasonBackoffLimitExceeded, msg
	}
	return ReasonJobFailed, "The report's Job failed: " + trimMessage(cond.Reason+" "+cond.Message)
}

// generatorError is the generator's own explanation of a failed attempt
// (the error annotation), if the last failed pod wrote it. With no pods
// visible any attempt's error is taken: it is the best there is.
func generatorError(job *batchv1.Job, last *corev1.Pod, noPods bool) string {
	var e v1alpha1.ErrorAnnotation
	found, err := v1alpha1.DecodeAnnotation(job.Annotations, v1alpha1.AnnotationError, &e)
	if !found || err != nil || e.Message == "" {
		return ""
	}
	if !noPods && (last == nil || e.Attempt != last.Name) {
		return ""
	}
	return trimMessage(e.Message)
}

// currentStuck is why a still-unfinished pod cannot run, if one says so.
func currentStuck(pods []*corev1.Pod) string {
	for _, pod := range pods {
		if fact, stuck := podStuck(pod); stuck {
			return fact.Message
		}
	}
	return ""
}

// deadlineText is the Job's activeDeadlineSeconds as a duration ("1h0m0s").
func deadlineText(job *batchv1.Job) string {
	if job.Spec.ActiveDeadlineSeconds == nil {
		return "its deadline"
	}
	return (time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).String()
}

// fail makes the status Failed with a reason and a message for the
// requester. completedAt is set once.
func fail(st *v1alpha1.ReportRequestStatus, reason, message string, at metav1.Time) {
	message = truncate(message, maxErrorMessage)
	st.Phase = v1alpha1.PhaseFailed
	st.ErrorMessage = message
	st.EstimatedCompletion = nil
	if st.CompletedAt == nil {
		st.CompletedAt = &at
	}
	setReady(st, metav1.ConditionFalse, reason, message, at)
}

// setReady sets the Ready condition; meta.SetStatusCondition keeps
// lastTransitionTime unless the status flips.
func setReady(st *v1alpha1.ReportRequestStatus, status metav1.ConditionStatus, reason, message string, now metav1.Time) {
	setCondition(&st.Conditions, v1alpha1.ConditionReady, status, reason, message, st.ObservedGeneration, now)
}

// setCondition sets one condition with observedGeneration.
func setCondition(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now metav1.Time) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, 32768),
		ObservedGeneration: generation,
		LastTransitionTime: now,
	})
}

// jobCondition returns the Job's condition of that type when it is True.
func jobCondition(job *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// firstTime returns the first of its arguments that is set, as a copy.
func firstTime(times ...*metav1.Time) *metav1.Time {
	for _, t := range times {
		if t != nil && !t.IsZero() {
			c := metav1.NewTime(t.UTC().Truncate(time.Second))
			return &c
		}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
