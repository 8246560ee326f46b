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
	"cmp"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/notify"
)

// NotificationControllerName names the notification controller, its field
// manager and its metrics.
const NotificationControllerName = "notification"

// EmailSender sends one notification e-mail; notify.Mailer is one.
type EmailSender interface {
	SendEmail(ctx context.Context, deliveryID, to string, r notify.Report) error
}

// WebhookPoster sends one webhook; notify.WebhookSender is one.
type WebhookPoster interface {
	PostWebhook(ctx context.Context, deliveryID string, t notify.WebhookTarget, r notify.Report) error
}

// NotificationSettings shape deliveries.
type NotificationSettings struct {
	// PublicURL is the facade's public base URL; messages link to
	// <PublicURL>/reports/<id>. No link when empty.
	PublicURL string
	// MaxAttempts per delivery before it is recorded Failed; 5 when zero.
	MaxAttempts int32
	// Backoff after the first failed attempt, doubling after each further
	// one up to MaxBackoff; 10 s and 10 min when zero.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt; 30 s when zero. A claim whose
	// attempt recorded nothing for twice this long (its manager died) is
	// sent again, with the same delivery id.
	AttemptTimeout time.Duration
	// MaxAge skips reports that finished longer ago than this and were
	// never notified (say, after an upgrade that turned notifications
	// on); 24 h when zero, never when negative.
	MaxAge time.Duration
}

// withDefaults fills in what s leaves out.
func (s NotificationSettings) withDefaults() NotificationSettings {
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 5
	}
	if s.Backoff <= 0 {
		s.Backoff = 10 * time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 10 * time.Minute
	}
	if s.MaxBackoff < s.Backoff {
		s.MaxBackoff = s.Backoff
	}
	if s.AttemptTimeout <= 0 {
		s.AttemptTimeout = 30 * time.Second
	}
	if s.MaxAge == 0 {
		s.MaxAge = 24 * time.Hour
	}
	return s
}

// NotificationReconciler tells people that a report finished: an e-mail
// per recipient and a POST per webhook of spec.notify, each sent once.
// (The Kubernetes Event is the ReportRequest controller's, raised when it
// writes the terminal phase.) It only ever writes status.notifications;
// a report's phase never depends on its notifications.
//
// Each delivery is first claimed in status.notifications by a patch that
// carries the resourceVersion it was decided on, so a manager deciding
// on a stale cache loses the claim to a conflict instead of sending
// twice; then sent with its stable delivery id; then recorded as Sent, or
// as a failed attempt to retry with backoff, or as Failed. A claim left
// by a manager that died before recording is sent again, with the same
// id, once the claim has expired: the one window for a repeat.
type NotificationReconciler struct {
	// Client reads from the manager's cache and writes.
	Client client.Client
	// APIReader reads the webhook Secrets (the cache holds no Secret
	// data) and the request after a lost optimistic lock.
	APIReader client.Reader
	// Recorder records a Warning when a delivery fails for good.
	Recorder events.EventRecorder
	// Email sends e-mails; e-mail recipients are ignored when nil (no
	// SMTP server configured).
	Email EmailSender
	// Webhooks sends webhooks; webhooks are ignored when nil.
	Webhooks WebhookPoster
	// Settings shape deliveries.
	Settings NotificationSettings
	// Clock tells the time; the real clock when nil.
	Clock clock.PassiveClock
}

// notifyConflictRetry is how soon a claim lost to a conflict is decided again.
const notifyConflictRetry = 250 * time.Millisecond

// recordTimeout bounds recording an outcome, which goes on even when the
// manager is stopping, so an attempt that was made is not made again.
const recordTimeout = 10 * time.Second

// SetupWithManager registers the controller for finished requests that
// still have something to send.
func (r *NotificationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.Settings = r.Settings.withDefaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named(NotificationControllerName).
		For(&v1alpha1.ReportRequest{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			rr, ok := obj.(*v1alpha1.ReportRequest)
			return ok && r.Pending(rr, r.Clock.Now())
		}))).
		// Sending waits on other servers: a slow one must not hold up
		// every other report's notifications.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// delivery is one message to send: one channel, one recipient.
type delivery struct {
	id      string
	channel v1alpha1.NotificationChannel
	target  string
	// email is the recipient of an e-mail.
	email string
	// webhook is the webhook's spec.
	webhook *v1alpha1.WebhookTarget
}

// plan lists the deliveries the request asks for, for the channels this
// manager has. Ids and targets depend on the request alone (the spec is
// immutable), so every manager plans the same.
func (r *NotificationReconciler) plan(rr *v1alpha1.ReportRequest) []delivery {
	n := rr.Spec.Notify
	if n == nil || n.Disabled {
		return nil
	}
	var out []delivery
	if r.Email != nil {
		for _, addr := range n.Email {
			out = append(out, delivery{
				id: DeliveryID(rr.UID, v1alpha1.ChannelEmail, addr), channel: v1alpha1.ChannelEmail, target: addr, email: addr,
			})
		}
	}
	if r.Webhooks != nil {
		for i := range n.Webhooks {
			w := &n.Webhooks[i]
			target := w.URLSecretRef.Name + "/" + w.URLSecretRef.Key
			out = append(out, delivery{
				id:      DeliveryID(rr.UID, v1alpha1.ChannelWebhook, fmt.Sprintf("%d/%s", i, target)),
				channel: v1alpha1.ChannelWebhook, target: target, webhook: w,
			})
		}
	}
	return out
}

// Pending reports whether a finished request has a delivery that is not
// yet Sent or Failed: the ReportRequest controller's time to live waits
// for them.
func (r *NotificationReconciler) Pending(rr *v1alpha1.ReportRequest, now time.Time) bool {
	if !rr.DeletionTimestamp.IsZero() || !rr.Status.Phase.IsTerminal() {
		return false
	}
	if len(rr.Status.Notifications) == 0 && r.tooOld(rr, now) {
		return false
	}
	for _, d := range r.plan(rr) {
		e := findNotification(rr.Status.Notifications, d.id)
		if e == nil || e.State == v1alpha1.DeliveryClaimed {
			return true
		}
	}
	return false
}

// tooOld reports whether the report finished longer than MaxAge ago.
func (r *NotificationReconciler) tooOld(rr *v1alpha1.ReportRequest, now time.Time) bool {
	return r.Settings.MaxAge > 0 && now.Sub(finishedAt(rr)) > r.Settings.MaxAge
}

// Reconcile claims the deliveries that are due, sends them and records
// each outcome, then comes back when the next retry is due.
func (r *NotificationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rr := &v1alpha1.ReportRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, rr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	if !r.Pending(rr, now) {
		return ctrl.Result{}, nil
	}
	plan := r.plan(rr)
	d := decideDeliveries(rr.Status.Notifications, plan, now, r.Settings)
	if len(d.due) == 0 && len(d.giveUp) == 0 {
		return requeueAt(d.next, now), nil
	}
	claimed, err := r.claim(ctx, rr, d, now)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Someone else changed the request since our cache saw it: decide
		// again on what it is now.
		logf.FromContext(ctx).V(1).Info("Lost the claim to a newer version; deciding again")
		return ctrl.Result{RequeueAfter: notifyConflictRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, g := range d.giveUp {
		r.countFailed(claimed, g.channel, g.target, findNotification(claimed.Status.Notifications, g.id).Message)
	}
	for _, dl := range d.due {
		attempt := findNotification(claimed.Status.Notifications, dl.id).Attempts
		sendErr := r.send(ctx, claimed, dl)
		if claimed, err = r.record(ctx, claimed, dl, attempt, sendErr); err != nil {
			return ctrl.Result{}, err
		}
	}
	next := decideDeliveries(claimed.Status.Notifications, plan, r.Clock.Now(), r.Settings)
	return requeueAt(next.next, r.Clock.Now()), nil
}

// decision is what to do now: attempt the due deliveries, record the
// exhausted ones as Failed, and come back at next (zero: nothing left).
type decision struct {
	due    []delivery
	giveUp []delivery
	next   time.Time
}

// decideDeliveries is the pure rule. A delivery never attempted is due. A
// Claimed one with a message failed its last attempt: it is due once its
// backoff has passed, or given up when out of attempts. A Claimed one
// without a message is in flight, or its manager died before recording:
// it is due again (the same id) once its claim has expired.
func decideDeliveries(records []v1alpha1.NotificationStatus, plan []delivery, now time.Time, s NotificationSettings) decision {
	var d decision
	later := func(at time.Time) {
		if d.next.IsZero() || at.Before(d.next) {
			d.next = at
		}
	}
	for _, dl := range plan {
		e := findNotification(records, dl.id)
		switch {
		case e == nil:
			d.due = append(d.due, dl)
		case e.State != v1alpha1.DeliveryClaimed:
			// Sent or Failed: done.
		case e.Message != "" && e.Attempts >= s.MaxAttempts:
			d.giveUp = append(d.giveUp, dl)
		default:
			at := nextAttempt(e, s)
			if !at.After(now) {
				d.due = append(d.due, dl)
			} else {
				later(at)
			}
		}
	}
	return d
}

// nextAttempt is when a Claimed delivery may be attempted again.
func nextAttempt(e *v1alpha1.NotificationStatus, s NotificationSettings) time.Time {
	var last time.Time
	if e.LastAttemptTime != nil {
		last = e.LastAttemptTime.Time
	}
	if e.Message == "" {
		// In flight, or abandoned by a manager that died. The attempt
		// ends by its timeout and is recorded soon after; the record's
		// time is whole seconds, hence the extra second.
		return last.Add(claimLease(s))
	}
	return last.Add(backoff(e.Attempts, s))
}

// claimLease is how long a claim without an outcome holds.
func claimLease(s NotificationSettings) time.Duration {
	return 2*s.AttemptTimeout + time.Second
}

// backoff is the wait after the n-th failed attempt: Backoff doubling,
// capped at MaxBackoff.
func backoff(n int32, s NotificationSettings) time.Duration {
	d := s.Backoff
	for i := int32(1); i < n && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}

// requeueAt comes back at next, if any.
func requeueAt(next, now time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), 10*time.Millisecond)}
}

// claim records, in one patch that carries the resourceVersion the
// decision was made on, a new attempt of every due delivery (Claimed,
// one more attempt, no message) and Failed for the exhausted ones.
func (r *NotificationReconciler) claim(ctx context.Context, rr *v1alpha1.ReportRequest, d decision, now time.Time) (*v1alpha1.ReportRequest, error) {
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	updated := rr.DeepCopy()
	for _, dl := range d.due {
		e := upsertNotification(&updated.Status.Notifications, dl)
		e.State, e.Attempts, e.LastAttemptTime, e.Message = v1alpha1.DeliveryClaimed, e.Attempts+1, &at, ""
	}
	for _, dl := range d.giveUp {
		upsertNotification(&updated.Status.Notifications, dl).State = v1alpha1.DeliveryFailed
	}
	if err := r.patchLocked(ctx, rr, updated); err != nil {
		return nil, err
	}
	return updated, nil
}

// send makes one attempt, bounded by AttemptTimeout.
func (r *NotificationReconciler) send(ctx context.Context, rr *v1alpha1.ReportRequest, dl delivery) error {
	ctx, cancel := context.WithTimeout(ctx, r.Settings.AttemptTimeout)
	defer cancel()
	report := notify.ReportOf(rr, r.Settings.PublicURL)
	if dl.channel == v1alpha1.ChannelEmail {
		return r.Email.SendEmail(ctx, dl.id, dl.email, report)
	}
	target, err := r.webhookTarget(ctx, rr.Namespace, dl.webhook)
	if err != nil {
		return err
	}
	return r.Webhooks.PostWebhook(ctx, dl.id, target, report)
}

// webhookTarget reads the webhook's URL and signing key from their
// Secrets, live (the cache holds no Secret data).
func (r *NotificationReconciler) webhookTarget(ctx context.Context, ns string, w *v1alpha1.WebhookTarget) (notify.WebhookTarget, error) {
	t := notify.WebhookTarget{Slack: w.Slack}
	url, err := r.secretValue(ctx, ns, w.URLSecretRef)
	if err != nil {
		return t, err
	}
	t.URL = string(url)
	if w.SigningSecretRef != nil {
		if t.SigningKey, err = r.secretValue(ctx, ns, *w.SigningSecretRef); err != nil {
			return t, err
		}
	}
	return t, nil
}

// secretValue reads one key of a Secret. A missing Secret or key is not
// permanent: it may be created after the report.
func (r *NotificationReconciler) secretValue(ctx context.Context, ns string, ref v1alpha1.SecretKeyRef) ([]byte, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the Secret %s/%s named by the webhook does not exist", ns, ref.Name)
		}
		return nil, fmt.Errorf("reading the webhook's Secret %s/%s: %w", ns, ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q (or it is empty)", ns, ref.Name, ref.Key)
	}
	return v, nil
}

// record writes the outcome of attempt of dl: Sent; Failed when the error
// is permanent or the attempts are spent; else Claimed with the error, to
// be retried. A conflict means the request changed: the outcome is
// applied again to the live request, as long as the claim is still this
// attempt's (a claim taken over after it expired is the new owner's).
func (r *NotificationReconciler) record(ctx context.Context, rr *v1alpha1.ReportRequest, dl delivery, attempt int32, sendErr error) (*v1alpha1.ReportRequest, error) {
	log := logf.FromContext(ctx).WithValues("delivery", dl.id, "channel", dl.channel, "attempt", attempt)
	state, message := v1alpha1.DeliverySent, ""
	if sendErr != nil {
		state, message = v1alpha1.DeliveryClaimed, truncateMessage(sendErr.Error())
		if notify.IsPermanent(sendErr) || attempt >= r.Settings.MaxAttempts {
			state = v1alpha1.DeliveryFailed
		}
	}
	// The attempt was made: record it even if the manager is stopping.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	cur := rr
	for try := 0; ; try++ {
		e := findNotification(cur.Status.Notifications, dl.id)
		if e == nil || e.State != v1alpha1.DeliveryClaimed || e.Attempts != attempt {
			log.Info("The delivery's claim was taken over before its outcome was recorded; leaving it to the new claim")
			return cur, nil
		}
		updated := cur.DeepCopy()
		e = findNotification(updated.Status.Notifications, dl.id)
		e.State, e.Message = state, message
		err := r.patchLocked(ctx, cur, updated)
		if err == nil {
			r.recorded(ctx, updated, dl, state, message)
			return updated, nil
		}
		if !apierrors.IsConflict(err) || try >= 4 {
			return cur, err
		}
		fresh := &v1alpha1.ReportRequest{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cur), fresh); err != nil {
			return cur, fmt.Errorf("re-reading the request to record a delivery: %w", err)
		}
		cur = fresh
	}
}

// recorded logs, counts and, for a failure, raises the Warning.
func (r *NotificationReconciler) recorded(ctx context.Context, rr *v1alpha1.ReportRequest, dl delivery, state v1alpha1.DeliveryState, message string) {
	log := logf.FromContext(ctx).WithValues("delivery", dl.id, "channel", dl.channel)
	switch state {
	case v1alpha1.DeliverySent:
		notify.CountSent(string(dl.channel))
		log.V(1).Info("Notification sent")
	case v1alpha1.DeliveryFailed:
		r.countFailed(rr, dl.channel, dl.target, message)
	default:
		log.Info("Notification attempt failed; it will be retried", "error", message)
	}
}

// countFailed counts a delivery recorded Failed and raises the Warning
// that tells the operator what failed.
func (r *NotificationReconciler) countFailed(rr *v1alpha1.ReportRequest, channel v1alpha1.NotificationChannel, target, message string) {
	notify.CountFailed(string(channel))
	what := "The e-mail to " + target
	if channel == v1alpha1.ChannelWebhook {
		what = "The webhook of Secret " + target
	}
	r.Recorder.Eventf(rr, nil, corev1.EventTypeWarning, EventNotificationFailed, actionNotify,
		"%s was not delivered and will not be retried: %s", what, message)
}

// patchLocked patches the status from old to updated with old's
// resourceVersion as a precondition: a conflict when anything changed.
func (r *NotificationReconciler) patchLocked(ctx context.Context, old, updated *v1alpha1.ReportRequest) error {
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	err := r.Client.Status().Patch(ctx, updated, patch, client.FieldOwner(NotificationControllerName))
	if err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("writing the report's notifications: %w", err)
	}
	return err
}

// DeliveryID is the stable id of one delivery of a report: the request's
// UID, the channel, and a digest of the target (so the id names no
// address). The same on every manager and every attempt.
func DeliveryID(uid types.UID, channel v1alpha1.NotificationChannel, target string) string {
	return fmt.Sprintf("%s.%s.%s", uid, channel, RequesterHash(target)[:16])
}

// findNotification returns the record of a delivery, or nil.
func findNotification(records []v1alpha1.NotificationStatus, id string) *v1alpha1.NotificationStatus {
	for i := range records {
		if records[i].ID == id {
			return &records[i]
		}
	}
	return nil
}

// upsertNotification returns the record of dl, adding it if missing.
func upsertNotification(records *[]v1alpha1.NotificationStatus, dl delivery) *v1alpha1.NotificationStatus {
	if e := findNotification(*records, dl.id); e != nil {
		return e
	}
	*records = append(*records, v1alpha1.NotificationStatus{ID: dl.id, Channel: dl.channel, Target: dl.target})
	return &(*records)[len(*records)-1]
}

// truncateMessage keeps a message within the status field's 1024 bytes
// and never empty (an empty message means "in flight").
func truncateMessage(s string) string {
	return cmp.Or(truncate(s, 1024), "unknown error")
}
