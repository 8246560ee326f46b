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
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/params"
	"reportd.io/reportd/internal/schedule"
)

// ScheduleControllerName names the ReportSchedule controller: its events'
// reporting controller and its field manager.
const ScheduleControllerName = "reportd-schedule"

// Reasons of the ReportSchedule Ready and Stalled conditions.
const (
	// ScheduleReasonScheduled: the schedule is valid and waits for its next run.
	ScheduleReasonScheduled = "Scheduled"
	// ScheduleReasonSuspended: spec.suspend is true; no new scheduled runs.
	ScheduleReasonSuspended = "Suspended"
	// ScheduleReasonInvalidSchedule: the cron expression or the time zone is unusable.
	ScheduleReasonInvalidSchedule = "InvalidSchedule"
	// ScheduleReasonTemplateInvalid: a parameter template does not render.
	ScheduleReasonTemplateInvalid = "TemplateInvalid"
	// ScheduleReasonDefinitionNotFound: the template's type names no ReportDefinition
	// in the namespace; the schedule waits for one.
	ScheduleReasonDefinitionNotFound = "DefinitionNotFound"
	// ScheduleReasonParametersInvalid: the rendered parameters do not bind to the
	// definition's parameters.
	ScheduleReasonParametersInvalid = "ParametersInvalid"
)

// Event reasons of the ReportSchedule controller.
const (
	// EventScheduleRunCreated (Normal): a scheduled run's ReportRequest was created.
	EventScheduleRunCreated = "RunCreated"
	// EventScheduleRunNow (Normal): a run-now token's ReportRequest was created.
	EventScheduleRunNow = "RunNowCreated"
	// EventScheduleRunsMissed (Warning): runs fell due while the manager was
	// not running, or too late to start.
	EventScheduleRunsMissed = "RunsMissed"
	// EventScheduleRunSkipped (Normal): a run was skipped because the previous
	// one is still active and concurrencyPolicy is Forbid.
	EventScheduleRunSkipped = "RunSkipped"
	// EventScheduleRunReplaced (Normal): an active run was deleted to make room
	// for the next one (concurrencyPolicy Replace).
	EventScheduleRunReplaced = "RunReplaced"
	// EventScheduleNameConflict (Warning): a ReportRequest of the run's name
	// exists and belongs to someone else.
	EventScheduleNameConflict = "NameConflict"
	// EventScheduleRunNowRefused (Warning): a run-now token is unusable.
	EventScheduleRunNowRefused = "RunNowRefused"
	// EventScheduleNotReady (Warning): the schedule became unusable; the
	// note says what to fix.
	EventScheduleNotReady = "NotReady"
)

// Actions of the ReportSchedule controller's events (events.k8s.io).
const (
	actionScheduleRun      = "CreateRun"
	actionScheduleSkip     = "SkipRun"
	actionScheduleReplace  = "DeleteRun"
	actionScheduleValidate = "Validate"
)

// conditionStalled follows the kstatus convention: True while the object
// cannot make progress without someone changing it. (It belongs next to
// v1alpha1.ConditionReady.)
const conditionStalled = "Stalled"

// maxRunNowToken is the longest run-now token status.lastRunNowToken holds.
const maxRunNowToken = 256

// maxActiveRefs is the most runs status.active lists (its API limit).
const maxActiveRefs = 64

// Default history limits, as the CRD defaults them.
const (
	defaultSuccessfulHistoryLimit = 3
	defaultFailedHistoryLimit     = 1
)

var (
	scheduleRunsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reportd_schedule_runs_total",
		Help: "ReportRequests created by ReportSchedules, scheduled and run-now.",
	}, []string{"namespace", "schedule"})
	scheduleMissedRunsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reportd_schedule_missed_runs_total",
		Help: "Scheduled runs of ReportSchedules that never ran: missed while the manager was down, past startingDeadlineSeconds, skipped under concurrencyPolicy Forbid, or blocked by a name conflict.",
	}, []string{"namespace", "schedule"})
)

func init() {
	metrics.Registry.MustRegister(scheduleRunsTotal, scheduleMissedRunsTotal)
}

// ReportScheduleReconciler creates ReportRequests from ReportSchedules on
// their cron timetable, in their time zone. It never writes a schedule's
// spec or metadata (GitOps tools own them), only its status, whose
// lastScheduleTime and lastRunNowToken are the authoritative record of the
// runs already handled.
type ReportScheduleReconciler struct {
	client.Client
	// Scheme resolves the schedule's kind for owner references.
	Scheme *runtime.Scheme
	// Clock tells the time; tests inject a fake one.
	Clock clock.PassiveClock
	// Recorder records events on schedules; nil records none.
	Recorder events.EventRecorder
}

// SetupWithManager registers the reconciler: schedules, the ReportRequests
// they own, and the ReportDefinitions their templates name.
func (r *ReportScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ReportSchedule{}).
		Owns(&v1alpha1.ReportRequest{}).
		Watches(&v1alpha1.ReportDefinition{}, handler.EnqueueRequestsFromMapFunc(r.schedulesForDefinition)).
		Named("reportschedule").
		Complete(r)
}

// Reconcile brings one schedule up to date: observe its runs, prune
// finished ones beyond the history limits, check the schedule and its
// template, handle a run-now token and the runs that fell due, write the
// status, and wait for the next run.
func (r *ReportScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rs v1alpha1.ReportSchedule
	if err := r.Get(ctx, req.NamespacedName, &rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	pass, err := r.newPass(ctx, &rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	observeChildren(pass)
	if err := r.pruneHistory(ctx, pass); err != nil {
		return ctrl.Result{}, err
	}
	plan, blocked, err := r.prepare(ctx, pass)
	if err != nil {
		return ctrl.Result{}, err
	}
	var runErr error
	if blocked == nil {
		runErr = errors.Join(r.runNow(ctx, pass, plan), r.runScheduled(ctx, pass, plan))
	}
	r.setConditions(pass, plan, blocked)
	if err := r.writeStatus(ctx, pass); err != nil {
		return ctrl.Result{}, ignoreScheduleConflict(ctx, err)
	}
	r.report(pass)
	if runErr != nil {
		return ctrl.Result{}, runErr
	}
	if pass.pruneDeferred && (pass.requeueAfter == 0 || pass.requeueAfter > prunePassDelay) {
		return ctrl.Result{RequeueAfter: prunePassDelay}, nil
	}
	return ctrl.Result{RequeueAfter: pass.requeueAfter}, nil
}

// prunePassDelay is how soon a pass that deferred pruning looks again.
const prunePassDelay = time.Second

// schedulePass is one reconcile of one schedule: what it read, the status it
// will write, and the decisions it will report once that status is written.
// What it did to the world (a run created or deleted) is reported at once;
// what it decided (runs missed or skipped) only with the record, so a pass
// whose status write fails reports no decision, and the next pass, which
// sees the same due runs, reports them once.
type schedulePass struct {
	rs       *v1alpha1.ReportSchedule // as read; never modified
	status   *v1alpha1.ReportScheduleStatus
	children []v1alpha1.ReportRequest // owned by rs, not being deleted
	now      time.Time

	events       []scheduleEvent
	missed       int
	requeueAfter time.Duration
	// pruneDeferred: a run beyond the history limit waits for this pass's
	// status write to record its success before it is deleted.
	pruneDeferred bool
}

// scheduleEvent is an event waiting for the status write.
type scheduleEvent struct {
	eventType, reason, action, note string
}

// event queues an event about a decision until the status holds it.
func (p *schedulePass) event(eventType, reason, action, format string, args ...any) {
	p.events = append(p.events, scheduleEvent{eventType, reason, action, fmt.Sprintf(format, args...)})
}

// eventNow records an event about something done to the world.
func (r *ReportScheduleReconciler) eventNow(rs *v1alpha1.ReportSchedule, eventType, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rs, nil, eventType, reason, action, format, args...)
	}
}

// newPass reads the schedule's children and starts a pass.
func (r *ReportScheduleReconciler) newPass(ctx context.Context, rs *v1alpha1.ReportSchedule) (*schedulePass, error) {
	var list v1alpha1.ReportRequestList
	if err := r.List(ctx, &list, client.InNamespace(rs.Namespace),
		client.MatchingLabels{v1alpha1.LabelSchedule: schedule.LabelValue(rs.Name)}); err != nil {
		return nil, fmt.Errorf("listing the schedule's ReportRequests: %w", err)
	}
	pass := &schedulePass{rs: rs, status: rs.Status.DeepCopy(), now: r.Clock.Now()}
	for i := range list.Items {
		child := &list.Items[i]
		// The label can be copied by anyone; the controller reference cannot.
		if metav1.IsControlledBy(child, rs) && child.DeletionTimestamp == nil {
			pass.children = append(pass.children, *child)
		}
	}
	slices.SortFunc(pass.children, compareRuns)
	return pass, nil
}

// compareRuns orders runs oldest first: by scheduled time, then name.
func compareRuns(a, b v1alpha1.ReportRequest) int {
	if c := scheduledTimeOf(&a).Compare(scheduledTimeOf(&b)); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// scheduledTimeOf is a run's scheduled time, or its creation time when the
// annotation is missing or malformed.
func scheduledTimeOf(rr *v1alpha1.ReportRequest) time.Time {
	if t, err := time.Parse(time.RFC3339, rr.Annotations[schedule.AnnotationScheduledTime]); err == nil {
		return t
	}
	return rr.CreationTimestamp.Time
}

// pruneHistory deletes the oldest finished runs beyond the history limits.
func (r *ReportScheduleReconciler) pruneHistory(ctx context.Context, pass *schedulePass) error {
	var succeeded, failed []v1alpha1.ReportRequest
	for _, child := range pass.children {
		switch child.Status.Phase {
		case v1alpha1.PhaseCompleted:
			succeeded = append(succeeded, child)
		case v1alpha1.PhaseFailed:
			failed = append(failed, child)
		}
	}
	// A success is pruned only once the stored status holds it: if this
	// pass deleted the run and then lost its status write to a conflict,
	// the next pass would no longer see the run, and lastSuccessfulTime
	// would never be recorded. The write of this pass records it; the
	// next pass deletes it.
	beyond := oldestBeyond(succeeded, pass.rs.Spec.SuccessfulHistoryLimit, defaultSuccessfulHistoryLimit)
	recorded := slices.DeleteFunc(slices.Clone(beyond), func(c v1alpha1.ReportRequest) bool {
		return !successRecorded(pass.rs, &c)
	})
	pass.pruneDeferred = len(recorded) < len(beyond)
	doomed := slices.Concat(recorded,
		oldestBeyond(failed, pass.rs.Spec.FailedHistoryLimit, defaultFailedHistoryLimit))
	for i := range doomed {
		if err := r.deleteRun(ctx, &doomed[i]); err != nil {
			return err
		}
		logf.FromContext(ctx).V(1).Info("Deleted a finished run beyond the history limit", "request", klog.KObj(&doomed[i]))
	}
	pass.children = slices.DeleteFunc(pass.children, func(c v1alpha1.ReportRequest) bool {
		return slices.ContainsFunc(doomed, func(d v1alpha1.ReportRequest) bool { return d.UID == c.UID })
	})
	return nil
}

// successRecorded reports whether the schedule's stored status already
// counts a completed run in its lastSuccessfulTime.
func successRecorded(rs *v1alpha1.ReportSchedule, run *v1alpha1.ReportRequest) bool {
	last, done := rs.Status.LastSuccessfulTime, run.Status.CompletedAt
	return done == nil || (last != nil && !last.Before(done))
}

// oldestBeyond returns the oldest runs (runs are sorted oldest first) that
// exceed the limit.
func oldestBeyond(runs []v1alpha1.ReportRequest, limit *int32, defaultLimit int) []v1alpha1.ReportRequest {
	keep := defaultLimit
	if limit != nil {
		keep = int(*limit)
	}
	if len(runs) <= keep {
		return nil
	}
	return runs[:len(runs)-keep]
}

// deleteRun deletes a run in the background: the ReportRequest's own
// finalizer cancels its Job and deletes its file.
func (r *ReportScheduleReconciler) deleteRun(ctx context.Context, rr *v1alpha1.ReportRequest) error {
	err := r.Delete(ctx, rr, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &rr.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ReportRequest %s: %w", rr.Name, err)
	}
	return nil
}

// observeChildren records the active runs and the last success. The last
// success only moves forward: the run that proved it may have been pruned.
func observeChildren(pass *schedulePass) {
	pass.status.Active = nil
	for i := range pass.children {
		child := &pass.children[i]
		if !child.Status.Phase.IsTerminal() {
			pass.status.Active = append(pass.status.Active, runReference(child))
			continue
		}
		done := child.Status.CompletedAt
		if child.Status.Phase == v1alpha1.PhaseCompleted && done != nil &&
			(pass.status.LastSuccessfulTime == nil || pass.status.LastSuccessfulTime.Before(done)) {
			pass.status.LastSuccessfulTime = done.DeepCopy()
		}
	}
	if n := len(pass.status.Active); n > maxActiveRefs {
		pass.status.Active = pass.status.Active[n-maxActiveRefs:]
	}
}

// runReference points at a run. It leaves out the resourceVersion, which
// would rewrite the schedule's status on every progress update of the run.
func runReference(rr *v1alpha1.ReportRequest) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion: v1alpha1.GroupVersion.String(),
		Kind:       "ReportRequest",
		Namespace:  rr.Namespace,
		Name:       rr.Name,
		UID:        rr.UID,
	}
}

// addRun lists a run this pass created (or found created by an earlier
// pass that ended before recording it) as active.
func (p *schedulePass) addRun(rr *v1alpha1.ReportRequest) {
	if slices.ContainsFunc(p.children, func(c v1alpha1.ReportRequest) bool { return c.UID == rr.UID }) {
		return
	}
	p.children = append(p.children, *rr)
	if len(p.status.Active) < maxActiveRefs && !rr.Status.Phase.IsTerminal() {
		p.status.Active = append(p.status.Active, runReference(rr))
	}
}

// hasChild reports whether the schedule has a run of that name.
func (p *schedulePass) hasChild(name string) bool {
	return slices.ContainsFunc(p.children, func(c v1alpha1.ReportRequest) bool { return c.Name == name })
}

// activeRuns are the children not yet finished.
func (p *schedulePass) activeRuns() []v1alpha1.ReportRequest {
	var active []v1alpha1.ReportRequest
	for _, child := range p.children {
		if !child.Status.Phase.IsTerminal() {
			active = append(active, child)
		}
	}
	return active
}

// schedulePlan is what a usable schedule runs by.
type schedulePlan struct {
	timetable  *schedule.Timetable
	definition *v1alpha1.ReportDefinition
}

// scheduleBlocker says why a schedule cannot run, as its Ready condition
// will. stalled is true when only a change by the user can help.
type scheduleBlocker struct {
	reason, message string
	stalled         bool
}

// prepare checks everything a run needs before any run is due, so a broken
// schedule shows Ready=False minutes after it is applied, not at 3 a.m.:
// the expression and zone parse, the template renders for the next run, the
// definition exists, and the rendered parameters bind to it.
func (r *ReportScheduleReconciler) prepare(ctx context.Context, pass *schedulePass) (*schedulePlan, *scheduleBlocker, error) {
	timetable, err := schedule.Parse(pass.rs.Spec.Schedule, pass.rs.Spec.TimeZone)
	if err != nil {
		// The user's to fix, not a retry: a blocker shown in Ready.
		return nil, &scheduleBlocker{ScheduleReasonInvalidSchedule, err.Error(), true}, nil //nolint:nilerr // the error becomes the blocker's message
	}
	if timetable.Next(pass.now).IsZero() {
		msg := fmt.Sprintf("schedule %q has no run in the next five years", pass.rs.Spec.Schedule)
		return nil, &scheduleBlocker{ScheduleReasonInvalidSchedule, msg, true}, nil
	}
	plan := &schedulePlan{timetable: timetable}
	plan.definition, err = r.definitionOf(ctx, pass.rs)
	if err != nil {
		return nil, nil, err
	}
	if _, blocked := r.buildRun(pass, plan, "preview", timetable.Next(pass.now)); blocked != nil {
		return plan, blocked, nil
	}
	return plan, nil, nil
}

// definitionOf returns the template's ReportDefinition, or nil if missing.
func (r *ReportScheduleReconciler) definitionOf(ctx context.Context, rs *v1alpha1.ReportSchedule) (*v1alpha1.ReportDefinition, error) {
	var def v1alpha1.ReportDefinition
	key := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.Template.Spec.Type}
	if err := r.Get(ctx, key, &def); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading ReportDefinition %s: %w", key.Name, err)
	}
	return &def, nil
}

// buildRun makes the ReportRequest for a run at the given time: the
// template's spec with rendered parameters and the schedule's time zone,
// its labels and annotations, and the schedule as its controller.
func (r *ReportScheduleReconciler) buildRun(pass *schedulePass, plan *schedulePlan, name string, at time.Time) (*v1alpha1.ReportRequest, *scheduleBlocker) {
	rs := pass.rs
	spec := rs.Spec.Template.Spec.DeepCopy()
	if spec.TimeZone == "" {
		spec.TimeZone = scheduleZone(rs)
	}
	rendered, err := schedule.Render(spec.Parameters, schedule.Data{
		ScheduledTime: at.In(plan.timetable.Location()),
		Schedule:      rs.Name,
		Namespace:     rs.Namespace,
		TimeZone:      scheduleZone(rs),
	})
	if err != nil {
		return nil, &scheduleBlocker{ScheduleReasonTemplateInvalid, err.Error(), true}
	}
	spec.Parameters = rendered
	if plan.definition == nil {
		msg := fmt.Sprintf("ReportDefinition %q not found in namespace %s: the schedule waits for it", spec.Type, rs.Namespace)
		return nil, &scheduleBlocker{ScheduleReasonDefinitionNotFound, msg, false}
	}
	if _, err := params.Bind(&plan.definition.Spec, spec.Parameters, spec.TimeZone); err != nil {
		msg := fmt.Sprintf("the parameters rendered for %s do not fit ReportDefinition %s: %v", at.Format(time.RFC3339), spec.Type, err)
		return nil, &scheduleBlocker{ScheduleReasonParametersInvalid, msg, true}
	}
	child := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   rs.Namespace,
			Labels:      copyWithEntry(rs.Spec.Template.Metadata.Labels, v1alpha1.LabelSchedule, schedule.LabelValue(rs.Name)),
			Annotations: copyWithEntry(rs.Spec.Template.Metadata.Annotations, schedule.AnnotationScheduledTime, at.UTC().Format(time.RFC3339)),
		},
		Spec: *spec,
	}
	if err := controllerutil.SetControllerReference(rs, child, r.Scheme); err != nil {
		// Only a scheme without ReportSchedule gets here: a programming error.
		return nil, &scheduleBlocker{ScheduleReasonInvalidSchedule, err.Error(), true}
	}
	return child, nil
}

// scheduleZone is the schedule's zone name, UTC when unset.
func scheduleZone(rs *v1alpha1.ReportSchedule) string {
	if rs.Spec.TimeZone == "" {
		return schedule.DefaultTimeZone
	}
	return rs.Spec.TimeZone
}

// copyWithEntry returns a copy of m with key set to value.
func copyWithEntry(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[key] = value
	return out
}

// runNow creates one run for a new run-now token. The token, not the time,
// names the run, and status.lastRunNowToken records it: re-applying the
// manifest with the same token neither repeats nor loses the request. It
// runs whether or not the schedule is suspended and whatever the
// concurrency policy, as `kubectl create job --from=cronjob/...` does.
func (r *ReportScheduleReconciler) runNow(ctx context.Context, pass *schedulePass, plan *schedulePlan) error {
	token := pass.rs.Annotations[v1alpha1.AnnotationRunNow]
	if token == "" || token == pass.status.LastRunNowToken {
		return nil
	}
	if len(token) > maxRunNowToken {
		pass.event(corev1.EventTypeWarning, EventScheduleRunNowRefused, actionScheduleRun,
			"The run-now token is longer than %d characters: use a shorter one, such as a timestamp", maxRunNowToken)
		return nil
	}
	child, blocked := r.buildRun(pass, plan, schedule.RunNowName(pass.rs.Name, token), pass.now)
	if blocked != nil {
		return nil // prepare saw the same template; the condition says why
	}
	child.Annotations[schedule.AnnotationRunNowToken] = token
	outcome, err := r.createRun(ctx, pass, child)
	if err != nil {
		return err
	}
	pass.status.LastRunNowToken = token
	if outcome == runCreated {
		r.eventNow(pass.rs, corev1.EventTypeNormal, EventScheduleRunNow, actionScheduleRun,
			"Created ReportRequest %s for run-now token %q", child.Name, token)
	}
	return nil
}

// runScheduled handles the runs that fell due since the last one handled:
// at most one starts (the latest), the others are counted as missed, and
// status.lastScheduleTime records the latest as handled either way, so no
// run is ever started twice, even if its ReportRequest is deleted later.
func (r *ReportScheduleReconciler) runScheduled(ctx context.Context, pass *schedulePass, plan *schedulePlan) error {
	spec := pass.rs.Spec
	due := plan.timetable.DueRuns(runsSince(pass.status, pass.now), pass.now)
	active := pass.activeRuns()
	decision := schedule.Decide(schedule.Situation{
		Due:              due,
		Now:              pass.now,
		StartingDeadline: startingDeadlineOf(spec.StartingDeadlineSeconds),
		Policy:           spec.ConcurrencyPolicy,
		Active:           len(active),
		Suspended:        isSet(spec.Suspend),
	})
	if !due.Latest.IsZero() && pass.hasChild(schedule.RunName(pass.rs.Name, due.Latest)) {
		// An earlier pass created this run and ended before recording it:
		// the run exists, so it is neither skipped nor replaced, only recorded.
		decision = schedule.Decision{Action: schedule.ActionRun, ScheduledTime: due.Latest,
			Missed: due.Count - 1, MissedAtLeast: due.Truncated}
	}
	pass.status.NextScheduleTime = scheduleTimeOrNil(due.Next)
	pass.requeueAfter = scheduleRequeueUntil(due.Next, pass.now)
	switch decision.Action {
	case schedule.ActionWait:
		return nil
	case schedule.ActionSkip:
		r.recordSkip(pass, decision, active)
		return nil
	}
	if decision.ReplaceActive {
		if err := r.replace(ctx, pass, active, decision.ScheduledTime); err != nil {
			return err
		}
	}
	return r.startRun(ctx, pass, plan, decision)
}

// runsSince is the instant after which runs count as due. lastScheduleTime
// is the record once a run was handled. Before the first, the first pass
// announces nextScheduleTime and later passes run what was announced, so a
// manager that was down at that time still starts it; the very first pass
// starts from now, so a new schedule never fires for times before it was
// seen.
func runsSince(status *v1alpha1.ReportScheduleStatus, now time.Time) time.Time {
	if status.LastScheduleTime != nil {
		return status.LastScheduleTime.Time
	}
	if status.NextScheduleTime != nil {
		if announced := status.NextScheduleTime.Add(-time.Second); announced.Before(now) {
			return announced
		}
	}
	return now
}

// recordSkip records a due run that does not start.
func (r *ReportScheduleReconciler) recordSkip(pass *schedulePass, d schedule.Decision, active []v1alpha1.ReportRequest) {
	pass.status.LastScheduleTime = &metav1.Time{Time: d.ScheduledTime}
	at := scheduleLocalTime(d.ScheduledTime)
	switch d.SkipReason {
	case schedule.SkipSuspended:
		return // passed over on purpose: nothing missed, nothing to say
	case schedule.SkipForbidden:
		pass.event(corev1.EventTypeNormal, EventScheduleRunSkipped, actionScheduleSkip,
			"Skipped the run of %s: ReportRequest %s is still active and concurrencyPolicy is Forbid", at, active[len(active)-1].Name)
	case schedule.SkipDeadlineExceeded:
		pass.event(corev1.EventTypeWarning, EventScheduleRunsMissed, actionScheduleSkip,
			"Missed %s, the latest at %s, more than startingDeadlineSeconds (%d) ago: none started; check that the manager runs",
			countScheduleRuns(d.Missed, d.MissedAtLeast), at, *pass.rs.Spec.StartingDeadlineSeconds)
	}
	pass.status.MissedRuns = int32(d.Missed)
	pass.missed += d.Missed
}

// replace deletes the active runs before the next one starts.
func (r *ReportScheduleReconciler) replace(ctx context.Context, pass *schedulePass, active []v1alpha1.ReportRequest, at time.Time) error {
	for i := range active {
		if err := r.deleteRun(ctx, &active[i]); err != nil {
			return err
		}
		r.eventNow(pass.rs, corev1.EventTypeNormal, EventScheduleRunReplaced, actionScheduleReplace,
			"Deleted active ReportRequest %s for the run of %s (concurrencyPolicy Replace)", active[i].Name, scheduleLocalTime(at))
	}
	pass.children = slices.DeleteFunc(pass.children, func(c v1alpha1.ReportRequest) bool { return !c.Status.Phase.IsTerminal() })
	pass.status.Active = nil
	return nil
}

// startRun creates the run of the decision's scheduled time.
func (r *ReportScheduleReconciler) startRun(ctx context.Context, pass *schedulePass, plan *schedulePlan, d schedule.Decision) error {
	child, blocked := r.buildRun(pass, plan, schedule.RunName(pass.rs.Name, d.ScheduledTime), d.ScheduledTime)
	if blocked != nil {
		return nil // not handled: it runs once the template is fixed, within the starting deadline
	}
	outcome, err := r.createRun(ctx, pass, child)
	if err != nil {
		return err
	}
	pass.status.LastScheduleTime = &metav1.Time{Time: d.ScheduledTime}
	pass.status.MissedRuns = int32(d.Missed)
	pass.missed += d.Missed
	at := scheduleLocalTime(d.ScheduledTime)
	if d.Missed > 0 {
		pass.event(corev1.EventTypeWarning, EventScheduleRunsMissed, actionScheduleRun,
			"Missed %s while the manager was not running; started only the latest, of %s", countScheduleRuns(d.Missed, d.MissedAtLeast), at)
	}
	switch outcome {
	case runConflict:
		pass.missed++
		pass.status.MissedRuns++
		return nil
	case runExisted:
		return nil
	}
	r.eventNow(pass.rs, corev1.EventTypeNormal, EventScheduleRunCreated, actionScheduleRun, "Created ReportRequest %s for the run of %s", child.Name, at)
	return nil
}

// createOutcome is what became of a run's ReportRequest.
type createOutcome int

const (
	// runCreated: this pass created it.
	runCreated createOutcome = iota
	// runExisted: an earlier pass created it and ended before recording it;
	// that run is the one, not a second.
	runExisted
	// runConflict: the name belongs to a ReportRequest this schedule does
	// not control; the run was not started.
	runConflict
)

// createRun creates a run's ReportRequest, warning when its name is taken.
func (r *ReportScheduleReconciler) createRun(ctx context.Context, pass *schedulePass, child *v1alpha1.ReportRequest) (createOutcome, error) {
	err := r.Create(ctx, child, client.FieldOwner(ScheduleControllerName))
	if err == nil {
		logf.FromContext(ctx).Info("Created a run", "request", klog.KObj(child),
			"scheduledTime", child.Annotations[schedule.AnnotationScheduledTime])
		scheduleRunsTotal.WithLabelValues(pass.rs.Namespace, pass.rs.Name).Inc()
		pass.addRun(child)
		return runCreated, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("creating ReportRequest %s: %w", child.Name, err)
	}
	var existing v1alpha1.ReportRequest
	if err := r.Get(ctx, client.ObjectKeyFromObject(child), &existing); err != nil {
		return 0, fmt.Errorf("reading existing ReportRequest %s: %w", child.Name, err)
	}
	if metav1.IsControlledBy(&existing, pass.rs) {
		pass.addRun(&existing)
		return runExisted, nil
	}
	pass.event(corev1.EventTypeWarning, EventScheduleNameConflict, actionScheduleRun,
		"ReportRequest %s exists and is not controlled by this schedule: its run was not started; delete or rename that ReportRequest", child.Name)
	return runConflict, nil
}

// setConditions sets Ready (and Stalled, the kstatus convention) from the
// outcome of prepare.
func (r *ReportScheduleReconciler) setConditions(pass *schedulePass, plan *schedulePlan, blocked *scheduleBlocker) {
	gen := pass.rs.Generation
	pass.status.ObservedGeneration = gen
	conds := &pass.status.Conditions
	now := metav1.NewTime(pass.now)
	if blocked != nil {
		wasReady := !meta.IsStatusConditionFalse(*conds, v1alpha1.ConditionReady)
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: blocked.reason, Message: blocked.message, ObservedGeneration: gen, LastTransitionTime: now})
		setStalled(conds, blocked, gen, now)
		pass.status.NextScheduleTime = pendingRun(pass, plan)
		if wasReady {
			pass.event(corev1.EventTypeWarning, EventScheduleNotReady, actionScheduleValidate, "%s: %s", blocked.reason, blocked.message)
		}
		return
	}
	reason, message := ScheduleReasonScheduled, "next run at "+scheduleLocalTime(plan.timetable.Next(pass.now))
	if isSet(pass.rs.Spec.Suspend) {
		reason, message = ScheduleReasonSuspended, "suspended: no scheduled runs until spec.suspend is false"
		pass.status.NextScheduleTime = nil
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: reason, Message: message, ObservedGeneration: gen, LastTransitionTime: now})
	meta.RemoveStatusCondition(conds, conditionStalled)
}

// pendingRun is the next run of a blocked schedule: the first not yet
// handled, which may be overdue. It keeps waiting (and, within the starting
// deadline, starts once the schedule is usable again), like a run missed
// while the manager was down. Nil when the timetable itself is unusable.
func pendingRun(pass *schedulePass, plan *schedulePlan) *metav1.Time {
	if plan == nil {
		return nil
	}
	return scheduleTimeOrNil(plan.timetable.Next(runsSince(pass.status, pass.now)))
}

// setStalled sets Stalled when only the user can unblock the schedule, and
// removes it when the schedule waits for something that will come (a
// definition): kstatus reads a present Stalled=True as failed.
func setStalled(conds *[]metav1.Condition, blocked *scheduleBlocker, gen int64, now metav1.Time) {
	if !blocked.stalled {
		meta.RemoveStatusCondition(conds, conditionStalled)
		return
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: conditionStalled, Status: metav1.ConditionTrue,
		Reason: blocked.reason, Message: blocked.message, ObservedGeneration: gen, LastTransitionTime: now})
}

// writeStatus patches the status when it changed, with optimistic locking:
// a pass that read a stale schedule must not overwrite a newer record.
func (r *ReportScheduleReconciler) writeStatus(ctx context.Context, pass *schedulePass) error {
	if equality.Semantic.DeepEqual(&pass.rs.Status, pass.status) {
		return nil
	}
	updated := pass.rs.DeepCopy()
	updated.Status = *pass.status
	patch := client.MergeFromWithOptions(pass.rs, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, updated, patch, client.FieldOwner(ScheduleControllerName)); err != nil {
		return fmt.Errorf("writing the status: %w", err)
	}
	return nil
}

// ignoreScheduleConflict drops a status conflict: the schedule changed since it was
// read, and that change queues a new pass that starts from it.
func ignoreScheduleConflict(ctx context.Context, err error) error {
	if apierrors.IsConflict(err) {
		logf.FromContext(ctx).V(1).Info("The schedule changed while it was reconciled; starting again from the new version")
		return nil
	}
	return err
}

// report emits the pass's events and metrics, once its status is written.
func (r *ReportScheduleReconciler) report(pass *schedulePass) {
	labels := prometheus.Labels{"namespace": pass.rs.Namespace, "schedule": pass.rs.Name}
	if pass.missed > 0 {
		scheduleMissedRunsTotal.With(labels).Add(float64(pass.missed))
	}
	if r.Recorder == nil {
		return
	}
	for _, e := range pass.events {
		r.Recorder.Eventf(pass.rs, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
}

// schedulesForDefinition maps a ReportDefinition to the schedules of its
// namespace whose template names it, so a schedule waiting for its
// definition, or binding to a changed one, is checked again.
func (r *ReportScheduleReconciler) schedulesForDefinition(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.ReportScheduleList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		logf.FromContext(ctx).Error(err, "Listing ReportSchedules for a ReportDefinition", "definition", klog.KObj(obj))
		return nil
	}
	var requests []reconcile.Request
	for _, rs := range list.Items {
		if rs.Spec.Template.Spec.Type == obj.GetName() {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rs)})
		}
	}
	return requests
}

// startingDeadline converts startingDeadlineSeconds.
func startingDeadlineOf(seconds *int64) *time.Duration {
	if seconds == nil {
		return nil
	}
	d := time.Duration(*seconds) * time.Second
	return &d
}

// scheduleRequeueUntil is how long to wait for the next run; zero when none comes.
func scheduleRequeueUntil(next, now time.Time) time.Duration {
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), time.Second)
}

// scheduleTimeOrNil is nil for the zero time.
func scheduleTimeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}

// scheduleLocalTime formats a run's time as its schedule's users read it.
func scheduleLocalTime(t time.Time) string { return t.Format("2006-01-02 15:04 MST") }

// countScheduleRuns says "1 run", "5 runs" or "at least 10000 runs".
func countScheduleRuns(n int, atLeast bool) string {
	s := fmt.Sprintf("%d runs", n)
	if n == 1 {
		s = "1 run"
	}
	if atLeast {
		s = "at least " + s
	}
	return s
}

func isSet(b *bool) bool { return b != nil && *b }
