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
	"testing"
	"time"

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
	restart := restartOnce(t, "PostgreSQL", stack.Postgres.Restart)

	t.Run("a report out of retries fails and says why", func(t *testing.T) {
		rr := checkGivesUp(t, watched, givesUp, 90*time.Second, "the database", "database")
		if fileStored(t, rr) {
			t.Error("a failed report has a stored file")
		}
	})

	// The outage outlasts at least one retry; then the database returns.
	waitJobFailures(t, outlasts, 2)
	restart()

	t.Run("a report with retries left completes once the database is back", func(t *testing.T) {
		checkCompletedLikePsql(t, watched, outlasts, "the database returned")
	})
}
