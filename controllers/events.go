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

// Event reasons. Events are for people: one when the Job is created, one
// when the report ends, and a Warning only when someone can act on it,
// saying what to do. Progress never raises an event.
const (
	// EventReportInvalid (Warning): the request cannot run as written.
	EventReportInvalid = "ReportInvalid"
	// EventJobCreated (Normal): the report's Job was created.
	EventJobCreated = "JobCreated"
	// EventReportCompleted (Normal): the file is ready.
	EventReportCompleted = "ReportCompleted"
	// EventReportFailed (Warning): the report failed; the note says why.
	EventReportFailed = "ReportFailed"
	// EventJobConflict (Warning): a Job of the report's name belongs to
	// someone else.
	EventJobConflict = "JobConflict"
	// EventNotificationFailed (Warning): an e-mail or webhook was not
	// delivered and will not be retried; the note says why.
	EventNotificationFailed = "NotificationFailed"
)

// Event actions: what the manager was doing (events.k8s.io's action field).
const (
	actionValidate  = "Validate"
	actionCreateJob = "CreateJob"
	actionFinish    = "Finish"
	actionNotify    = "Notify"
)
