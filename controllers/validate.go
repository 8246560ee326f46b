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
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/params"
)

// validationOutcome is what checking a request before its Job found.
type validationOutcome int

const (
	// validationOK: the Job may be created.
	validationOK validationOutcome = iota
	// validationWait: the definition has not been checked yet; wait for it.
	validationWait
	// validationInvalid: the request cannot run as written.
	validationInvalid
)

// precheck is the outcome with a reason and a message saying what to do.
type precheck struct {
	outcome validationOutcome
	reason  string
	message string
}

// validate checks, before any Job exists, that the request's definition
// exists in its namespace and is Ready for its current generation, that
// the format is offered and that the parameters bind. Only a failed read
// of the definition is an error (to retry).
func (r *ReportRequestReconciler) validate(ctx context.Context, rr *v1alpha1.ReportRequest) (*v1alpha1.ReportDefinition, precheck, error) {
	def := &v1alpha1.ReportDefinition{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: rr.Namespace, Name: rr.Spec.Type}, def)
	if apierrors.IsNotFound(err) {
		return nil, invalid(ReasonUnknownType, fmt.Sprintf(
			"Report type %q does not exist: there is no ReportDefinition of that name in namespace %q. "+
				"Use one of the namespace's report types (kubectl get reportdefinitions -n %s) and create the report again.",
			rr.Spec.Type, rr.Namespace, rr.Namespace)), nil
	}
	if err != nil {
		return nil, precheck{}, fmt.Errorf("reading the report's definition: %w", err)
	}
	return def, checkRequest(rr, def), nil
}

// checkRequest is validate's pure part, given the definition.
func checkRequest(rr *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition) precheck {
	ready := meta.FindStatusCondition(def.Status.Conditions, v1alpha1.ConditionReady)
	switch {
	case ready == nil || ready.ObservedGeneration != def.Generation || ready.Status == metav1.ConditionUnknown:
		return precheck{outcome: validationWait, reason: ReasonWaitingForDefinition, message: fmt.Sprintf(
			"Waiting for report type %q to be checked against its database", def.Name)}
	case ready.Status == metav1.ConditionFalse:
		return invalid(ReasonDefinitionNotReady, fmt.Sprintf(
			"Report type %q is not ready (%s: %s). Its owner must fix the ReportDefinition; then create the report again.",
			def.Name, ready.Reason, ready.Message))
	}
	format := rr.Spec.Format
	if format == "" {
		format = v1alpha1.FormatCSV
	}
	if len(def.Spec.Formats) > 0 && !slices.Contains(def.Spec.Formats, format) {
		offered := make([]string, len(def.Spec.Formats))
		for i, f := range def.Spec.Formats {
			offered[i] = string(f)
		}
		return invalid(ReasonFormatNotAllowed, fmt.Sprintf(
			"Report type %q is not offered as %s. Request one of: %s.", def.Name, format, strings.Join(offered, ", ")))
	}
	if _, err := params.Bind(&def.Spec, rr.Spec.Parameters, rr.Spec.TimeZone); err != nil {
		return invalid(ReasonInvalidParameters, fmt.Sprintf(
			"The parameters do not fit report type %q: %s. Correct them and create the report again.", def.Name, err.Error()))
	}
	return precheck{outcome: validationOK}
}

// invalid is a precheck that fails the request.
func invalid(reason, message string) precheck {
	return precheck{outcome: validationInvalid, reason: reason, message: message}
}

// waitingStatus is a Pending request whose definition is not checked yet.
func waitingStatus(rr *v1alpha1.ReportRequest, v precheck, now time.Time) v1alpha1.ReportRequestStatus {
	st := *rr.Status.DeepCopy()
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.ObservedGeneration = rr.Generation
	st.Phase = v1alpha1.PhasePending
	setCondition(&st.Conditions, v1alpha1.ConditionValid, metav1.ConditionUnknown, v.reason, v.message, rr.Generation, at)
	setReady(&st, metav1.ConditionFalse, v.reason, v.message, at)
	return st
}

// invalidStatus is a request that failed validation, for good.
func invalidStatus(rr *v1alpha1.ReportRequest, v precheck, now time.Time) v1alpha1.ReportRequestStatus {
	st := *rr.Status.DeepCopy()
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.ObservedGeneration = rr.Generation
	setCondition(&st.Conditions, v1alpha1.ConditionValid, metav1.ConditionFalse, v.reason, v.message, rr.Generation, at)
	fail(&st, v.reason, v.message, at)
	return st
}

// markValid records that the request was accepted (its Job exists).
func markValid(st *v1alpha1.ReportRequestStatus, generation int64, now time.Time) {
	setCondition(&st.Conditions, v1alpha1.ConditionValid, metav1.ConditionTrue, ReasonAccepted,
		"The report type, parameters and format were accepted", generation, metav1.NewTime(now.UTC().Truncate(time.Second)))
}
