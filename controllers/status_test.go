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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"reportd.io/reportd/api/v1alpha1"
)

// t0 is when the test Jobs started; the tests' "now" is a few minutes later.
var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// at is t0 plus some seconds, as an API time.
func at(seconds int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(seconds) * time.Second)) }

// jobOpt changes a test Job.
type jobOpt func(*batchv1.Job)

// testJob is a started report Job with a one-hour deadline.
func testJob(opts ...jobOpt) *batchv1.Job {
	start := at(0)
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "rr-r-0123456789", Namespace: "team-a"},
		Spec:       batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](3600), BackoffLimit: ptr.To[int32](2)},
		Status:     batchv1.JobStatus{StartTime: &start},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func counts(active, ready, failed, succeeded int32) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Active, j.Status.Ready, j.Status.Failed, j.Status.Succeeded = active, ptr.To(ready), failed, succeeded
	}
}

func jobCond(typ batchv1.JobConditionType, reason, message string, when metav1.Time) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{
			Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: when,
		})
		if typ == batchv1.JobComplete {
			j.Status.CompletionTime = &when
		}
	}
}

func annotate(key string, payload any) jobOpt {
	return func(j *batchv1.Job) {
		if j.Annotations == nil {
			j.Annotations = map[string]string{}
		}
		if s, ok := payload.(string); ok {
			j.Annotations[key] = s
			return
		}
		j.Annotations[key] = v1alpha1.EncodeAnnotation(payload)
	}
}

func progressOf(pod string, value int64) jobOpt {
	return annotate(v1alpha1.AnnotationProgress, v1alpha1.ProgressAnnotation{Attempt: pod, Value: value})
}

func rowsOf(pod string, value int64) jobOpt {
	return annotate(v1alpha1.AnnotationRows, v1alpha1.ProgressAnnotation{Attempt: pod, Value: value})
}

func errorOf(pod, message string) jobOpt {
	return annotate(v1alpha1.AnnotationError, v1alpha1.ErrorAnnotation{Attempt: pod, Message: message})
}

// podOpt changes a test pod.
type podOpt func(*corev1.Pod)

// testPod is a pending generator pod created createdAt seconds after t0.
func testPod(name string, createdAt int, opts ...podOpt) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", CreationTimestamp: at(createdAt)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: GeneratorContainer, Image: "registry.example/reportd:v1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func running(ready bool, startedAt int) podOpt {
	return func(p *corev1.Pod) {
		start := at(startedAt)
		p.Status.Phase, p.Status.StartTime = corev1.PodRunning, &start
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: GeneratorContainer, State: corev1.ContainerState{
			Running: &corev1.ContainerStateRunning{StartedAt: start}}}}
	}
}

func terminated(exitCode int32, reason, message string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		if exitCode == 0 {
			p.Status.Phase = corev1.PodSucceeded
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: GeneratorContainer, State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: reason, Message: message}}}}
	}
}

func waiting(reason, message string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: GeneratorContainer, Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}}
	}
}

func unschedulable(message string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: message}}
	}
}

// statusView is the part of a status the table cases check.
type statusView struct {
	Phase       v1alpha1.ReportPhase
	Progress    int32
	Rows        int64
	Attempts    int32
	ReadyReason string
}

func viewOf(st v1alpha1.ReportRequestStatus) statusView {
	v := statusView{Phase: st.Phase, Progress: st.Progress, Rows: st.Rows, Attempts: st.Attempts}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		v.ReadyReason = c.Reason
	}
	return v
}

func verified() resultVerdict {
	return resultVerdict{Accepted: &v1alpha1.ReportResult{
		URL: "s3://reports/team-a/r-0b1c2d3e.csv", Size: 2048, Rows: 40, SHA256: "ab", ContentType: "text/csv"}}
}

func TestComputeStatus(t *testing.T) {
	cases := map[string]struct {
		old       v1alpha1.ReportRequestStatus // the request's status before
		job       *batchv1.Job                 // the Job as the cache shows it
		pods      []corev1.Pod                 // its pods
		result    resultVerdict                // the manager's verdict on the result
		want      statusView
		wantError string // a substring of errorMessage; "" means empty
	}{
		"Job created, no pod yet": {
			job:  testJob(func(j *batchv1.Job) { j.Status.StartTime = nil }),
			want: statusView{Phase: v1alpha1.PhasePending, ReadyReason: ReasonPending},
		},
		"pod created but not ready stays Pending": {
			job:  testJob(counts(1, 0, 0, 0)),
			pods: []corev1.Pod{testPod("p1", 1, running(false, 2))},
			want: statusView{Phase: v1alpha1.PhasePending, Attempts: 1, ReadyReason: ReasonPending},
		},
		"a ready pod means Processing": {
			job:  testJob(counts(1, 1, 0, 0)),
			pods: []corev1.Pod{testPod("p1", 1, running(true, 2))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"the first progress means Processing even before readiness": {
			job:  testJob(counts(1, 0, 0, 0), progressOf("p1", 12), rowsOf("p1", 1200)),
			pods: []corev1.Pod{testPod("p1", 1, running(false, 2))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 12, Rows: 1200, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"progress never goes backwards within an attempt": {
			old:  v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 50, Rows: 5000, Attempts: 1},
			job:  testJob(counts(1, 1, 0, 0), progressOf("p1", 40), rowsOf("p1", 4000)),
			pods: []corev1.Pod{testPod("p1", 1, running(true, 2))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 50, Rows: 5000, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"a failed attempt's progress is not the retry's": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 80, Rows: 8000, Attempts: 1},
			job: testJob(counts(1, 0, 1, 0), progressOf("p1", 80), rowsOf("p1", 8000)),
			pods: []corev1.Pod{
				testPod("p1", 1, terminated(1, "Error", "connection reset")),
				testPod("p2", 30, running(false, 31)),
			},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Attempts: 2, ReadyReason: ReasonProcessing},
		},
		"the retry's own progress starts again": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 80, Attempts: 1},
			job: testJob(counts(1, 1, 1, 0), progressOf("p2", 10)),
			pods: []corev1.Pod{
				testPod("p1", 1, terminated(2, "Error", "")),
				testPod("p2", 30, running(true, 31)),
			},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 10, Attempts: 2, ReadyReason: ReasonProcessing},
		},
		"without pods, annotations after a failure are not trusted": {
			old:  v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 60, Attempts: 1},
			job:  testJob(counts(1, 0, 1, 0), progressOf("p1", 60)),
			want: statusView{Phase: v1alpha1.PhaseProcessing, Attempts: 2, ReadyReason: ReasonProcessing},
		},
		"progress above 100 is read as 100": {
			job:  testJob(counts(1, 1, 0, 0), progressOf("p1", 250)),
			pods: []corev1.Pod{testPod("p1", 1, running(true, 2))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 100, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"a malformed annotation is ignored": {
			old:  v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 30, Attempts: 1},
			job:  testJob(counts(1, 1, 0, 0), annotate(v1alpha1.AnnotationProgress, "{not json")),
			pods: []corev1.Pod{testPod("p1", 1, running(true, 2))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 30, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"an image that cannot be pulled is named while Pending": {
			job:       testJob(counts(1, 0, 0, 0)),
			pods:      []corev1.Pod{testPod("p1", 1, waiting("ImagePullBackOff", `Back-off pulling image "registry.example/reportd:v1"`))},
			want:      statusView{Phase: v1alpha1.PhasePending, Attempts: 1, ReadyReason: ReasonImagePullFailed},
			wantError: `the generator image "registry.example/reportd:v1" cannot be pulled (ImagePullBackOff`,
		},
		"an unschedulable pod is named": {
			job:       testJob(counts(1, 0, 0, 0)),
			pods:      []corev1.Pod{testPod("p1", 1, unschedulable("0/3 nodes are available: 3 Insufficient memory."))},
			want:      statusView{Phase: v1alpha1.PhasePending, Attempts: 1, ReadyReason: ReasonUnschedulable},
			wantError: "No node can run the report: 0/3 nodes are available: 3 Insufficient memory.",
		},
		"a missing Secret is named": {
			job:       testJob(counts(1, 0, 0, 0)),
			pods:      []corev1.Pod{testPod("p1", 1, waiting("CreateContainerConfigError", `secret "reportd-datasource" not found`))},
			want:      statusView{Phase: v1alpha1.PhasePending, Attempts: 1, ReadyReason: ReasonContainerConfigError},
			wantError: `secret "reportd-datasource" not found`,
		},
		"a stuck reason clears once the pod runs": {
			old:  v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhasePending, Attempts: 1, ErrorMessage: "The report cannot start: ..."},
			job:  testJob(counts(1, 1, 0, 0)),
			pods: []corev1.Pod{testPod("p1", 1, running(true, 90))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"success with a verified result": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 90, Rows: 36, Attempts: 1},
			job: testJob(counts(0, 0, 0, 1), progressOf("p1", 100),
				jobCond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", at(60)), jobCond(batchv1.JobComplete, "CompletionsReached", "", at(60))),
			pods:   []corev1.Pod{testPod("p1", 1, terminated(0, "Completed", ""))},
			result: verified(),
			want:   statusView{Phase: v1alpha1.PhaseCompleted, Progress: 100, Rows: 40, Attempts: 1, ReadyReason: ReasonCompleted},
		},
		"success criteria met but not yet Complete is still running": {
			old:  v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 90, Attempts: 1},
			job:  testJob(counts(0, 0, 0, 1), jobCond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", at(60))),
			pods: []corev1.Pod{testPod("p1", 1, terminated(0, "Completed", ""))},
			want: statusView{Phase: v1alpha1.PhaseProcessing, Progress: 90, Attempts: 1, ReadyReason: ReasonProcessing},
		},
		"a result that does not verify fails the report": {
			old:       v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Attempts: 1},
			job:       testJob(counts(0, 0, 0, 1), jobCond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", at(60)), jobCond(batchv1.JobComplete, "CompletionsReached", "", at(60))),
			result:    resultVerdict{Problem: "The result names another report's file"},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1, ReadyReason: ReasonResultRejected},
			wantError: "The result names another report's file",
		},
		"exit 3 fails at once with the generator's words": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Attempts: 1},
			job: testJob(counts(0, 0, 1, 0), errorOf("p1", `parameter "endDate" is required`),
				jobCond(batchv1.JobFailureTarget, "PodFailurePolicy", "Container generate for pod team-a/p1 failed with exit code 3 matching FailJob rule at index 0", at(5)),
				jobCond(batchv1.JobFailed, "PodFailurePolicy", "Container generate for pod team-a/p1 failed with exit code 3 matching FailJob rule at index 0", at(5))),
			pods:      []corev1.Pod{testPod("p1", 1, terminated(3, "Error", `parameter "endDate" is required`))},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1, ReadyReason: ReasonPermanentFailure},
			wantError: `parameter "endDate" is required`,
		},
		"exit 3 without any explanation": {
			job: testJob(counts(0, 0, 1, 0),
				jobCond(batchv1.JobFailureTarget, "PodFailurePolicy", "", at(5)), jobCond(batchv1.JobFailed, "PodFailurePolicy", "", at(5))),
			pods:      []corev1.Pod{testPod("p1", 1, terminated(3, "Error", ""))},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1, ReadyReason: ReasonPermanentFailure},
			wantError: "retrying cannot help (the generator exited with code 3)",
		},
		"retries used up by panics: the termination message tells": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Attempts: 3},
			job: testJob(counts(0, 0, 3, 0),
				jobCond(batchv1.JobFailureTarget, "BackoffLimitExceeded", "Job has reached the specified backoff limit", at(90)),
				jobCond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit", at(90))),
			pods: []corev1.Pod{
				testPod("p1", 1, terminated(2, "Error", "panic: boom")),
				testPod("p2", 20, terminated(2, "Error", "panic: boom")),
				testPod("p3", 50, terminated(2, "Error", "panic: runtime error: index out of range")),
			},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 3, ReadyReason: ReasonBackoffLimitExceeded},
			wantError: "The report failed on all 3 attempts. The last attempt: The generator stopped with exit code 2: panic: runtime error: index out of range",
		},
		"an older attempt's error annotation is not the last attempt's": {
			job: testJob(counts(0, 0, 2, 0), errorOf("p1", "database connection refused"),
				jobCond(batchv1.JobFailureTarget, "BackoffLimitExceeded", "", at(90)), jobCond(batchv1.JobFailed, "BackoffLimitExceeded", "", at(90))),
			pods: []corev1.Pod{
				testPod("p1", 1, terminated(1, "Error", "")),
				testPod("p2", 20, terminated(137, "OOMKilled", "")),
			},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 2, ReadyReason: ReasonBackoffLimitExceeded},
			wantError: "The report ran out of memory: the generator was stopped at its memory limit (512Mi)",
		},
		"deadline while the image could not be pulled": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhasePending, Attempts: 1},
			job: testJob(counts(0, 0, 1, 0),
				jobCond(batchv1.JobFailureTarget, "DeadlineExceeded", "Job was active longer than specified deadline", at(3600)),
				jobCond(batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline", at(3600))),
			pods:      []corev1.Pod{testPod("p1", 1, waiting("ErrImagePull", "not found"))},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1, ReadyReason: ReasonDeadlineExceeded},
			wantError: `The report did not finish within its time limit of 1h0m0s. The report cannot start: the generator image "registry.example/reportd:v1" cannot be pulled`,
		},
		"deadline after the stuck pod is gone keeps the reason seen before": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhasePending, Attempts: 1, ErrorMessage: "No node can run the report: 0/3 nodes are available."},
			job: testJob(counts(0, 0, 1, 0),
				jobCond(batchv1.JobFailureTarget, "DeadlineExceeded", "", at(3600)), jobCond(batchv1.JobFailed, "DeadlineExceeded", "", at(3600))),
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1, ReadyReason: ReasonDeadlineExceeded},
			wantError: "within its time limit of 1h0m0s. No node can run the report",
		},
		"a plain deadline while running": {
			old: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 40, Attempts: 1},
			job: testJob(counts(0, 0, 1, 0), progressOf("p1", 40),
				jobCond(batchv1.JobFailureTarget, "DeadlineExceeded", "", at(3600)), jobCond(batchv1.JobFailed, "DeadlineExceeded", "", at(3600))),
			pods:      []corev1.Pod{testPod("p1", 1, terminated(137, "Error", ""))},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Progress: 40, Attempts: 1, ReadyReason: ReasonDeadlineExceeded},
			wantError: "The report did not finish within its time limit of 1h0m0s.",
		},
		"a terminal status is the record and never changes": {
			old:       v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseFailed, Attempts: 1, ErrorMessage: "The report's Job was deleted"},
			job:       testJob(counts(1, 1, 0, 0), progressOf("p1", 50)),
			pods:      []corev1.Pod{testPod("p1", 1, running(true, 2))},
			want:      statusView{Phase: v1alpha1.PhaseFailed, Attempts: 1},
			wantError: "The report's Job was deleted",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := testRequest("r")
			req.Status = tc.old
			before := req.DeepCopy()
			got := computeStatus(observed{Request: req, Job: tc.job, Pods: tc.pods, Result: tc.result, Now: t0.Add(5 * time.Minute)})
			if diff := cmp.Diff(tc.want, viewOf(got)); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			switch {
			case tc.wantError == "" && got.ErrorMessage != "":
				t.Errorf("errorMessage = %q, want none", got.ErrorMessage)
			case !strings.Contains(got.ErrorMessage, tc.wantError):
				t.Errorf("errorMessage = %q, want it to contain %q", got.ErrorMessage, tc.wantError)
			}
			if diff := cmp.Diff(before, req); diff != "" {
				t.Errorf("computeStatus modified the request it read (-before +after):\n%s", diff)
			}
		})
	}
}

func TestComputeStatusTimes(t *testing.T) {
	now := t0.Add(2 * time.Minute)
	earlier := at(-600)

	t.Run("startedAt is when the ready pod started, and kept after", func(t *testing.T) {
		req := testRequest("r")
		job := testJob(counts(1, 1, 0, 0))
		pods := []corev1.Pod{testPod("p1", 1, running(true, 2))}
		got := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: now})
		if want := at(2); got.StartedAt == nil || !got.StartedAt.Equal(&want) {
			t.Fatalf("startedAt = %v, want the pod's start %v", got.StartedAt, want)
		}
		req.Status = got
		later := []corev1.Pod{testPod("p1", 1, running(true, 2)), testPod("p2", 60, running(true, 61))}
		again := computeStatus(observed{Request: req, Job: job, Pods: later, Now: now.Add(time.Hour)})
		if want := at(2); !again.StartedAt.Equal(&want) {
			t.Errorf("startedAt moved to %v", again.StartedAt)
		}
	})

	t.Run("a cache that lags computes the very status written", func(t *testing.T) {
		// Two reconciles a second apart, both from the same (stale) request.
		req := testRequest("r")
		job := testJob(counts(1, 1, 0, 0), func(j *batchv1.Job) { j.CreationTimestamp = at(0) })
		pods := []corev1.Pod{testPod("p1", 1, running(true, 2))}
		first := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: now})
		second := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: now.Add(1500 * time.Millisecond)})
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("the status depends on when it is computed (-first +second):\n%s", diff)
		}
	})

	t.Run("completedAt is the Job's completion time", func(t *testing.T) {
		req := testRequest("r")
		req.Status = v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, StartedAt: &earlier, Attempts: 1}
		job := testJob(counts(0, 0, 0, 1), jobCond(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", at(75)), jobCond(batchv1.JobComplete, "CompletionsReached", "", at(75)))
		got := computeStatus(observed{Request: req, Job: job, Result: verified(), Now: now})
		if got.CompletedAt == nil || !got.CompletedAt.Equal(ptr.To(at(75))) {
			t.Errorf("completedAt = %v, want %v", got.CompletedAt, at(75))
		}
		if !got.StartedAt.Equal(&earlier) {
			t.Errorf("startedAt = %v, want it kept at %v", got.StartedAt, earlier)
		}
		if got.EstimatedCompletion != nil {
			t.Errorf("a finished report has an estimated completion %v", got.EstimatedCompletion)
		}
	})

	t.Run("estimatedCompletion extrapolates the attempt's rate", func(t *testing.T) {
		req := testRequest("r")
		job := testJob(counts(1, 1, 0, 0), progressOf("p1", 25))
		pods := []corev1.Pod{testPod("p1", 0, running(true, 0))}
		got := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: t0.Add(time.Minute)})
		want := at(240)
		if got.EstimatedCompletion == nil || !got.EstimatedCompletion.Equal(&want) {
			t.Errorf("estimatedCompletion = %v, want %v (25%% after 1 minute)", got.EstimatedCompletion, want)
		}
	})

	t.Run("estimatedCompletion moves only when progress does", func(t *testing.T) {
		req := testRequest("r")
		eta := at(240)
		req.Status = v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 25, Attempts: 1, EstimatedCompletion: &eta, StartedAt: ptr.To(at(0))}
		job := testJob(counts(1, 1, 0, 0), progressOf("p1", 25))
		pods := []corev1.Pod{testPod("p1", 0, running(true, 0))}
		got := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: t0.Add(3 * time.Minute)})
		if !got.EstimatedCompletion.Equal(&eta) {
			t.Errorf("estimatedCompletion = %v, want it kept at %v", got.EstimatedCompletion, eta)
		}
	})

	t.Run("the Ready condition's transition time stays while its status does", func(t *testing.T) {
		req := testRequest("r")
		job := testJob(counts(1, 0, 0, 0))
		pods := []corev1.Pod{testPod("p1", 1, running(false, 2))}
		first := computeStatus(observed{Request: req, Job: job, Pods: pods, Now: now})
		req.Status = first
		job2 := testJob(counts(1, 1, 0, 0))
		pods2 := []corev1.Pod{testPod("p1", 1, running(true, 2))}
		second := computeStatus(observed{Request: req, Job: job2, Pods: pods2, Now: now.Add(time.Minute)})
		c1 := meta.FindStatusCondition(first.Conditions, v1alpha1.ConditionReady)
		c2 := meta.FindStatusCondition(second.Conditions, v1alpha1.ConditionReady)
		if c2.Reason != ReasonProcessing || !c2.LastTransitionTime.Equal(&c1.LastTransitionTime) {
			t.Errorf("Ready went %s@%v -> %s@%v; want the time kept while it stays False", c1.Reason, c1.LastTransitionTime, c2.Reason, c2.LastTransitionTime)
		}
		if c2.ObservedGeneration != req.Generation {
			t.Errorf("Ready observedGeneration = %d, want %d", c2.ObservedGeneration, req.Generation)
		}
	})
}

func TestWriteLog(t *testing.T) {
	var l writeLog
	uid := types.UID("u1")
	processing := v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 10}

	if l.justWritten(uid, processing, t0) || l.progressWait(uid, t0, 2*time.Second) != 0 {
		t.Fatal("an empty log holds a write")
	}
	l.record(uid, processing, t0, true)
	if !l.justWritten(uid, processing, t0.Add(time.Second)) {
		t.Error("the status just written is not recognised while the cache catches up")
	}
	if l.justWritten(uid, processing, t0.Add(cacheCatchUp)) {
		t.Error("a write is trusted to be in flight forever")
	}
	if got := l.progressWait(uid, t0.Add(500*time.Millisecond), 2*time.Second); got != 1500*time.Millisecond {
		t.Errorf("progressWait = %v, want 1.5s", got)
	}
	failed := v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseFailed}
	l.record(uid, failed, t0.Add(time.Minute), false)
	if !l.justWritten(uid, processing, t0.Add(time.Hour)) {
		t.Error("after a terminal write, a stale reconcile could write again")
	}
	l.record(types.UID("u2"), processing, t0.Add(3*time.Hour), false)
	if l.justWritten(uid, failed, t0.Add(3*time.Hour)) {
		t.Error("an entry untouched for hours was not pruned")
	}
}

func TestProgressOnly(t *testing.T) {
	eta := metav1.NewTime(t0)
	old := v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseProcessing, Progress: 10, Rows: 100, Attempts: 1}
	cases := map[string]struct {
		change func(*v1alpha1.ReportRequestStatus)
		want   bool
	}{
		"progress, rows and estimate": {change: func(s *v1alpha1.ReportRequestStatus) { s.Progress, s.Rows, s.EstimatedCompletion = 20, 200, &eta }, want: true},
		"a phase change":              {change: func(s *v1alpha1.ReportRequestStatus) { s.Progress, s.Phase = 20, v1alpha1.PhaseCompleted }},
		"a new attempt":               {change: func(s *v1alpha1.ReportRequestStatus) { s.Progress, s.Attempts = 0, 2 }},
		"an error message":            {change: func(s *v1alpha1.ReportRequestStatus) { s.ErrorMessage = "stuck" }},
	}
	for name, tc := range cases {
		next := *old.DeepCopy()
		tc.change(&next)
		if got := progressOnly(old, next); got != tc.want {
			t.Errorf("%s: progressOnly = %v, want %v", name, got, tc.want)
		}
	}
}
