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
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// What the pods tell: the kubelet and the scheduler know why a report is
// stuck or died long before the Job's deadline does. These functions turn
// their reasons into sentences a report's requester understands.

// maxPodMessage bounds how much of a termination message or event text a
// status repeats; a panic's stack trace can be kilobytes.
const maxPodMessage = 1024

// stuckFact is why a pod that should be running is not.
type stuckFact struct {
	Reason  string
	Message string
}

// podStuck reports why pod cannot run, if the kubelet or the scheduler says so.
func podStuck(pod *corev1.Pod) (stuckFact, bool) {
	if pod == nil || isPodTerminal(pod) {
		return stuckFact{}, false
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
			return stuckFact{ReasonUnschedulable, fmt.Sprintf(
				"No node can run the report: %s. Ask your cluster operator to check the generator's resource requests and the nodes' capacity.",
				trimMessage(cond.Message))}, true
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			return stuckFact{ReasonImagePullFailed, fmt.Sprintf(
				"The report cannot start: the generator image %q cannot be pulled (%s). Ask your cluster operator to check the image name and pull secrets.",
				cs.Image, describeWaiting(w))}, true
		case "CreateContainerConfigError", "CreateContainerError":
			return stuckFact{ReasonContainerConfigError, fmt.Sprintf(
				"The report cannot start: %s. Check that the datasource and storage Secrets exist in the namespace.",
				describeWaiting(w))}, true
		}
	}
	return stuckFact{}, false
}

// describeWaiting is the kubelet's reason and message of a waiting container.
func describeWaiting(w *corev1.ContainerStateWaiting) string {
	if w.Message == "" {
		return w.Reason
	}
	return w.Reason + ": " + trimMessage(w.Message)
}

// podFailure says in words why a finished pod failed, from its generator
// container's termination state. It returns "" when the pod tells nothing.
func podFailure(pod *corev1.Pod) string {
	t := terminatedState(pod)
	if t == nil {
		return ""
	}
	switch {
	case t.Reason == "OOMKilled":
		return "The report ran out of memory: the generator was stopped at its memory limit" +
			memoryLimitSuffix(pod) + ". Narrow the report's parameters, or ask your cluster operator for a larger limit."
	case t.Message != "":
		return fmt.Sprintf("The generator stopped with exit code %d: %s", t.ExitCode, trimMessage(t.Message))
	case t.ExitCode == 137 || t.Signal == 9:
		return "The generator was killed (exit code 137) before it finished."
	case t.ExitCode != 0:
		return fmt.Sprintf("The generator stopped with exit code %d.", t.ExitCode)
	}
	return ""
}

// memoryLimitSuffix is " (1Gi)" when the generator container has a memory limit.
func memoryLimitSuffix(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != GeneratorContainer {
			continue
		}
		if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			return " (" + limit.String() + ")"
		}
	}
	return ""
}

// terminatedState is the generator container's termination, if it ended.
func terminatedState(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if pod == nil {
		return nil
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == GeneratorContainer && cs.State.Terminated != nil {
			return cs.State.Terminated
		}
	}
	return nil
}

// isPodTerminal reports whether the pod has finished, for good.
func isPodTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// isPodReady reports whether the pod's Ready condition is True.
func isPodReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// sortPodsNewestFirst orders pods by creation, newest first, running pods
// before finished ones; names break ties so the order is stable.
func sortPodsNewestFirst(pods []corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(pods))
	for i := range pods {
		out[i] = &pods[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := isPodTerminal(out[i]), isPodTerminal(out[j])
		if ti != tj {
			return !ti
		}
		ci, cj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ci.Equal(&cj) {
			return cj.Before(&ci)
		}
		return out[i].Name > out[j].Name
	})
	return out
}

// lastFailedPod is the newest pod that failed, or nil.
func lastFailedPod(pods []*corev1.Pod) *corev1.Pod {
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodFailed {
			return pod
		}
	}
	return nil
}

// trimMessage makes a kubelet or generator message fit a status field:
// trailing space removed, at most maxPodMessage bytes, cut on a rune.
func trimMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxPodMessage {
		return s
	}
	cut := maxPodMessage
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// isRuneStart reports whether b begins a UTF-8 encoded rune.
func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
