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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReportPhase is where a ReportRequest is in its life.
// +kubebuilder:validation:Enum=Pending;Processing;Completed;Failed
type ReportPhase string

// Report phases. Completed and Failed are terminal.
const (
	PhasePending    ReportPhase = "Pending"
	PhaseProcessing ReportPhase = "Processing"
	PhaseCompleted  ReportPhase = "Completed"
	PhaseFailed     ReportPhase = "Failed"
)

// IsTerminal reports whether the phase is Completed or Failed.
func (p ReportPhase) IsTerminal() bool { return p == PhaseCompleted || p == PhaseFailed }

// ParameterValue is a parameter's value as a request writes it; the
// definition's parameter type says how it is read.
// +kubebuilder:validation:MaxLength=4096
type ParameterValue string

// WebhookTarget is one webhook to call when the report finishes.
type WebhookTarget struct {
	// urlSecretRef names the Secret key holding the webhook URL (URLs often
	// carry credentials, so they never sit in the spec).
	// +required
	URLSecretRef SecretKeyRef `json:"urlSecretRef"`

	// signingSecretRef names the Secret key holding the HMAC key that signs
	// each delivery; unsigned when omitted.
	// +optional
	SigningSecretRef *SecretKeyRef `json:"signingSecretRef,omitempty"`

	// slack sends a Slack-compatible message instead of the report JSON.
	// +optional
	Slack bool `json:"slack,omitempty"`
}

// NotifySpec says who is told when the report finishes.
type NotifySpec struct {
	// email addresses to send the finished (or failed) report's link to.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=254
	Email []string `json:"email,omitempty"`

	// webhooks to POST the outcome to.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	Webhooks []WebhookTarget `json:"webhooks,omitempty"`

	// disabled turns off e-mails and webhooks for this request; the
	// Kubernetes Event is still recorded.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// ReportRequestSpec is one report's request. ReportSchedule's template reuses
// it, so immutability is declared on ReportRequest.spec, not here.
type ReportRequestSpec struct {
	// type is the name of a ReportDefinition in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Type string `json:"type"`

	// parameters by name, written as strings and converted by the
	// definition's parameter types.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Parameters map[string]ParameterValue `json:"parameters,omitempty"`

	// format of the file: csv (default), csv.gz, jsonl or xlsx.
	// +optional
	// +kubebuilder:default=csv
	Format ReportFormat `json:"format,omitempty"`

	// requestedBy is the identity the report runs as; the query sees it as
	// current_setting('reportd.requester'). An admission policy requires it
	// to be the creating user unless the creator is reportd itself or an admin.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	RequestedBy string `json:"requestedBy"`

	// sharedWith lists further identities who may see and download the report.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	SharedWith []string `json:"sharedWith,omitempty"`

	// notify says who is told when the report finishes.
	// +optional
	Notify *NotifySpec `json:"notify,omitempty"`

	// timeZone (IANA name) overrides the definition's time zone.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// ttlSecondsAfterFinished deletes the finished report, and its file, this
	// long after it completed or failed. The manager's default when omitted.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// timeoutSeconds bounds the run; capped by the definition's timeout. The
	// manager's default when omitted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`

	// retries is how often a failed run is retried (a permanent failure such
	// as bad parameters never is). The manager's default when omitted.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Retries *int32 `json:"retries,omitempty"`
}

// ReportResult describes the finished file. It holds the stable object URI,
// never a presigned link: links are minted per download.
type ReportResult struct {
	// url is the stable object URI, e.g. s3://bucket/key or file:///dir/key.
	// +optional
	URL string `json:"url,omitempty"`
	// size of the file in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// rows written, not counting the header.
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// sha256 of the file, hex encoded.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// contentType of the file.
	// +optional
	ContentType string `json:"contentType,omitempty"`
}

// NotificationChannel is how a notification is delivered.
// +kubebuilder:validation:Enum=email;webhook
type NotificationChannel string

// Notification channels.
const (
	ChannelEmail   NotificationChannel = "email"
	ChannelWebhook NotificationChannel = "webhook"
)

// DeliveryState is where one notification delivery is.
// +kubebuilder:validation:Enum=Claimed;Sent;Failed
type DeliveryState string

// Delivery states.
const (
	DeliveryClaimed DeliveryState = "Claimed"
	DeliverySent    DeliveryState = "Sent"
	DeliveryFailed  DeliveryState = "Failed"
)

// NotificationStatus records one delivery: claimed before it is sent, then
// recorded, so each is sent at most once.
type NotificationStatus struct {
	// id is the stable delivery id, sent as the e-mail Message-ID or a
	// webhook header, so receivers can drop a repeat.
	// +required
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`
	// channel is email or webhook.
	// +required
	Channel NotificationChannel `json:"channel"`
	// target is the e-mail address, or the webhook's Secret and key as
	// name/key.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Target string `json:"target"`
	// state is Claimed, Sent or Failed.
	// +required
	State DeliveryState `json:"state"`
	// attempts made so far.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// lastAttemptTime is when the last attempt was made.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`
	// message is the last error, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ReportRequestStatus is the observed state of a ReportRequest. Once the
// phase is Completed or Failed the status is authoritative: the Job may be
// gone, and the record is all there is.
type ReportRequestStatus struct {
	// phase: Pending, Processing, Completed or Failed.
	// +optional
	Phase ReportPhase `json:"phase,omitempty"`

	// progress in percent (0-100); never goes backwards within an attempt.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Progress int32 `json:"progress,omitempty"`

	// rows written so far (the total once Completed).
	// +optional
	Rows int64 `json:"rows,omitempty"`

	// bytes of the finished file.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// startedAt is when processing began (a pod ready or the first progress).
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the report reached a terminal phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// estimatedCompletion is extrapolated from the progress rate.
	// +optional
	EstimatedCompletion *metav1.Time `json:"estimatedCompletion,omitempty"`

	// errorMessage says in plain words why the report failed.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ErrorMessage string `json:"errorMessage,omitempty"`

	// jobName is the Job running (or that ran) the report.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// attempts is the number of runs started; a new attempt restarts progress.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// result describes the finished file.
	// +optional
	Result *ReportResult `json:"result,omitempty"`

	// notifications records each delivery, so each is sent once.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Notifications []NotificationStatus `json:"notifications,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Valid, Queued and Ready (True once Completed).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rr,categories=reports
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Rows",type=integer,JSONPath=`.status.rows`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.requestedBy`,priority=1
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result.url`,priority=1

// ReportRequest is one report: who asked for which type with which
// parameters, and, in its status, how far it got and where the file is.
type ReportRequest struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the request; it cannot change once created.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: delete the ReportRequest and create a new one"
	Spec ReportRequestSpec `json:"spec"`

	// status is written by the manager only.
	// +optional
	Status ReportRequestStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReportRequestList contains a list of ReportRequest.
type ReportRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReportRequest `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ReportRequest{}, &ReportRequestList{})
}
