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
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"reportd.io/reportd/api/v1alpha1"
)

// expiresAt is when a finished report's time to live runs out: its
// completedAt (the record of when it finished) plus its
// ttlSecondsAfterFinished, or the manager's default.
func expiresAt(rr *v1alpha1.ReportRequest, d Defaults) time.Time {
	ttl := d.TTLSecondsAfterFinished
	if rr.Spec.TTLSecondsAfterFinished != nil {
		ttl = *rr.Spec.TTLSecondsAfterFinished
	}
	return finishedAt(rr).Add(time.Duration(ttl) * time.Second)
}

// finishedAt is when a finished report finished: status.completedAt, the
// record, or its creation when that is missing.
func finishedAt(rr *v1alpha1.ReportRequest) time.Time {
	if rr.Status.CompletedAt != nil {
		return rr.Status.CompletedAt.Time
	}
	return rr.CreationTimestamp.Time
}

// PendingNotifications tells whether a finished report still has
// notifications to send; NotificationReconciler is one.
type PendingNotifications interface {
	Pending(rr *v1alpha1.ReportRequest, now time.Time) bool
}

// notificationsWait is how often an expired report whose notifications
// are still going out is looked at again; the status writes that record
// them wake it sooner.
const notificationsWait = 10 * time.Second

// expire deletes a finished report once its time to live has run out and
// its notifications are out (the cleanup finalizer then deletes its Job
// and its file); until then it asks to be reconciled again. The delete is
// conditional on the UID, so a new request of the same name is never
// deleted in its place.
func (r *ReportRequestReconciler) expire(ctx context.Context, rr *v1alpha1.ReportRequest, now time.Time) (ctrl.Result, error) {
	if wait := expiresAt(rr, r.Defaults).Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if r.Notifications != nil && r.Notifications.Pending(rr, now) {
		return ctrl.Result{RequeueAfter: notificationsWait}, nil
	}
	uid := rr.UID
	err := r.Client.Delete(ctx, rr, client.Preconditions{UID: &uid},
		client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or another object under the name.
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("deleting the expired report: %w", err)
	}
	reportsExpiredTotal.WithLabelValues(rr.Namespace).Inc()
	logf.FromContext(ctx).Info("Deleted a finished report whose time to live ran out", "phase", rr.Status.Phase)
	return ctrl.Result{}, nil
}

// UploadAborter is what the stale upload sweep needs of storage.Store.
type UploadAborter interface {
	AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Time) (int, error)
}

// Defaults of the stale upload sweep.
const (
	// DefaultStaleUploadInterval is how often unfinished uploads are swept.
	DefaultStaleUploadInterval = time.Hour
	// DefaultStaleUploadGrace is how old an unfinished upload must be to be
	// aborted: longer than any report may run, so a live upload is never hit.
	DefaultStaleUploadGrace = 24 * time.Hour
)

// StaleUploadSweeper aborts the unfinished uploads that generators killed
// mid-upload (an evicted or OOM-killed pod, a node lost) leave behind:
// multipart uploads on S3, partial files on file storage. Deleting a
// report aborts its own; this catches the rest. It runs on the leader only,
// every Interval, and aborts what began more than Grace ago under the
// watched namespaces' prefixes. A bucket lifecycle rule for incomplete
// multipart uploads is a good second line (see docs/operations.md).
type StaleUploadSweeper struct {
	// Store holds the uploads.
	Store UploadAborter
	// Namespaces are the watched namespaces, whose keys start with
	// "<namespace>/"; every key when empty.
	Namespaces []string
	// Interval between two sweeps; the first runs at once.
	Interval time.Duration
	// Grace is how old an unfinished upload must be to be aborted.
	Grace time.Duration
	// Clock tells the time; the real clock when nil.
	Clock clock.WithTicker
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: one
// replica sweeps.
func (s *StaleUploadSweeper) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it sweeps until ctx ends. A failed
// sweep is logged and tried again at the next interval.
func (s *StaleUploadSweeper) Start(ctx context.Context) error {
	if s.Interval <= 0 || s.Grace <= 0 {
		return errors.New("the stale upload sweep needs a positive interval and grace")
	}
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	log := logf.FromContext(ctx).WithName("stale-uploads")
	ticker := s.Clock.NewTicker(s.Interval)
	defer ticker.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			log.Error(err, "Aborting stale uploads failed; trying again at the next sweep", "aborted", n)
		} else if n > 0 {
			log.Info("Aborted unfinished uploads left by stopped generators", "aborted", n, "olderThan", s.Grace)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Sweep aborts the unfinished uploads older than Grace once, and returns
// how many it aborted.
func (s *StaleUploadSweeper) Sweep(ctx context.Context) (int, error) {
	olderThan := s.now().Add(-s.Grace)
	prefixes := []string{""}
	if len(s.Namespaces) > 0 {
		prefixes = make([]string, len(s.Namespaces))
		for i, ns := range s.Namespaces {
			prefixes[i] = ns + "/"
		}
	}
	total := 0
	var errs []error
	for _, prefix := range prefixes {
		n, err := s.Store.AbortStaleUploads(ctx, prefix, olderThan)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("under %q: %w", prefix, err))
		}
	}
	staleUploadsAbortedTotal.Add(float64(total))
	return total, errors.Join(errs...)
}

func (s *StaleUploadSweeper) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}
