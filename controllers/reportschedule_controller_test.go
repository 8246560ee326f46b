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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/schedule"
	"reportd.io/reportd/internal/testsupport"
)

// These specs run the ReportSchedule controller alone, in its own manager
// with a fake clock, against the suite's API server. No ReportRequest
// controller runs: runs stay Pending unless a spec finishes them by writing
// their status, as the ReportRequest controller would.
//
// Time moves only when a spec says so. The controller's RequeueAfter timer
// runs on the real clock, so a spec stands in for it: tick sets the fake
// clock and then changes the schedule (a template annotation), which starts
// a pass; the pass is done when status.observedGeneration reaches the new
// generation. Every check after a tick therefore sees what that pass did.

// schedEventWait bounds the wait for what the controller does outside a
// tick: events (recorded asynchronously), reactions to runs finishing.
const schedEventWait = 20 * time.Second

// schedTickAnnotation is the template annotation tick bumps.
const schedTickAnnotation = "test.reportd.io/tick"

// scheduleHarness is one spec's namespace, fake clock and manager.
type scheduleHarness struct {
	ctx   context.Context
	ns    string
	clock *clocktesting.FakeClock
	stop  func()
	ticks int
}

func newScheduleHarness(start time.Time) *scheduleHarness {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "schedule-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	h := &scheduleHarness{ctx: context.Background(), ns: ns.Name, clock: clocktesting.NewFakeClock(start)}
	h.startManager()
	DeferCleanup(func() { h.stopManager() })
	Expect(k8sClient.Create(h.ctx, schedPlainDefinition(h.ns))).To(Succeed())
	return h
}

// startManager starts a manager running only the ReportSchedule
// controller, caching only the spec's namespace.
func (h *scheduleHarness) startManager() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testsupport.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}},
		// Every spec registers a controller of the same name in this process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	r := &ReportScheduleReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Clock:    h.clock,
		Recorder: mgr.GetEventRecorder(ScheduleControllerName),
	}
	Expect(r.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- mgr.Start(ctx)
	}()
	h.stop = func() {
		cancel()
		Eventually(done, 30*time.Second).Should(Receive(BeNil()))
	}
}

func (h *scheduleHarness) stopManager() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// create creates a schedule in the spec's namespace and waits for the
// controller's first pass.
func (h *scheduleHarness) create(rs *v1alpha1.ReportSchedule) *v1alpha1.ReportSchedule {
	rs.Namespace = h.ns
	Expect(k8sClient.Create(h.ctx, rs)).To(Succeed())
	return h.waitForPass(rs.Name, rs.Generation)
}

// tick sets the clock and waits for a pass at that time, as the
// controller's RequeueAfter timer would start one. Further changes (of the
// schedule's annotations, say, which alone would not show when the pass
// is done) are made in the same write.
func (h *scheduleHarness) tick(name string, at time.Time, changes ...func(*v1alpha1.ReportSchedule)) *v1alpha1.ReportSchedule {
	h.clock.SetTime(at)
	h.ticks++
	return h.update(name, func(rs *v1alpha1.ReportSchedule) {
		if rs.Spec.Template.Metadata.Annotations == nil {
			rs.Spec.Template.Metadata.Annotations = map[string]string{}
		}
		rs.Spec.Template.Metadata.Annotations[schedTickAnnotation] = strconv.Itoa(h.ticks)
		for _, change := range changes {
			change(rs)
		}
	})
}

// update changes a schedule's spec as a user would and waits for the pass
// that sees the change (status.observedGeneration reaches the new
// generation; only spec changes move the generation).
func (h *scheduleHarness) update(name string, change func(*v1alpha1.ReportSchedule)) *v1alpha1.ReportSchedule {
	rs := h.get(name)
	before := rs.DeepCopy()
	change(rs)
	Expect(k8sClient.Patch(h.ctx, rs, client.MergeFrom(before))).To(Succeed())
	return h.waitForPass(name, rs.Generation)
}

func (h *scheduleHarness) waitForPass(name string, generation int64) *v1alpha1.ReportSchedule {
	var rs *v1alpha1.ReportSchedule
	Eventually(func(g Gomega) {
		rs = h.get(name)
		g.Expect(rs.Status.ObservedGeneration).To(BeNumerically(">=", generation))
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed(), "no pass of schedule %s at generation %d", name, generation)
	return rs
}

func (h *scheduleHarness) get(name string) *v1alpha1.ReportSchedule {
	var rs v1alpha1.ReportSchedule
	Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &rs)).To(Succeed())
	return &rs
}

// runs lists a schedule's ReportRequests, oldest scheduled time first.
func (h *scheduleHarness) runs(name string) []v1alpha1.ReportRequest {
	var list v1alpha1.ReportRequestList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns),
		client.MatchingLabels{v1alpha1.LabelSchedule: name})).To(Succeed())
	slices.SortFunc(list.Items, func(a, b v1alpha1.ReportRequest) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func (h *scheduleHarness) runNames(name string) []string {
	names := []string{}
	for _, rr := range h.runs(name) {
		names = append(names, rr.Name)
	}
	return names
}

// finish writes a terminal phase into a run's status, as the ReportRequest
// controller would.
func (h *scheduleHarness) finish(name string, phase v1alpha1.ReportPhase) {
	var rr v1alpha1.ReportRequest
	Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &rr)).To(Succeed())
	before := rr.DeepCopy()
	rr.Status.Phase = phase
	rr.Status.CompletedAt = &metav1.Time{Time: h.clock.Now().Truncate(time.Second)}
	Expect(k8sClient.Status().Patch(h.ctx, &rr, client.MergeFrom(before))).To(Succeed())
}

// eventNotes returns the notes of the schedule's events with that reason.
func (h *scheduleHarness) eventNotes(name, reason string) func() []string {
	return func() []string {
		var list eventsv1.EventList
		Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns))).To(Succeed())
		var notes []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				notes = append(notes, e.Note)
			}
		}
		return notes
	}
}

func (h *scheduleHarness) gone(name string) func() bool {
	return func() bool {
		err := k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &v1alpha1.ReportRequest{})
		return apierrors.IsNotFound(err)
	}
}

// schedDaily runs at 09:00 in the zone, making "plain" reports.
func schedDaily(name, zone string) *v1alpha1.ReportSchedule {
	return &v1alpha1.ReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ReportScheduleSpec{
			Schedule: "0 9 * * *",
			TimeZone: zone,
			Template: v1alpha1.ReportRequestTemplate{Spec: v1alpha1.ReportRequestSpec{
				Type:        "plain",
				RequestedBy: "scheduler@example.com",
			}},
		},
	}
}

func schedPlainDefinition(ns string) *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
		Spec: v1alpha1.ReportDefinitionSpec{
			Query:      "SELECT 1",
			Parameters: []v1alpha1.ReportParameter{{Name: "day", Type: "date"}},
		},
	}
}

// schedSample reads a manifest of config/samples into obj, strictly, so a
// typo in a sample fails here.
func schedSample(file string, obj client.Object) {
	data, err := os.ReadFile(filepath.Join("..", "config", "samples", file))
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.UnmarshalStrict(data, obj)).To(Succeed(), file)
}

// createSampleDefinition creates a sample ReportDefinition in the namespace.
func (h *scheduleHarness) createSampleDefinition(name string) {
	var def v1alpha1.ReportDefinition
	schedSample("reports_v1alpha1_reportdefinition_"+name+".yaml", &def)
	def.Namespace = h.ns
	Expect(k8sClient.Create(h.ctx, &def)).To(Succeed())
}

func schedZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	Expect(err).NotTo(HaveOccurred())
	return loc
}

// schedUTC reads "2006-01-02 15:04:05" in UTC.
func schedUTC(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	Expect(err).NotTo(HaveOccurred())
	return t
}

func schedNames(prefix string, suffixes ...string) []string {
	out := make([]string, len(suffixes))
	for i, s := range suffixes {
		out[i] = prefix + "-" + s
	}
	return out
}

// schedAt matches a *metav1.Time at the instant t (and fails, rather than
// panics, on nil).
func schedAt(t time.Time) types.GomegaMatcher {
	return HaveField("Time", BeTemporally("==", t))
}

func schedReady(rs *v1alpha1.ReportSchedule) *metav1.Condition {
	return meta.FindStatusCondition(rs.Status.Conditions, v1alpha1.ConditionReady)
}

var _ = Describe("ReportSchedule controller", func() {
	Describe("the timetable in a time zone", func() {
		// Names end in the scheduled time in UTC, so they show the run's
		// UTC hour moving while its local hour stays 09:00.
		DescribeTable("a daily 09:00 schedule fires once a day at 09:00 local through a DST change",
			func(zone string, year int, month time.Month, day int, wantUTC ...string) {
				loc := schedZone(zone)
				h := newScheduleHarness(time.Date(year, month, day-1, 12, 0, 0, 0, loc))
				h.create(schedDaily("daily", zone))
				for i := range 4 {
					date := func(hour, minute, sec int) time.Time { return time.Date(year, month, day+i, hour, minute, sec, 0, loc) }
					rs := h.tick("daily", date(8, 59, 30))
					Expect(h.runs("daily")).To(HaveLen(i), "before 09:00 on day %d", i)
					Expect(rs.Status.NextScheduleTime).To(schedAt(date(9, 0, 0)))

					rs = h.tick("daily", date(9, 0, 30))
					Expect(h.runs("daily")).To(HaveLen(i+1), "after 09:00 on day %d", i)
					Expect(rs.Status.LastScheduleTime).To(schedAt(date(9, 0, 0)))

					h.tick("daily", date(21, 0, 0))
					Expect(h.runs("daily")).To(HaveLen(i+1), "later on day %d", i)
				}
				Expect(h.runNames("daily")).To(Equal(schedNames("daily", wantUTC...)))
			},
			Entry("Europe/Berlin, spring forward", "Europe/Berlin", 2026, time.March, 27,
				"202603270800", "202603280800", "202603290700", "202603300700"),
			Entry("Europe/Berlin, fall back", "Europe/Berlin", 2026, time.October, 23,
				"202610230700", "202610240700", "202610250800", "202610260800"),
			Entry("America/New_York, spring forward", "America/New_York", 2026, time.March, 6,
				"202603061400", "202603071400", "202603081300", "202603091300"),
			Entry("America/New_York, fall back", "America/New_York", 2026, time.October, 30,
				"202610301300", "202610311300", "202611011400", "202611021400"),
		)

		type step struct {
			at   string   // UTC
			want []string // the runs' UTC stamps after the pass at that time
		}
		DescribeTable("a time missing or repeated on a DST day runs once",
			func(zone, cron, start string, steps ...step) {
				h := newScheduleHarness(schedUTC(start))
				rs := schedDaily("night", zone)
				rs.Spec.Schedule = cron
				h.create(rs)
				for _, s := range steps {
					h.tick("night", schedUTC(s.at))
					Expect(h.runNames("night")).To(Equal(schedNames("night", s.want...)), "after the pass at %s UTC", s.at)
				}
			},
			Entry("02:30 in Berlin on the spring-forward day runs at 03:00 CEST", "Europe/Berlin", "30 2 * * *", "2026-03-28 12:00:00",
				step{"2026-03-29 00:59:30", nil},                                      // 01:59:30 CET
				step{"2026-03-29 01:00:30", []string{"202603290100"}},                 // 03:00:30 CEST
				step{"2026-03-29 01:30:30", []string{"202603290100"}},                 // 03:30:30 CEST
				step{"2026-03-30 00:30:30", []string{"202603290100", "202603300030"}}, // 02:30:30 CEST
			),
			Entry("02:30 in Berlin on the fall-back day runs once", "Europe/Berlin", "30 2 * * *", "2026-10-24 12:00:00",
				step{"2026-10-25 00:30:30", []string{"202610250030"}},                 // 02:30:30 CEST
				step{"2026-10-25 01:30:30", []string{"202610250030"}},                 // 02:30:30 CET, again
				step{"2026-10-25 02:30:30", []string{"202610250030"}},                 // 03:30:30 CET
				step{"2026-10-26 01:30:30", []string{"202610250030", "202610260130"}}, // 02:30:30 CET
			),
			Entry("02:30 in New York on the spring-forward day runs at 03:00 EDT", "America/New_York", "30 2 * * *", "2026-03-07 12:00:00",
				step{"2026-03-08 06:59:30", nil},                      // 01:59:30 EST
				step{"2026-03-08 07:00:30", []string{"202603080700"}}, // 03:00:30 EDT
				step{"2026-03-08 07:30:30", []string{"202603080700"}}, // 03:30:30 EDT
			),
			Entry("01:30 in New York on the fall-back day runs once", "America/New_York", "30 1 * * *", "2026-10-31 12:00:00",
				step{"2026-11-01 05:30:30", []string{"202611010530"}},                 // 01:30:30 EDT
				step{"2026-11-01 06:30:30", []string{"202611010530"}},                 // 01:30:30 EST, again
				step{"2026-11-02 06:30:30", []string{"202611010530", "202611020630"}}, // 01:30:30 EST
			),
		)
	})

	Describe("concurrency policies", func() {
		day := func(d int, clock string) time.Time { return schedUTC("2026-06-0" + strconv.Itoa(d) + " " + clock) }

		It("Forbid skips a run while the previous one is active, and says so", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("forbid", "UTC")
			rs.Spec.ConcurrencyPolicy = v1alpha1.ConcurrencyForbid
			h.create(rs)
			h.tick("forbid", day(1, "09:00:30"))
			Expect(h.runNames("forbid")).To(Equal([]string{"forbid-202606010900"}))

			rs = h.tick("forbid", day(2, "09:00:30"))
			Expect(h.runNames("forbid")).To(Equal([]string{"forbid-202606010900"}))
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(2, "09:00:00")))
			Expect(rs.Status.MissedRuns).To(BeEquivalentTo(1))
			Expect(rs.Status.Active).To(HaveLen(1))
			Eventually(h.eventNotes("forbid", EventScheduleRunSkipped), schedEventWait).Should(ContainElement(ContainSubstring("forbid-202606010900 is still active")))
			Expect(testutil.ToFloat64(scheduleMissedRunsTotal.WithLabelValues(h.ns, "forbid"))).To(BeEquivalentTo(1))

			h.finish("forbid-202606010900", v1alpha1.PhaseCompleted)
			h.tick("forbid", day(3, "09:00:30"))
			Expect(h.runNames("forbid")).To(Equal([]string{"forbid-202606010900", "forbid-202606030900"}))
		})

		It("Replace deletes the active run and starts the new one", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("replace", "UTC")
			rs.Spec.ConcurrencyPolicy = v1alpha1.ConcurrencyReplace
			h.create(rs)
			h.tick("replace", day(1, "09:00:30"))
			h.tick("replace", day(2, "09:00:30"))
			Eventually(h.gone("replace-202606010900"), schedEventWait).Should(BeTrue())
			Expect(h.runNames("replace")).To(Equal([]string{"replace-202606020900"}))
			Expect(h.get("replace").Status.Active).To(ConsistOf(HaveField("Name", "replace-202606020900")))
			Eventually(h.eventNotes("replace", EventScheduleRunReplaced), schedEventWait).Should(ContainElement(ContainSubstring("replace-202606010900")))
		})

		It("Allow lets runs overlap", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			h.create(schedDaily("allow", "UTC"))
			h.tick("allow", day(1, "09:00:30"))
			rs := h.tick("allow", day(2, "09:00:30"))
			Expect(h.runNames("allow")).To(Equal([]string{"allow-202606010900", "allow-202606020900"}))
			Expect(rs.Status.Active).To(HaveLen(2))
			Expect(testutil.ToFloat64(scheduleRunsTotal.WithLabelValues(h.ns, "allow"))).To(BeEquivalentTo(2))
		})
	})

	Describe("restarts, downtime and history", func() {
		day := func(d int, clock string) time.Time { return schedUTC("2026-07-0" + strconv.Itoa(d) + " " + clock) }

		It("creates exactly one run when the manager restarts between the scheduled time and the run's creation", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := h.create(schedDaily("restart", "UTC"))
			Expect(rs.Status.NextScheduleTime).To(schedAt(day(1, "09:00:00")))
			h.stopManager()

			h.clock.SetTime(day(1, "09:05:00"))
			h.startManager() // its first pass runs at 09:05 with nothing recorded yet
			Eventually(func() []string { return h.runNames("restart") }, 20*time.Second).Should(Equal([]string{"restart-202607010900"}))
			rs = h.tick("restart", day(1, "09:10:00"))
			Expect(h.runNames("restart")).To(Equal([]string{"restart-202607010900"}))
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(1, "09:00:00")))
			Expect(rs.Status.MissedRuns).To(BeZero())
		})

		It("records a run created just before a crash instead of creating or skipping it", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("crash", "UTC")
			rs.Spec.ConcurrencyPolicy = v1alpha1.ConcurrencyForbid // the run itself must not count as "another active run"
			rs = h.create(rs)
			h.stopManager()

			// What a pass leaves behind when it dies after creating the run
			// and before writing the status.
			orphan := &v1alpha1.ReportRequest{
				ObjectMeta: metav1.ObjectMeta{
					Name: "crash-202607010900", Namespace: h.ns,
					Labels:      map[string]string{v1alpha1.LabelSchedule: "crash"},
					Annotations: map[string]string{schedule.AnnotationScheduledTime: "2026-07-01T09:00:00Z"},
				},
				Spec: rs.Spec.Template.Spec,
			}
			Expect(controllerutil.SetControllerReference(rs, orphan, testsupport.Scheme())).To(Succeed())
			Expect(k8sClient.Create(h.ctx, orphan)).To(Succeed())

			h.clock.SetTime(day(1, "09:05:00"))
			h.startManager()
			Eventually(func() *metav1.Time { return h.get("crash").Status.LastScheduleTime }, 20*time.Second).ShouldNot(BeNil())
			rs = h.get("crash")
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(1, "09:00:00")))
			Expect(rs.Status.MissedRuns).To(BeZero())
			runs := h.runs("crash")
			Expect(runs).To(HaveLen(1))
			Expect(runs[0].UID).To(Equal(orphan.UID))
			Expect(h.eventNotes("crash", EventScheduleRunSkipped)()).To(BeEmpty())
		})

		It("runs the latest missed run once after downtime and counts the others", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			h.create(schedDaily("downtime", "UTC"))
			h.tick("downtime", day(1, "09:00:30"))
			rs := h.tick("downtime", day(5, "09:00:30"))
			Expect(h.runNames("downtime")).To(Equal([]string{"downtime-202607010900", "downtime-202607050900"}))
			Expect(rs.Status.MissedRuns).To(BeEquivalentTo(3))
			Eventually(h.eventNotes("downtime", EventScheduleRunsMissed), schedEventWait).Should(ContainElement(ContainSubstring("Missed 3 runs")))
			Expect(testutil.ToFloat64(scheduleMissedRunsTotal.WithLabelValues(h.ns, "downtime"))).To(BeEquivalentTo(3))
			Expect(testutil.ToFloat64(scheduleRunsTotal.WithLabelValues(h.ns, "downtime"))).To(BeEquivalentTo(2))
		})

		It("starts no run older than startingDeadlineSeconds", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("deadline", "UTC")
			rs.Spec.StartingDeadlineSeconds = ptr.To[int64](300)
			h.create(rs)
			h.tick("deadline", day(1, "09:00:30"))
			rs = h.tick("deadline", day(5, "09:10:00"))
			Expect(h.runNames("deadline")).To(Equal([]string{"deadline-202607010900"}))
			Expect(rs.Status.MissedRuns).To(BeEquivalentTo(4))
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(5, "09:00:00")))
			Eventually(h.eventNotes("deadline", EventScheduleRunsMissed), schedEventWait).Should(ContainElement(ContainSubstring("none started")))

			h.tick("deadline", day(6, "09:02:00"))
			Expect(h.runNames("deadline")).To(Equal([]string{"deadline-202607010900", "deadline-202607060900"}))
		})

		It("does not create a pruned run again", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("pruned", "UTC")
			rs.Spec.SuccessfulHistoryLimit = ptr.To[int32](0)
			h.create(rs)
			h.tick("pruned", day(1, "09:00:30"))
			h.clock.SetTime(day(1, "09:20:00"))
			h.finish("pruned-202607010900", v1alpha1.PhaseCompleted)
			Eventually(h.gone("pruned-202607010900"), schedEventWait).Should(BeTrue())

			rs = h.tick("pruned", day(1, "09:30:00"))
			Expect(h.runs("pruned")).To(BeEmpty())
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(1, "09:00:00")))
			Expect(rs.Status.LastSuccessfulTime).To(schedAt(day(1, "09:20:00")))
			Expect(rs.Status.Active).To(BeEmpty())
		})

		It("keeps successfulHistoryLimit completed and failedHistoryLimit failed runs, deleting the oldest", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			rs := schedDaily("history", "UTC")
			rs.Spec.SuccessfulHistoryLimit = ptr.To[int32](2)
			rs.Spec.FailedHistoryLimit = ptr.To[int32](1)
			h.create(rs)
			phases := []v1alpha1.ReportPhase{
				v1alpha1.PhaseCompleted, v1alpha1.PhaseFailed, v1alpha1.PhaseCompleted,
				v1alpha1.PhaseCompleted, v1alpha1.PhaseFailed, v1alpha1.PhaseCompleted,
			}
			for i, phase := range phases {
				h.tick("history", day(i+1, "09:00:30"))
				h.finish("history-2026070"+strconv.Itoa(i+1)+"0900", phase)
			}
			Eventually(func() []string { return h.runNames("history") }, schedEventWait).Should(Equal(
				[]string{"history-202607040900", "history-202607050900", "history-202607060900"}))
		})

		It("passes over runs while suspended and does not catch up on resume", func() {
			h := newScheduleHarness(day(1, "06:00:00"))
			h.create(schedDaily("pause", "UTC"))
			h.tick("pause", day(1, "09:00:30"))

			rs := h.update("pause", func(rs *v1alpha1.ReportSchedule) { rs.Spec.Suspend = ptr.To(true) })
			Expect(schedReady(rs)).To(HaveField("Reason", Equal(ScheduleReasonSuspended)))
			Expect(rs.Status.NextScheduleTime).To(BeNil())
			rs = h.tick("pause", day(2, "09:00:30"))
			Expect(h.runs("pause")).To(HaveLen(1))
			Expect(rs.Status.LastScheduleTime).To(schedAt(day(2, "09:00:00")))

			h.clock.SetTime(day(2, "12:00:00"))
			rs = h.update("pause", func(rs *v1alpha1.ReportSchedule) { rs.Spec.Suspend = ptr.To(false) })
			Expect(h.runs("pause")).To(HaveLen(1))
			Expect(rs.Status.NextScheduleTime).To(schedAt(day(3, "09:00:00")))
			Expect(schedReady(rs)).To(HaveField("Reason", Equal(ScheduleReasonScheduled)))

			h.tick("pause", day(3, "09:00:30"))
			Expect(h.runNames("pause")).To(Equal([]string{"pause-202607010900", "pause-202607030900"}))
			Expect(testutil.ToFloat64(scheduleMissedRunsTotal.WithLabelValues(h.ns, "pause"))).To(BeZero())
		})
	})

	Describe("run now", func() {
		It("runs once per token, also when the manifest is applied again", func() {
			start := schedUTC("2026-08-03 10:00:00")
			h := newScheduleHarness(start)
			manifest := schedDaily("adhoc", "Europe/Berlin")
			manifest.Annotations = map[string]string{v1alpha1.AnnotationRunNow: "2026-08-03T10:00:00Z"}
			manifest.Spec.Template.Spec.Parameters = map[string]v1alpha1.ParameterValue{"day": `{{ .ScheduledTime | date "2006-01-02" }}`}
			rs := h.create(manifest.DeepCopy())
			Expect(rs.Status.LastRunNowToken).To(Equal("2026-08-03T10:00:00Z"))
			runs := h.runs("adhoc")
			Expect(runs).To(HaveLen(1))
			first := runs[0]
			Expect(first.Name).To(HavePrefix("adhoc-now-"))
			Expect(first.Spec.Parameters).To(HaveKeyWithValue("day", v1alpha1.ParameterValue("2026-08-03")))

			// Argo CD or Flux applies the same manifest again: same spec and
			// annotations, so the same token.
			reapply := func() *v1alpha1.ReportSchedule {
				return h.update("adhoc", func(rs *v1alpha1.ReportSchedule) {
					rs.Annotations = manifest.Annotations
					rs.Spec = manifest.Spec
				})
			}
			h.tick("adhoc", start.Add(time.Hour))
			reapply()
			Expect(h.runs("adhoc")).To(ConsistOf(HaveField("UID", first.UID)))

			// Pruned (or deleted by hand), then applied again: not run again.
			Expect(k8sClient.Delete(h.ctx, &first)).To(Succeed())
			h.tick("adhoc", start.Add(2*time.Hour))
			reapply()
			Expect(h.runs("adhoc")).To(BeEmpty())

			// A new token is a new request.
			rs = h.tick("adhoc", start.Add(3*time.Hour), func(rs *v1alpha1.ReportSchedule) {
				rs.Annotations[v1alpha1.AnnotationRunNow] = "second"
			})
			Expect(rs.Status.LastRunNowToken).To(Equal("second"))
			Expect(h.runNames("adhoc")).To(Equal([]string{schedule.RunNowName("adhoc", "second")}))
			Eventually(h.eventNotes("adhoc", EventScheduleRunNow), schedEventWait).Should(HaveLen(2))
		})
	})

	Describe("validity", func() {
		It("shows a template that does not render as Ready=False and runs nothing", func() {
			h := newScheduleHarness(schedUTC("2026-09-01 06:00:00"))
			rs := schedDaily("broken", "UTC")
			rs.Spec.Template.Spec.Parameters = map[string]v1alpha1.ParameterValue{"day": "{{ .Yesterday }}"}
			rs = h.create(rs)
			ready := schedReady(rs)
			Expect(ready).NotTo(BeNil())
			Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			Expect(ready.Reason).To(Equal(ScheduleReasonTemplateInvalid))
			Expect(ready.Message).To(ContainSubstring("parameter day"))
			Expect(ready.ObservedGeneration).To(Equal(rs.Generation))
			Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, conditionStalled)).To(BeTrue())
			// The run waits for the fix: still the next one, then overdue.
			Expect(rs.Status.NextScheduleTime).To(schedAt(schedUTC("2026-09-01 09:00:00")))
			Eventually(h.eventNotes("broken", EventScheduleNotReady), schedEventWait).Should(ContainElement(ContainSubstring("Yesterday")))

			h.tick("broken", schedUTC("2026-09-01 09:00:30"))
			Expect(h.runs("broken")).To(BeEmpty())

			rs = h.update("broken", func(rs *v1alpha1.ReportSchedule) {
				rs.Spec.Template.Spec.Parameters["day"] = `{{ .ScheduledTime | date "2006-01-02" }}`
			})
			Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
			Expect(meta.FindStatusCondition(rs.Status.Conditions, conditionStalled)).To(BeNil())
			// The run that fell due while the template was broken starts now.
			Expect(h.runNames("broken")).To(Equal([]string{"broken-202609010900"}))
		})

		It("waits for a missing ReportDefinition and becomes Ready when it appears", func() {
			h := newScheduleHarness(schedUTC("2026-09-01 06:00:00"))
			rs := schedDaily("waiting", "UTC")
			rs.Spec.Template.Spec.Type = "later"
			rs = h.create(rs)
			Expect(schedReady(rs)).To(HaveField("Reason", Equal(ScheduleReasonDefinitionNotFound)))
			Expect(meta.FindStatusCondition(rs.Status.Conditions, conditionStalled)).To(BeNil())

			def := schedPlainDefinition(h.ns)
			def.Name = "later"
			Expect(k8sClient.Create(h.ctx, def)).To(Succeed())
			Eventually(func() bool {
				return meta.IsStatusConditionTrue(h.get("waiting").Status.Conditions, v1alpha1.ConditionReady)
			}, 20*time.Second).Should(BeTrue())
		})

		It("shows parameters that do not bind to the definition as Ready=False", func() {
			h := newScheduleHarness(schedUTC("2026-09-01 06:00:00"))
			h.createSampleDefinition("sales")
			rs := schedDaily("unbound", "UTC")
			rs.Spec.Template.Spec.Type = "sales"
			rs.Spec.Template.Spec.Parameters = map[string]v1alpha1.ParameterValue{"startDate": "last week"}
			rs = h.create(rs)
			Expect(schedReady(rs)).To(And(
				HaveField("Reason", ScheduleReasonParametersInvalid),
				HaveField("Message", And(ContainSubstring("startDate"), ContainSubstring("endDate")))))
		})

		It("rejects CRON_TZ= on apply", func() {
			rs := schedDaily("tz", "UTC")
			rs.Namespace = "default"
			rs.Spec.Schedule = "CRON_TZ=Europe/Berlin 0 9 * * *"
			err := k8sClient.Create(context.Background(), rs)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("set spec.timeZone instead"))
		})

		It("shows an unknown time zone as Ready=False", func() {
			h := newScheduleHarness(schedUTC("2026-09-01 06:00:00"))
			rs := h.create(schedDaily("atlantis", "Europe/Atlantis"))
			Expect(schedReady(rs)).To(HaveField("Reason", Equal(ScheduleReasonInvalidSchedule)))
			Expect(schedReady(rs)).To(HaveField("Message", ContainSubstring("Europe/Atlantis")))
		})
	})

	Describe("the samples", func() {
		loadSample := func(file string) *v1alpha1.ReportSchedule {
			var rs v1alpha1.ReportSchedule
			schedSample(file, &rs)
			return &rs
		}

		It("computes the weekly sales dates and the monthly inventory run in Europe/Berlin, bound to the sample definitions", func() {
			berlin := schedZone("Europe/Berlin")
			h := newScheduleHarness(time.Date(2026, 2, 27, 12, 0, 0, 0, berlin))
			h.createSampleDefinition("sales")
			h.createSampleDefinition("inventory")
			h.create(loadSample("reports_v1alpha1_reportschedule_weekly_sales.yaml"))
			h.create(loadSample("reports_v1alpha1_reportschedule_monthly_inventory.yaml"))

			h.tick("monthly-inventory", time.Date(2026, 3, 1, 6, 0, 30, 0, berlin))
			monthly := h.runs("monthly-inventory")
			Expect(monthly).To(HaveLen(1))
			Expect(monthly[0].Name).To(Equal("monthly-inventory-202603010500"))
			Expect(monthly[0].Spec.Parameters).To(Equal(map[string]v1alpha1.ParameterValue{"onlyBelowReorder": "true"}))
			Expect(monthly[0].Spec.TimeZone).To(Equal("Europe/Berlin"))

			for _, week := range []struct {
				monday     time.Time
				name       string
				start, end v1alpha1.ParameterValue
			}{
				{time.Date(2026, 3, 2, 7, 0, 30, 0, berlin), "weekly-sales-202603020600", "2026-02-23", "2026-03-01"},
				{time.Date(2026, 3, 30, 7, 0, 30, 0, berlin), "weekly-sales-202603300500", "2026-03-23", "2026-03-29"},
			} {
				h.tick("weekly-sales", week.monday)
				var rr v1alpha1.ReportRequest
				Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: week.name}, &rr)).To(Succeed())
				Expect(rr.Spec.Parameters).To(Equal(map[string]v1alpha1.ParameterValue{"startDate": week.start, "endDate": week.end}))
				Expect(rr.Spec.TimeZone).To(Equal("Europe/Berlin"))
				Expect(rr.Spec.Format).To(Equal(v1alpha1.ReportFormat("xlsx")))
				Expect(rr.Labels).To(HaveKeyWithValue("team", "sales"))
				Expect(metav1.IsControlledBy(&rr, h.get("weekly-sales"))).To(BeTrue())
				h.finish(week.name, v1alpha1.PhaseCompleted) // the sample forbids overlapping runs
			}
			// Between the two Mondays, three weekly runs were missed (the
			// spec jumped the clock): the sample's starting deadline let
			// only the latest start.
			Expect(h.get("weekly-sales").Status.MissedRuns).To(BeEquivalentTo(3))
		})

		It("computes parameters on the schedule's calendar, not UTC's", func() {
			berlin := schedZone("Europe/Berlin")
			h := newScheduleHarness(time.Date(2026, 3, 1, 12, 0, 0, 0, berlin))
			rs := schedDaily("midnight", "Europe/Berlin")
			rs.Spec.Schedule = "30 0 * * *"
			rs.Spec.Template.Spec.Parameters = map[string]v1alpha1.ParameterValue{"day": `{{ .ScheduledTime | date "2006-01-02" }}`}
			h.create(rs)
			h.tick("midnight", time.Date(2026, 3, 2, 0, 30, 30, 0, berlin))
			runs := h.runs("midnight")
			Expect(runs).To(HaveLen(1))
			// 00:30 on 2 March in Berlin is 23:30 on 1 March in UTC.
			Expect(runs[0].Name).To(Equal("midnight-202603012330"))
			Expect(runs[0].Spec.Parameters).To(HaveKeyWithValue("day", v1alpha1.ParameterValue("2026-03-02")))
			Expect(runs[0].Spec.TimeZone).To(Equal("Europe/Berlin"))
		})

		It("never writes a schedule's spec or metadata", func() {
			berlin := schedZone("Europe/Berlin")
			h := newScheduleHarness(time.Date(2026, 2, 27, 12, 0, 0, 0, berlin))
			h.createSampleDefinition("sales")
			rs := loadSample("reports_v1alpha1_reportschedule_weekly_sales.yaml")
			rs.Annotations = map[string]string{v1alpha1.AnnotationRunNow: "now"}
			h.create(rs)
			h.finish(schedule.RunNowName("weekly-sales", "now"), v1alpha1.PhaseCompleted)
			rs = h.tick("weekly-sales", time.Date(2026, 3, 2, 7, 0, 30, 0, berlin))
			Expect(h.runs("weekly-sales")).To(HaveLen(2))
			for _, entry := range rs.ManagedFields {
				if entry.Manager == ScheduleControllerName {
					Expect(entry.Subresource).To(Equal("status"), "the controller wrote %s", entry.FieldsV1)
				}
			}
		})
	})

	Describe("a pass's result", func() {
		// Without a manager: the reconciler on a direct client, to read what
		// Reconcile returns.
		It("asks to come back at the next run, and not at all for a broken template", func() {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "schedule-"}}
			Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
			Expect(k8sClient.Create(context.Background(), schedPlainDefinition(ns.Name))).To(Succeed())
			clk := clocktesting.NewFakeClock(schedUTC("2026-09-01 06:30:00"))
			r := &ReportScheduleReconciler{Client: k8sClient, Scheme: testsupport.Scheme(), Clock: clk, Recorder: events.NewFakeRecorder(10)}

			good := schedDaily("good", "UTC")
			good.Namespace = ns.Name
			Expect(k8sClient.Create(context.Background(), good)).To(Succeed())
			result, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(good)})
			Expect(err).NotTo(HaveOccurred())
			Expect(result.RequeueAfter).To(Equal(150 * time.Minute))

			broken := schedDaily("broken", "UTC")
			broken.Namespace = ns.Name
			broken.Spec.Template.Spec.Parameters = map[string]v1alpha1.ParameterValue{"day": "{{ nope }}"}
			Expect(k8sClient.Create(context.Background(), broken)).To(Succeed())
			result, err = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(broken)})
			Expect(err).NotTo(HaveOccurred())
			Expect(result).To(Equal(ctrl.Result{}))
		})
	})
})
