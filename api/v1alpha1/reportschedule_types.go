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

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicy says what to do when a run is due while another is active.
// +kubebuilder:validation:Enum=Allow;Forbid;Replace
type ConcurrencyPolicy string

// Concurrency policies, as in CronJob.
const (
	// ConcurrencyAllow lets runs overlap.
	ConcurrencyAllow ConcurrencyPolicy = "Allow"
	// ConcurrencyForbid skips a run while the previous one is active.
	ConcurrencyForbid ConcurrencyPolicy = "Forbid"
	// ConcurrencyReplace cancels the active run and starts the new one.
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// ReportRequestTemplate describes the ReportRequests a schedule creates.
type ReportRequestTemplate struct {
	// metadata: labels and annotations copied onto each child.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`

	// spec of each child ReportRequest. Parameter values may use the
	// scheduled time (see docs/schedules.md); timeZone defaults to the
	// schedule's.
	// +required
	Spec ReportRequestSpec `json:"spec"`
}

// TemplateMetadata is the part of object metadata a template may set.
type TemplateMetadata struct {
	// labels to put on each child.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Labels map[string]string `json:"labels,omitempty"`
	// annotations to put on each child.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReportScheduleSpec is a report on a timetable.
type ReportScheduleSpec struct {
	// schedule is a five-field cron expression (minute hour day-of-month
	// month day-of-week), read in timeZone. A time that does not exist on a
	// spring-forward day runs at the first instant after the gap; a time that
	// occurs twice on a fall-back day runs once.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('CRON_TZ=') && !self.startsWith('TZ=')",message="schedule must not carry CRON_TZ= or TZ=: set spec.timeZone instead"
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\s*\\\\S+(\\\\s+\\\\S+){4}\\\\s*$')",message="schedule must be a five-field cron expression: minute hour day-of-month month day-of-week"
	Schedule string `json:"schedule"`

	// timeZone is the IANA zone the schedule and its template's dates are
	// read in, e.g. Europe/Berlin.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// template of the ReportRequests this schedule creates.
	// +required
	Template ReportRequestTemplate `json:"template"`

	// concurrencyPolicy: Allow (default) lets runs overlap, Forbid skips a run
	// while one is active, Replace cancels the active one.
	// +optional
	// +kubebuilder:default=Allow
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// startingDeadlineSeconds: a run not started within this many seconds of
	// its time is counted as missed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// suspend stops new runs; active runs go on.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// successfulHistoryLimit is how many completed runs to keep.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SuccessfulHistoryLimit *int32 `json:"successfulHistoryLimit,omitempty"`

	// failedHistoryLimit is how many failed runs to keep.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailedHistoryLimit *int32 `json:"failedHistoryLimit,omitempty"`
}

// ReportScheduleStatus is the observed state of a ReportSchedule.
// lastScheduleTime and lastRunNowToken are authoritative: a run whose child
// was pruned by history limits is not created again.
type ReportScheduleStatus struct {
	// lastScheduleTime is the scheduled time of the last run created.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// lastSuccessfulTime is when the last run completed successfully.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// nextScheduleTime is the next run's time.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// active lists the runs not yet finished.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Active []corev1.ObjectReference `json:"active,omitempty"`

	// lastRunNowToken is the last run-now annotation token handled.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	LastRunNowToken string `json:"lastRunNowToken,omitempty"`

	// missedRuns counts the runs skipped at the last catch-up.
	// +optional
	MissedRuns int32 `json:"missedRuns,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is False when the schedule or its template is unusable.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rs,categories=reports
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="TimeZone",type=string,JSONPath=`.spec.timeZone`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.active.length()`
// +kubebuilder:printcolumn:name="Last",type=string,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReportSchedule creates ReportRequests on a cron timetable in a time zone.
type ReportSchedule struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the timetable and the template; the controller never writes it.
	// +required
	Spec ReportScheduleSpec `json:"spec"`

	// status is the schedule's record of its runs.
	// +optional
	Status ReportScheduleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReportScheduleList contains a list of ReportSchedule.
type ReportScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReportSchedule `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ReportSchedule{}, &ReportScheduleList{})
}
