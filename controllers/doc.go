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

// Package controllers holds reportd's reconcilers, one per kind:
// ReportDefinition (checked against its database), ReportRequest (one Job
// per report, status from the world) and ReportSchedule (requests on a
// timetable).
package controllers

// RBAC of the manager. Status is a subresource; finalizers need their own verb.
// +kubebuilder:rbac:groups=reports.reportd.io,resources=reportdefinitions;reportrequests;reportschedules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=reports.reportd.io,resources=reportdefinitions/status;reportrequests/status;reportschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=reports.reportd.io,resources=reportrequests/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
