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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// cleanupPollInterval is how often a deletion waiting for the Job's pods to
// go looks again; pod deletions also trigger a reconcile through the watch.
const cleanupPollInterval = 2 * time.Second

// ensureFinalizer adds the cleanup finalizer before anything outside the
// cluster (the stored file) can exist, so deleting the request deletes it.
// The patch carries the resourceVersion: a stale object cannot drop
// another writer's finalizer.
func (r *ReportRequestReconciler) ensureFinalizer(ctx context.Context, rr *v1alpha1.ReportRequest) error {
	if controllerutil.ContainsFinalizer(rr, v1alpha1.FinalizerCleanup) {
		return nil
	}
	original := rr.DeepCopy()
	controllerutil.AddFinalizer(rr, v1alpha1.FinalizerCleanup)
	if err := r.Client.Patch(ctx, rr, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}),
		client.FieldOwner(RequestControllerName)); err != nil {
		return fmt.Errorf("adding the cleanup finalizer: %w", err)
	}
	return nil
}

// cleanUp runs while the request is being deleted: it stops the Job, waits
// until the Job's pods are gone (so a late upload cannot outlive the
// deletion), deletes the stored file and any multipart upload under its
// key, and only then releases the request. Every step is idempotent.
func (r *ReportRequestReconciler) cleanUp(ctx context.Context, rr *v1alpha1.ReportRequest) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(rr, v1alpha1.FinalizerCleanup) {
		return ctrl.Result{}, nil
	}
	stopped, err := r.stopJob(ctx, rr)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !stopped {
		return ctrl.Result{RequeueAfter: cleanupPollInterval}, nil
	}
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
	if err := r.Store.Delete(ctx, key); err != nil {
		return ctrl.Result{}, fmt.Errorf("deleting the report's file: %w", err)
	}
	original := rr.DeepCopy()
	controllerutil.RemoveFinalizer(rr, v1alpha1.FinalizerCleanup)
	if err := r.Client.Patch(ctx, rr, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}),
		client.FieldOwner(RequestControllerName)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing the cleanup finalizer: %w", err)
	}
	r.writes.forget(rr.UID)
	return ctrl.Result{}, nil
}

// stopJob deletes the report's Job (its pods follow through the garbage
// collector) and reports whether the Job and all its pods are gone.
func (r *ReportRequestReconciler) stopJob(ctx context.Context, rr *v1alpha1.ReportRequest) (bool, error) {
	job := &batchv1.Job{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: JobName(rr)}, job)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("reading the report's Job: %w", err)
	case !metav1.IsControlledBy(job, rr):
		// Not ours: never delete someone else's Job.
	case job.DeletionTimestamp.IsZero():
		if err := r.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("deleting the report's Job: %w", err)
		}
		return false, nil
	default:
		return false, nil
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(rr.Namespace),
		client.MatchingLabels{v1alpha1.LabelRequest: RequestLabelValue(rr.Name)}); err != nil {
		return false, fmt.Errorf("listing the report's pods: %w", err)
	}
	return len(pods.Items) == 0, nil
}
