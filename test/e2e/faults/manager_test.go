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

package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// burstSize is how many reports the burst asks for at once; the last
// burstHeld of them stop halfway at a gate until the manager was killed.
const (
	burstSize = 100
	burstHeld = 50
)

// burstRecipient is where every report of the burst sends its e-mail.
const burstRecipient = "burst@example.com"

// burstTimeout bounds the burst from the restart to its last report.
const burstTimeout = 4 * time.Minute

// TestManagerKilledMidBurst asks for 100 reports at once (50 small sales
// reports, then 50 gated ones that stop halfway), kills the manager with
// SIGKILL once a fifth of them are done, gated ones are running and more
// wait in the manager's queue (--max-running-jobs), opens
// the gate and starts the manager again. Every report completes, each
// with exactly one Job (the restarted manager adopts what the killed one
// created and creates the rest, never a second), the rows the database
// gives (the gated ones byte for byte psql's export), and a file matching
// its recorded checksum. The reports' processes die with the manager, and
// their attempts are replaced without using up retries (their Jobs count
// no failed attempt). Each report's e-mail arrives once; only a mail
// claimed and not yet recorded when the manager died may arrive twice,
// with the same Message-ID.
func TestManagerKilledMidBurst(t *testing.T) {
	watched := watchAll(t)
	run := newName("burst")
	g := e2eutil.CloseGate(t, stack.Postgres.URL)
	labels := map[string]string{runLabel: run}
	windows := map[string][2]string{} // sales report -> its days
	var names, held []string
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range burstSize - burstHeld {
		// Five days of orders each, a week apart: distinct small reports.
		from := start.AddDate(0, 0, 7*i)
		to := from.AddDate(0, 0, 4)
		r := request{typ: "sales", labels: labels, notify: []string{burstRecipient},
			params: map[string]string{"startDate": from.Format(time.DateOnly), "endDate": to.Format(time.DateOnly)}}
		name := r.create(t, fmt.Sprintf("burst-%03d", i))
		names = append(names, name)
		windows[name] = [2]string{r.params["startDate"], r.params["endDate"]}
	}
	for i := range burstHeld {
		r := gated(g, 200, 100, 1, 2)
		r.labels, r.notify = labels, []string{burstRecipient}
		name := r.create(t, fmt.Sprintf("burst-%03d", burstSize-burstHeld+i))
		names = append(names, name)
		held = append(held, name)
	}
	t.Cleanup(func() { deleteRun(t, run) })

	// Held reports cannot end before the gate opens: those running now
	// are running when the manager dies.
	var atGate map[int]string
	e2eutil.Eventually(t, 3*time.Minute, "a fifth of the reports done and held ones running", func() (bool, string) {
		done := countFinished(t, run)
		atGate = generatorsOf(held...)
		return done >= burstSize/5 && len(atGate) >= 3,
			fmt.Sprintf("%d of %d finished, %d held ones running", done, burstSize, len(atGate))
	})
	oldPID := stack.Manager.PID()
	if err := stack.Manager.Kill(); err != nil {
		t.Fatal(err)
	}
	queued := countQueued(t, run)
	t.Logf("killed the manager (pid %d) with %d of %d reports finished, %d held ones running and %d queued",
		oldPID, countFinished(t, run), burstSize, len(atGate), queued)
	if queued == 0 {
		t.Errorf("no report waited in the queue at the kill; with --max-running-jobs=%d and %d reports some must", maxRunningJobs, burstSize)
	}
	// A mail claimed but not recorded as sent when the manager died may
	// go out twice, with one delivery id (the one window DESIGN.md allows).
	inWindow := claimedNotifications(t, run)
	e2eutil.Eventually(t, 10*time.Second, "the reports' processes gone with the manager", func() (bool, string) {
		left := generatorsOf(names...)
		return len(left) == 0, fmt.Sprintf("still running: %v", left)
	})
	g.Open()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	if err := stack.Manager.Restart(ctx); err != nil {
		t.Fatalf("restart the manager: %v", err)
	}
	t.Logf("the manager (pid %d) was ready again in %.1fs", stack.Manager.PID(), time.Since(began).Seconds())

	e2eutil.Eventually(t, burstTimeout, "every report of the burst finished", func() (bool, string) {
		done := countFinished(t, run)
		return done == burstSize, fmt.Sprintf("%d of %d finished", done, burstSize)
	})
	t.Logf("the burst finished %.1fs after the restart", time.Since(began).Seconds())

	rows := expectedSalesRows(t, windows)
	var waits, runs []time.Duration
	for _, name := range names {
		rr := get(t, name)
		if st, end := rr.Status.StartedAt, rr.Status.CompletedAt; st != nil && end != nil {
			waits = append(waits, st.Sub(rr.CreationTimestamp.Time))
			runs = append(runs, end.Sub(st.Time))
		}
		if rr.Status.Phase != v1alpha1.PhaseCompleted {
			t.Errorf("want Completed, got %s", describe(rr))
			continue
		}
		watched.checkOneJob(t, rr)
		if failed := job(t, rr).Status.Failed; failed != 0 {
			t.Errorf("%s: its Job counts %d failed attempts, want 0 (attempts killed with the manager are disruptions)", name, failed)
		}
		if w, sales := windows[name]; sales {
			storedFile(t, rr)
			if rr.Status.Rows != rows[name] {
				t.Errorf("%s: %d rows, the database has %d for %v", name, rr.Status.Rows, rows[name], w)
			}
		} else {
			checkAgainstPsql(t, rr)
		}
	}
	t.Logf("from creation to start: %s; from start to completion: %s", spread(waits), spread(runs))
	checkMailedOnce(t, names, inWindow)
	if disrupted := disruptedAttempts(t); disrupted < len(atGate) {
		t.Errorf("%d attempts were marked disrupted after the restart, want one for each of the %d killed", disrupted, len(atGate))
	}
}

// claimedNotifications lists the run's reports with an e-mail claimed
// but not recorded as sent or failed.
func claimedNotifications(t testing.TB, run string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, rr := range runReports(t, run) {
		for _, n := range rr.Status.Notifications {
			if n.State == v1alpha1.DeliveryClaimed {
				out[rr.Name] = true
			}
		}
	}
	return out
}

// checkMailedOnce waits until every report has recorded its e-mail as
// sent, then counts the mails that arrived by Message-ID: one per report,
// or two with the same id for a report whose mail was claimed when the
// manager died.
func checkMailedOnce(t testing.TB, names []string, inWindow map[string]bool) {
	t.Helper()
	ids := map[string]string{} // delivery id -> report
	e2eutil.Eventually(t, 2*time.Minute, "every report's e-mail recorded as sent", func() (bool, string) {
		var waiting []string
		for _, name := range names {
			n := emailRecord(t, name)
			if n == nil || n.State != v1alpha1.DeliverySent {
				waiting = append(waiting, fmt.Sprintf("%s (%+v)", name, n))
				continue
			}
			ids[n.ID] = name
		}
		return len(waiting) == 0, fmt.Sprintf("%d not sent: %s", len(waiting), strings.Join(waiting[:min(3, len(waiting))], ", "))
	})
	mails := map[string][]string{} // report -> Message-IDs of its mails
	for _, m := range mailsTo(t, burstRecipient) {
		id, _, _ := strings.Cut(m.MessageID, "@")
		if report, ok := ids[id]; ok {
			mails[report] = append(mails[report], m.MessageID)
		}
	}
	twice := 0
	for _, name := range names {
		got := mails[name]
		switch {
		case len(got) == 1:
		case len(got) == 2 && inWindow[name] && got[0] == got[1]:
			twice++
		default:
			t.Errorf("%s: %d mails %v, want 1 (its mail claimed when the manager died: %v)", name, len(got), got, inWindow[name])
		}
	}
	t.Logf("mails: %d reports, %d claimed in flight at the kill, %d of them mailed twice with one Message-ID", len(names), len(inWindow), twice)
}

// runLabel marks the reports of one burst.
const runLabel = "faults.reportd.io/run"

// countQueued counts the run's reports waiting in the manager's queue
// (condition Queued).
func countQueued(t testing.TB, run string) int {
	t.Helper()
	return countRun(t, run, func(rr *v1alpha1.ReportRequest) bool {
		return apimeta.IsStatusConditionTrue(rr.Status.Conditions, v1alpha1.ConditionQueued)
	})
}

// countFinished counts the run's reports that are Completed or Failed.
func countFinished(t testing.TB, run string) int {
	t.Helper()
	return countRun(t, run, func(rr *v1alpha1.ReportRequest) bool { return rr.Status.Phase.IsTerminal() })
}

// countRun counts the run's reports for which match holds.
func countRun(t testing.TB, run string, match func(*v1alpha1.ReportRequest) bool) int {
	t.Helper()
	reports := runReports(t, run)
	n := 0
	for i := range reports {
		if match(&reports[i]) {
			n++
		}
	}
	return n
}

// runReports lists the reports of a run (label runLabel).
func runReports(t testing.TB, run string) []v1alpha1.ReportRequest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list v1alpha1.ReportRequestList
	if err := stack.Client.List(ctx, &list, client.InNamespace(stack.Namespace),
		client.MatchingLabels{runLabel: run}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// disruptedAttempts counts the namespace's pods that the restarted
// executor failed with a DisruptionTarget: attempts whose process died
// with the manager.
func disruptedAttempts(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list corev1.PodList
	if err := stack.Client.List(ctx, &list, client.InNamespace(stack.Namespace)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range list.Items {
		if !strings.HasPrefix(p.Name, "rr-burst-") {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// expectedSalesRows counts, in the database, the orders of each report's
// window as the sales type selects them (both days included, UTC).
func expectedSalesRows(t testing.TB, windows map[string][2]string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, stack.Postgres.ReaderURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]int64{}
	for name, w := range windows {
		var n int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM orders
			WHERE created_at >= $1::date::timestamp AT TIME ZONE 'UTC'
			  AND created_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'`, w[0], w[1]).Scan(&n)
		if err != nil {
			t.Fatalf("count the orders of %v: %v", w, err)
		}
		out[name] = n
	}
	return out
}

// deleteRun deletes a run's reports without waiting for their
// finalizers: the tests after this one hold their reports at a gate, so
// the manager's cleanup of 100 reports beside them changes nothing they
// check.
func deleteRun(t testing.TB, run string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stack.Client.DeleteAllOf(ctx, &v1alpha1.ReportRequest{}, client.InNamespace(stack.Namespace),
		client.MatchingLabels{runLabel: run}); err != nil {
		t.Errorf("delete the burst: %v", err)
	}
}

// spread describes durations as min/median/max.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	return fmt.Sprintf("min %s, median %s, max %s", ds[0], ds[len(ds)/2], ds[len(ds)-1])
}
