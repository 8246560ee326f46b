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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The pod the executor writes for each attempt, and its statuses as the
// kubelet would write them.

// newPod is attempt n's pod, from the Job's template, owned by the Job and
// bound to the executor's node name (there is no scheduler).
func newPod(job *batchv1.Job, n int, node string) *corev1.Pod {
	tmpl := job.Spec.Template.DeepCopy()
	spec := tmpl.Spec
	spec.NodeName = node
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-%d-%s", job.Name, n, randomSuffix()),
			Namespace:   job.Namespace,
			Labels:      tmpl.Labels,
			Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: spec,
	}
}

// stamp is a time as the API stores it (whole seconds).
func stamp(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }

// podConditions are the pod's conditions with Ready (and ContainersReady) as given.
func podConditions(ready bool, at metav1.Time) []corev1.PodCondition {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: at},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: at},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: at},
	}
}

// runningStatus: the process started, so the container runs and is ready
// (the generator has no readiness probe).
func runningStatus(pod *corev1.Pod, started time.Time) corev1.PodStatus {
	at := stamp(started)
	c := pod.Spec.Containers[0]
	return corev1.PodStatus{
		Phase:      corev1.PodRunning,
		StartTime:  &at,
		Conditions: podConditions(true, at),
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}},
		}},
	}
}

// terminatedStatus: the process ended with res.
func terminatedStatus(pod *corev1.Pod, res exitResult) corev1.PodStatus {
	phase := corev1.PodSucceeded
	if res.ExitCode != 0 {
		phase = corev1.PodFailed
	}
	started, finished := stamp(res.Started), stamp(res.Finished)
	st := corev1.PodStatus{
		Phase:      phase,
		StartTime:  pod.Status.StartTime,
		Conditions: podConditions(false, finished),
	}
	if st.StartTime == nil {
		st.StartTime = &started
	}
	c := pod.Spec.Containers[0]
	st.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image, Started: ptr.To(false),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message,
			StartedAt: started, FinishedAt: finished,
		}},
	}}
	return st
}

// waitingStatus: the container cannot be created yet, e.g.
// CreateContainerConfigError for a missing Secret.
func waitingStatus(pod *corev1.Pod, reason, message string) corev1.PodStatus {
	c := pod.Spec.Containers[0]
	at := pod.CreationTimestamp
	return corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: podConditions(false, at),
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		}},
	}
}

// disruptedStatus: the attempt's process is gone with the executor that
// ran it. The pod fails with a DisruptionTarget condition, as the pod
// garbage collector fails the pods of a lost node.
func disruptedStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	at := stamp(now)
	st := terminatedStatus(pod, exitResult{
		ExitCode: 137, Reason: "ContainerStatusUnknown",
		Message: "The container could not be located when the pod was terminated",
		Started: now, Finished: now,
	})
	if pod.Status.StartTime != nil {
		st.StartTime = pod.Status.StartTime
		if t := st.ContainerStatuses[0].State.Terminated; t != nil {
			t.StartedAt = *pod.Status.StartTime
		}
	}
	st.Phase = corev1.PodFailed
	st.Conditions = append(st.Conditions, corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: at,
		Reason:  "DeletionByPodGC",
		Message: "The local executor that ran this attempt stopped (like a lost node)",
	})
	return st
}
