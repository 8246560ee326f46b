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

// Condition reasons of ReportRequest and ReportDefinition, one place so
// dashboards and alerts can rely on them. CamelCase, as metav1.Condition asks.
const (
	// ReasonAccepted: the request's type, parameters and format are valid.
	ReasonAccepted = "Accepted"
	// ReasonUnknownType: no ReportDefinition of that name in the namespace.
	ReasonUnknownType = "UnknownType"
	// ReasonDefinitionNotReady: the definition failed its check.
	ReasonDefinitionNotReady = "DefinitionNotReady"
	// ReasonWaitingForDefinition: the definition has not been checked yet
	// (or its database could not be reached); the request waits.
	ReasonWaitingForDefinition = "WaitingForDefinition"
	// ReasonInvalidParameters: a parameter is missing, malformed, unknown,
	// out of range, or a rule failed.
	ReasonInvalidParameters = "InvalidParameters"
	// ReasonFormatNotAllowed: the definition does not offer the format.
	ReasonFormatNotAllowed = "FormatNotAllowed"

	// ReasonQueued: the request waits for a free slot under the manager's
	// limits (the Ready condition's reason while queued).
	ReasonQueued = "Queued"
	// ReasonManagerLimit: the Queued condition's reason when the
	// manager-wide limit of running reports held the request.
	ReasonManagerLimit = "ManagerLimit"
	// ReasonRequesterLimit: the Queued condition's reason when the
	// requester's own limit of running reports held the request.
	ReasonRequesterLimit = "RequesterLimit"
	// ReasonAdmitted: the Queued condition's reason (False) once the
	// request left the queue and its Job was created.
	ReasonAdmitted = "Admitted"
	// ReasonPending: the Job exists; no pod is ready yet.
	ReasonPending = "Pending"
	// ReasonProcessing: the report is being generated.
	ReasonProcessing = "Processing"
	// ReasonCompleted: the file is stored and verified.
	ReasonCompleted = "Completed"

	// ReasonImagePullFailed: the generator image cannot be pulled.
	ReasonImagePullFailed = "ImagePullFailed"
	// ReasonUnschedulable: no node can run the generator pod.
	ReasonUnschedulable = "Unschedulable"
	// ReasonContainerConfigError: the pod cannot start, usually a missing Secret.
	ReasonContainerConfigError = "ContainerConfigError"

	// ReasonDeadlineExceeded: the run exceeded its timeout.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonBackoffLimitExceeded: every retry failed.
	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	// ReasonPermanentFailure: the generator said retrying cannot help (exit 3).
	ReasonPermanentFailure = "PermanentFailure"
	// ReasonJobFailed: the Job failed for another reason.
	ReasonJobFailed = "JobFailed"
	// ReasonResultRejected: the Job finished, but its result did not verify.
	ReasonResultRejected = "ResultRejected"
	// ReasonJobDeleted: the Job was deleted before the report finished.
	ReasonJobDeleted = "JobDeleted"
	// ReasonJobConflict: a Job of the report's name exists and is not the report's.
	ReasonJobConflict = "JobConflict"

	// ReasonChecked: the definition's query prepares and matches its parameters.
	ReasonChecked = "Checked"
	// ReasonDatasourceSecretMissing: the datasource Secret or key is missing.
	ReasonDatasourceSecretMissing = "DatasourceSecretMissing"
	// ReasonCheckFailed: the check could not run for a reason of its own.
	ReasonCheckFailed = "CheckFailed"
)
