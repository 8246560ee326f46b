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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func ts(seconds int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(seconds) * time.Second)) }

// reportPolicy is the podFailurePolicy reportd's Jobs carry.
func reportPolicy() *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To("generate"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
	}}
}

// job is a Job with backoffLimit 2 and a 60 s deadline, started at t0
// unless started is false.
func job(started bool, conds ...batchv1.JobCondition) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "rr-x", Namespace: "ns"},
		Spec:       batchv1.JobSpec{BackoffLimit: ptr.To[int32](2), ActiveDeadlineSeconds: ptr.To[int64](60), PodFailurePolicy: reportPolicy()},
	}
	if started {
		j.Status.StartTime = ptr.To(ts(0))
		j.Status.Active = 1
	}
	j.Status.Conditions = conds
	return j
}

func cond(typ batchv1.JobConditionType, reason, message string, at int) batchv1.JobCondition {
	return newCondition(typ, reason, message, ts(at))
}

func runningPod(name string, ready bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	p.Status.Conditions = podConditions(ready, ts(0))
	return p
}

func endedPod(name string, exitCode int32, finished int, disrupted bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "generate"}}}}
	p.Status = terminatedStatus(&p, exitResult{ExitCode: exitCode, Reason: "Error", Started: t0, Finished: t0.Add(time.Duration(finished) * time.Second)})
	if disrupted {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue})
	}
	return p
}

func TestDecide(t *testing.T) {
	cases := map[string]struct {
		job  *batchv1.Job
		pods []corev1.Pod
		now  int // seconds after t0
		// want is the decision; its Status is compared field by field below.
		wantStart, wantKill bool
		wantRequeue         time.Duration
		wantActive          int32
		wantReady           int32
		wantFailed          int32
		wantSucceeded       int32
		wantTerminating     *int32
		wantConditions      []batchv1.JobCondition
	}{
		"a new Job starts its first attempt": {
			job: job(false), now: 0,
			wantStart: true, wantActive: 1, wantRequeue: 60 * time.Second,
		},
		"a pending pod is active, not ready": {
			job: job(true), pods: []corev1.Pod{runningPod("p1", false)}, now: 10,
			wantActive: 1, wantRequeue: 50 * time.Second,
		},
		"a started process makes the Job ready": {
			job: job(true), pods: []corev1.Pod{runningPod("p1", true)}, now: 10,
			wantActive: 1, wantReady: 1, wantRequeue: 50 * time.Second,
		},
		"success, first step": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 0, 20, false)}, now: 20,
			wantSucceeded:  1,
			wantConditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", 20)},
		},
		"success, second step": {
			job: func() *batchv1.Job {
				j := job(true, cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", 20))
				j.Status.Active, j.Status.Ready, j.Status.Succeeded = 0, ptr.To[int32](0), 1
				return j
			}(),
			pods: []corev1.Pod{endedPod("p1", 0, 20, false)}, now: 21,
			wantSucceeded: 1,
			wantConditions: []batchv1.JobCondition{
				cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", 20),
				cond(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", 21),
			},
		},
		"a failure waits for the backoff": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 1, 10, false)}, now: 10,
			wantFailed: 1, wantRequeue: time.Second,
		},
		"after the backoff the next attempt starts": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 1, 10, false)}, now: 11,
			wantStart: true, wantActive: 1, wantFailed: 1, wantRequeue: 49 * time.Second,
		},
		"the backoff doubles": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 1, 5, false), endedPod("p2", 2, 10, false)}, now: 11,
			wantFailed: 2, wantRequeue: time.Second,
		},
		"retries used up": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 1, 5, false), endedPod("p2", 2, 10, false), endedPod("p3", 2, 15, false)}, now: 15,
			wantFailed: 3, wantTerminating: ptr.To[int32](0),
			wantConditions: []batchv1.JobCondition{
				cond(batchv1.JobFailureTarget, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 15),
				cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 15),
			},
		},
		"exit 3 fails the Job at once": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 3, 5, false)}, now: 5,
			wantFailed: 1, wantTerminating: ptr.To[int32](0),
			wantConditions: []batchv1.JobCondition{
				cond(batchv1.JobFailureTarget, "PodFailurePolicy", "Container generate for pod ns/p1 failed with exit code 3 matching FailJob rule at index 0", 5),
				cond(batchv1.JobFailed, "PodFailurePolicy", "Container generate for pod ns/p1 failed with exit code 3 matching FailJob rule at index 0", 5),
			},
		},
		"a disrupted pod is replaced and not counted": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 137, 5, true)}, now: 5,
			wantStart: true, wantActive: 1, wantRequeue: 55 * time.Second,
		},
		"deadline: running attempts are killed first": {
			job: job(true), pods: []corev1.Pod{runningPod("p1", true)}, now: 60,
			wantKill: true, wantTerminating: ptr.To[int32](1),
			wantConditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget, "DeadlineExceeded", "Job was active longer than specified deadline", 60)},
		},
		"deadline: Failed once the attempt is gone": {
			job:  job(true, cond(batchv1.JobFailureTarget, "DeadlineExceeded", "Job was active longer than specified deadline", 60)),
			pods: []corev1.Pod{endedPod("p1", 137, 61, false)}, now: 61,
			wantFailed: 1, wantTerminating: ptr.To[int32](0),
			wantConditions: []batchv1.JobCondition{
				cond(batchv1.JobFailureTarget, "DeadlineExceeded", "Job was active longer than specified deadline", 60),
				cond(batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline", 60),
			},
		},
		"deadline between attempts fails at once": {
			job: job(true), pods: []corev1.Pod{endedPod("p1", 1, 59, false)}, now: 60,
			wantFailed: 1, wantTerminating: ptr.To[int32](0),
			wantConditions: []batchv1.JobCondition{
				cond(batchv1.JobFailureTarget, "DeadlineExceeded", "Job was active longer than specified deadline", 60),
				cond(batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline", 60),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.job.DeepCopy()
			d := decide(tc.job, tc.pods, t0.Add(time.Duration(tc.now)*time.Second), time.Second, time.Minute)
			if d.StartPod != tc.wantStart || d.KillActive != tc.wantKill || d.RequeueAfter != tc.wantRequeue {
				t.Errorf("start %v kill %v requeue %v, want %v %v %v", d.StartPod, d.KillActive, d.RequeueAfter, tc.wantStart, tc.wantKill, tc.wantRequeue)
			}
			st := d.Status
			got := []int32{st.Active, ptr.Deref(st.Ready, 0), st.Failed, st.Succeeded}
			want := []int32{tc.wantActive, tc.wantReady, tc.wantFailed, tc.wantSucceeded}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("active, ready, failed, succeeded (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantTerminating, st.Terminating); diff != "" {
				t.Errorf("terminating (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantConditions, st.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.job); diff != "" {
				t.Errorf("decide modified the Job (-before +after):\n%s", diff)
			}
		})
	}
}

func TestDecideCompletionTime(t *testing.T) {
	j := job(true, cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", 20))
	d := decide(j, nil, t0.Add(21500*time.Millisecond), time.Second, time.Minute)
	if d.Status.CompletionTime == nil || !d.Status.CompletionTime.Equal(ptr.To(ts(21))) {
		t.Errorf("completionTime = %v, want %v (whole seconds)", d.Status.CompletionTime, ts(21))
	}
}

func TestRetryDelay(t *testing.T) {
	cases := map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 10 * time.Second}
	for failed, want := range cases {
		if got := retryDelay(failed, time.Second, 10*time.Second); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", failed, got, want)
		}
	}
}
