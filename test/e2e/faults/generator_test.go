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
	"syscall"
	"testing"

	"reportd.io/reportd/test/e2e/e2eutil"
)

// TestGeneratorKilledMidReportIsRetried kills a report's process with
// SIGKILL (as the OOM killer would) halfway through its rows: the attempt
// fails with exit code 137, the retry runs the report again from the
// start, and the file is exactly psql's export of the same query.
func TestGeneratorKilledMidReportIsRetried(t *testing.T) {
	watched := watchAll(t)
	g := e2eutil.CloseGate(t, stack.Postgres.URL)
	name := gated(g, 3000, 1500, 8, 2).create(t, "killed")
	waitAtGate(t, name)

	procs := generatorsOf(name)
	if len(procs) != 1 {
		t.Fatalf("want one process running %s, found %v", name, procs)
	}
	for pid, what := range procs {
		t.Logf("killing %d: %s", pid, what)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	g.Open()

	rr := checkCompletedLikePsql(t, watched, name, "a retry")
	if rr.Status.Attempts < 2 {
		t.Errorf("status.attempts = %d, want 2 or more (the killed one and its retry)", rr.Status.Attempts)
	}
	codes := exitCodes(t, rr)
	killed, succeeded := 0, 0
	for _, c := range codes {
		switch c {
		case 137:
			killed++
		case 0:
			succeeded++
		}
	}
	if killed != 1 || succeeded != 1 {
		t.Errorf("attempts' exit codes %v, want one 137 (SIGKILL) and one 0", codes)
	}
}
