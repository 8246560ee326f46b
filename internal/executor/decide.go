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
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The job controller's condition reasons and messages, which the API server
// does not check but every reader of a Job expects.
const (
	reasonCompletionsReached  = "CompletionsReached"
	messageCompletionsReached = "Reached expected number of succeeded pods"
	messageBackoffLimit       = "Job has reached the specified backoff limit"
	messageDeadline           = "Job was active longer than specified deadline"
)

// decision is what the executor does next for one Job: the status to
// write, and whether to start or kill attempts. It is computed from the
// Job and its pods alone, as the job controller does, so a restarted
// executor decides the same.
type decision struct {
	// Status is the Job status to write; equal to the Job's when nothing changes.
	Status batchv1.JobStatus
	// StartPod asks for a new attempt now.
	StartPod bool
	// KillActive asks to kill every running attempt.
	KillActive bool
	// RequeueAfter is when to look again (a backoff or the deadline); 0 for never.
	RequeueAfter time.Duration
}

// podCounts are the Job's pods sorted the way its status counts them.
type podCounts struct {
	active, ready, failed, succeeded int32
	// failJob is the first failed pod that a FailJob rule matched, with its message.
	failJob        *corev1.Pod
	failJobMessage string
	// lastFailure is when the newest counted failure ended; zero if none.
	lastFailure time.Time
}

// decide computes the next step for job, whose pods are given. backoff is
// the delay before the first retry (doubled per counted failure, capped at
// maxBackoff).
func decide(job *batchv1.Job, pods []corev1.Pod, now time.Time, backoff, maxBackoff time.Duration) decision {
	st := *job.Status.DeepCopy()
	d := decision{Status: st}
	c := countPods(job, pods)
	stamp := metav1.NewTime(now.UTC().Truncate(time.Second))

	switch {
	case hasCondition(&st, batchv1.JobFailureTarget):
		return finishFailure(d, c)
	case hasCondition(&st, batchv1.JobSuccessCriteriaMet):
		// The second step of success: Complete, with a completion time. A
		// finished Job must show no active pods; a write from a stale view
		// may have put one back, so clear it here rather than loop on a 422.
		d.Status.Active, d.Status.Ready = 0, ptr.To[int32](0)
		d.KillActive = c.active > 0
		d.Status.Conditions = append(d.Status.Conditions, newCondition(batchv1.JobComplete, reasonCompletionsReached, messageCompletionsReached, stamp))
		d.Status.CompletionTime = &stamp
		return d
	case c.succeeded > 0:
		d.Status.Active, d.Status.Ready, d.Status.Succeeded, d.Status.Failed = 0, ptr.To[int32](0), c.succeeded, max(st.Failed, c.failed)
		d.KillActive = c.active > 0
		d.Status.Conditions = append(d.Status.Conditions, newCondition(batchv1.JobSuccessCriteriaMet, reasonCompletionsReached, messageCompletionsReached, stamp))
		return d
	case c.failJob != nil:
		return startFailure(d, c, batchv1.JobReasonPodFailurePolicy, c.failJobMessage, stamp)
	case c.failed > backoffLimit(job):
		return startFailure(d, c, batchv1.JobReasonBackoffLimitExceeded, messageBackoffLimit, stamp)
	case deadlinePassed(job, now):
		return startFailure(d, c, batchv1.JobReasonDeadlineExceeded, messageDeadline, stamp)
	}
	return keepRunning(d, job, c, now, stamp, backoff, maxBackoff)
}

// keepRunning updates the counters and starts the next attempt when none
// runs and the backoff since the last failure has passed.
func keepRunning(d decision, job *batchv1.Job, c podCounts, now time.Time, stamp metav1.Time, backoff, maxBackoff time.Duration) decision {
	d.Status.Active, d.Status.Ready, d.Status.Failed = c.active, ptr.To(c.ready), max(d.Status.Failed, c.failed)
	if c.active == 0 {
		wait := time.Duration(0)
		if !c.lastFailure.IsZero() {
			wait = c.lastFailure.Add(retryDelay(c.failed, backoff, maxBackoff)).Sub(now)
		}
		if wait > 0 {
			d.RequeueAfter = wait
		} else {
			d.StartPod = true
			d.Status.Active = 1
			if d.Status.StartTime == nil {
				d.Status.StartTime = &stamp
			}
		}
	}
	if left, ok := untilDeadline(job, d.Status.StartTime, now); ok && (d.RequeueAfter == 0 || left < d.RequeueAfter) {
		d.RequeueAfter = left
	}
	return d
}

// startFailure is the first step of failing the Job: FailureTarget, with
// running attempts killed and shown as terminating.
func startFailure(d decision, c podCounts, reason, message string, stamp metav1.Time) decision {
	d.Status.Active, d.Status.Ready = 0, ptr.To[int32](0)
	d.Status.Terminating = ptr.To(c.active)
	d.Status.Failed = max(d.Status.Failed, c.failed)
	d.KillActive = c.active > 0
	d.Status.Conditions = append(d.Status.Conditions, newCondition(batchv1.JobFailureTarget, reason, message, stamp))
	if c.active == 0 {
		// Nothing to wait for: the Failed condition can follow at once.
		return finishFailure(d, c)
	}
	return d
}

// finishFailure is the second step: once no attempt runs any more, Failed
// with FailureTarget's reason and message.
func finishFailure(d decision, c podCounts) decision {
	if c.active > 0 {
		d.KillActive = true
		d.Status.Terminating = ptr.To(c.active)
		return d
	}
	target := findCondition(&d.Status, batchv1.JobFailureTarget)
	d.Status.Active, d.Status.Ready, d.Status.Terminating = 0, ptr.To[int32](0), ptr.To[int32](0)
	d.Status.Failed = max(d.Status.Failed, c.failed)
	d.Status.Conditions = append(d.Status.Conditions, newCondition(batchv1.JobFailed, target.Reason, target.Message, target.LastTransitionTime))
	return d
}

// countPods counts pods as the job controller does, applying the Job's
// podFailurePolicy to each failed pod: FailJob fails the Job, Ignore does
// not count the failure (a disruption), Count and no match count it.
func countPods(job *batchv1.Job, pods []corev1.Pod) podCounts {
	var c podCounts
	for i := range pods {
		pod := &pods[i]
		switch pod.Status.Phase {
		case corev1.PodSucceeded:
			c.succeeded++
		case corev1.PodFailed:
			action, index := matchPolicy(job.Spec.PodFailurePolicy, pod)
			switch action {
			case batchv1.PodFailurePolicyActionIgnore:
				continue
			case batchv1.PodFailurePolicyActionFailJob:
				if c.failJob == nil {
					c.failJob = pod
					c.failJobMessage = failJobMessage(pod, index)
				}
			}
			c.failed++
			if end := finishedAt(pod); end.After(c.lastFailure) {
				c.lastFailure = end
			}
		default:
			c.active++
			if isReady(pod) {
				c.ready++
			}
		}
	}
	return c
}

// matchPolicy returns the action of the first podFailurePolicy rule that
// matches a failed pod, and its index; Count when none does.
func matchPolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (batchv1.PodFailurePolicyAction, int) {
	if policy == nil {
		return batchv1.PodFailurePolicyActionCount, -1
	}
	for i, rule := range policy.Rules {
		if rule.OnExitCodes != nil && matchExitCodes(rule.OnExitCodes, pod) {
			return rule.Action, i
		}
		for _, pattern := range rule.OnPodConditions {
			if podConditionIs(pod, pattern.Type, pattern.Status) {
				return rule.Action, i
			}
		}
	}
	return batchv1.PodFailurePolicyActionCount, -1
}

// matchExitCodes reports whether a terminated container's exit code
// matches the requirement (In or NotIn; exit code 0 never matches).
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return true
		}
	}
	return false
}

// failJobMessage is the job controller's message for a FailJob match.
func failJobMessage(pod *corev1.Pod, index int) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching FailJob rule at index %d",
				cs.Name, pod.Namespace, pod.Name, t.ExitCode, index)
		}
	}
	return fmt.Sprintf("Pod %s/%s has condition matching FailJob rule at index %d", pod.Namespace, pod.Name, index)
}

// backoffLimit is the Job's backoffLimit; 6 when unset, as the API defaults it.
func backoffLimit(job *batchv1.Job) int32 {
	if job.Spec.BackoffLimit == nil {
		return 6
	}
	return *job.Spec.BackoffLimit
}

// retryDelay is the wait before the next attempt after failed failures:
// backoff, doubled per further failure, at most maxBackoff.
func retryDelay(failed int32, backoff, maxBackoff time.Duration) time.Duration {
	delay := backoff
	for i := int32(1); i < failed && delay < maxBackoff; i++ {
		delay *= 2
	}
	return min(delay, maxBackoff)
}

// deadlinePassed reports whether the Job ran past activeDeadlineSeconds.
func deadlinePassed(job *batchv1.Job, now time.Time) bool {
	left, ok := untilDeadline(job, job.Status.StartTime, now)
	return ok && left <= 0
}

// untilDeadline is the time left before the Job's deadline, counted from start.
func untilDeadline(job *batchv1.Job, start *metav1.Time, now time.Time) (time.Duration, bool) {
	if job.Spec.ActiveDeadlineSeconds == nil || start == nil {
		return 0, false
	}
	end := start.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second)
	return end.Sub(now), true
}

// finishedAt is when a pod's container ended.
func finishedAt(pod *corev1.Pod) time.Time {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return t.FinishedAt.Time
		}
	}
	return pod.CreationTimestamp.Time
}

// isReady reports whether the pod's Ready condition is True.
func isReady(pod *corev1.Pod) bool { return podConditionIs(pod, corev1.PodReady, corev1.ConditionTrue) }

// podConditionIs reports whether the pod has the condition with that status.
func podConditionIs(pod *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

// isFinished reports whether the Job has a Complete or Failed condition.
func isFinished(job *batchv1.Job) bool {
	return hasCondition(&job.Status, batchv1.JobComplete) || hasCondition(&job.Status, batchv1.JobFailed)
}

// hasCondition reports whether the status has the condition, True.
func hasCondition(st *batchv1.JobStatus, typ batchv1.JobConditionType) bool {
	return findCondition(st, typ) != nil
}

// findCondition returns the True condition of that type, or nil.
func findCondition(st *batchv1.JobStatus, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ && st.Conditions[i].Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}

// newCondition is a True Job condition.
func newCondition(typ batchv1.JobConditionType, reason, message string, at metav1.Time) batchv1.JobCondition {
	return batchv1.JobCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: at, LastTransitionTime: at,
	}
}
