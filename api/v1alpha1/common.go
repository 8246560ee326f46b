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

// Keys under the reports.reportd.io domain. The generator writes the
// annotations on its own Job; the manager reads them and is the only writer
// of ReportRequest status.
const (
	// Domain prefixes every annotation, label and finalizer key of reportd.
	Domain = "reports.reportd.io"

	// AnnotationProgress holds the generator's progress as ProgressAnnotation JSON.
	AnnotationProgress = Domain + "/progress"
	// AnnotationRows holds the rows written so far as ProgressAnnotation JSON.
	AnnotationRows = Domain + "/rows"
	// AnnotationResult holds the finished file as ResultAnnotation JSON.
	AnnotationResult = Domain + "/result"
	// AnnotationError holds the reason a run failed as ErrorAnnotation JSON.
	AnnotationError = Domain + "/error"
	// AnnotationRunNow on a ReportSchedule asks for one run now; its value is
	// a token, and each new token triggers exactly one run.
	AnnotationRunNow = Domain + "/run-now"

	// LabelRequest names the ReportRequest a Job belongs to. The manager's Job
	// watch selects on this label, so it never caches other Jobs.
	LabelRequest = Domain + "/request"
	// LabelRequesterHash carries a hash of spec.requestedBy: identities such
	// as e-mail addresses do not fit label value syntax.
	LabelRequesterHash = Domain + "/requester-hash"
	// LabelSchedule names the ReportSchedule that created a ReportRequest.
	LabelSchedule = Domain + "/schedule"
	// LabelManagedBy is the conventional label naming the managing tool.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on reportd's objects.
	ManagedByValue = "reportd"

	// FinalizerCleanup guards a ReportRequest until its Job is gone and its
	// stored file, which lives outside the cluster, is deleted.
	FinalizerCleanup = Domain + "/cleanup"

	// ExecutorManagedBy is the Job spec.managedBy value of the local executor
	// (envtest and `reportd dev` have no job controller). Production Jobs
	// never carry spec.managedBy.
	ExecutorManagedBy = Domain + "/local-executor"
)

// Exit codes of `reportd generate`, read by the Job's podFailurePolicy.
const (
	// ExitOK means the report was written and uploaded.
	ExitOK = 0
	// ExitPermanent means retrying cannot help (bad parameters, unknown type,
	// a query the database rejects): the Job fails at once.
	ExitPermanent = 3
)

// Condition types used on reportd's resources.
const (
	// ConditionReady is True when the object is usable: a ReportDefinition
	// whose query prepares against its database, a ReportSchedule whose
	// template renders, a ReportRequest that finished successfully.
	ConditionReady = "Ready"
	// ConditionQueued is True while a ReportRequest waits for a free slot
	// under the manager's limits.
	ConditionQueued = "Queued"
	// ConditionValid tells whether a ReportRequest's type, parameters and
	// format were accepted.
	ConditionValid = "Valid"
)
