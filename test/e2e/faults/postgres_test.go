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
	"strings"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// TestPostgresStoppedMidReport stops PostgreSQL (fast shutdown: the
// report's session ends with an error) halfway through two reports. The
// one with a single retry fails, saying the database could not be
// reached, and stores no file. The one with more retries keeps failing
// while the database is down and completes once it is back, with a file
// equal to psql's export. Neither is ever Completed with partial data.
func TestPostgresStoppedMidReport(t *testing.T) {
	watched := watchAll(t)
	g := e2eutil.CloseGate(t, stack.Postgres.URL)
	givesUp := gated(g, 3000, 1500, 8, 1).create(t, "pg-gives-up")
	outlasts := gated(g, 3000, 1500, 8, 8).create(t, "pg-outlasts")
	waitAtGate(t, givesUp, outlasts)

	if err := stack.Postgres.Shutdown(); err != nil {
		t.Fatalf("shut PostgreSQL down: %v", err)
	}
	g.Open() // its session ended with the server
	restarted := false
	restart := func() {
		if restarted {
			return
		}
		restarted = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stack.Postgres.Restart(ctx); err != nil {
			t.Fatalf("restart PostgreSQL: %v", err)
		}
	}
	t.Cleanup(restart) // whatever happens, the next test has a database

	t.Run("a report out of retries fails and says why", func(t *testing.T) {
		rr := waitFinished(t, 90*time.Second, givesUp)
		if rr.Status.Phase != v1alpha1.PhaseFailed {
			t.Fatalf("want Failed while the database is down, got %s", describe(rr))
		}
		t.Logf("error message: %s", rr.Status.ErrorMessage)
		if msg := rr.Status.ErrorMessage; !strings.Contains(msg, "database") {
			t.Errorf("the error message %q does not say the database is the trouble", msg)
		}
		if rr.Status.Result != nil || fileStored(t, rr) {
			t.Errorf("a failed report has a result (%+v) or a stored file", rr.Status.Result)
		}
		neverCompletedPartially(t, watched.history(givesUp))
	})

	// The outage outlasts at least one retry; then the database returns.
	waitJobFailures(t, outlasts, 2)
	restart()

	t.Run("a report with retries left completes once the database is back", func(t *testing.T) {
		rr := waitFinished(t, 2*time.Minute, outlasts)
		if rr.Status.Phase != v1alpha1.PhaseCompleted {
			t.Fatalf("want Completed after the database returned, got %s", describe(rr))
		}
		checkAgainstPsql(t, rr)
		watched.checkOneJob(t, rr)
		neverCompletedPartially(t, watched.history(outlasts))
	})
}
