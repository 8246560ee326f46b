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

package schedule

import (
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
)

func TestDueRuns(t *testing.T) {
	hourly := "0 * * * *"
	tests := map[string]struct {
		expr       string
		since, now time.Time
		want       Due
	}{
		"nothing due yet": {
			hourly, utc("2026-06-01 09:00"), utc("2026-06-01 09:59"),
			Due{Next: utc("2026-06-01 10:00")},
		},
		"one run due, exactly at its time": {
			hourly, utc("2026-06-01 09:00"), utc("2026-06-01 10:00"),
			Due{Latest: utc("2026-06-01 10:00"), Count: 1, Next: utc("2026-06-01 11:00")},
		},
		"a weekend of downtime": {
			hourly, utc("2026-06-05 17:00"), utc("2026-06-08 08:30"),
			Due{Latest: utc("2026-06-08 08:00"), Count: 63, Next: utc("2026-06-08 09:00")},
		},
		"since after now (a clock set back)": {
			hourly, utc("2026-06-01 12:00"), utc("2026-06-01 10:30"),
			Due{Next: utc("2026-06-01 11:00")},
		},
		"years of a once-a-minute schedule are counted up to the cap": {
			"* * * * *", utc("2020-01-01 00:00"), utc("2026-06-01 10:30"),
			Due{Latest: utc("2026-06-01 10:30"), Count: MaxCounted, Truncated: true, Next: utc("2026-06-01 10:31")},
		},
		"never running": {
			"0 0 30 2 *", utc("2026-01-01 00:00"), utc("2026-06-01 00:00"),
			Due{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := mustParse(t, tc.expr, "UTC").DueRuns(tc.since, tc.now)
			if !got.Latest.Equal(tc.want.Latest) || got.Count != tc.want.Count || got.Truncated != tc.want.Truncated || !got.Next.Equal(tc.want.Next) {
				t.Errorf("DueRuns = %+v\nwant      %+v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	now := utc("2026-06-08 08:30")
	latest := utc("2026-06-08 08:00")
	tenMinutes, hour := 10*time.Minute, time.Hour
	oneDue := Due{Latest: latest, Count: 1}
	fiveDue := Due{Latest: latest, Count: 5}
	tests := map[string]struct {
		in   Situation
		want Decision
	}{
		"nothing due": {
			Situation{Now: now},
			Decision{Action: ActionWait},
		},
		"one due run starts": {
			Situation{Due: oneDue, Now: now},
			Decision{Action: ActionRun, ScheduledTime: latest},
		},
		"after downtime the latest runs once and the rest are missed": {
			Situation{Due: fiveDue, Now: now},
			Decision{Action: ActionRun, ScheduledTime: latest, Missed: 4},
		},
		"a truncated count is a lower bound": {
			Situation{Due: Due{Latest: latest, Count: MaxCounted, Truncated: true}, Now: now},
			Decision{Action: ActionRun, ScheduledTime: latest, Missed: MaxCounted - 1, MissedAtLeast: true},
		},
		"within the starting deadline": {
			Situation{Due: fiveDue, Now: now, StartingDeadline: &hour},
			Decision{Action: ActionRun, ScheduledTime: latest, Missed: 4},
		},
		"past the starting deadline nothing runs and all are missed": {
			Situation{Due: fiveDue, Now: now, StartingDeadline: &tenMinutes},
			Decision{Action: ActionSkip, ScheduledTime: latest, Missed: 5, SkipReason: SkipDeadlineExceeded},
		},
		"suspended: passed over, not missed": {
			Situation{Due: fiveDue, Now: now, Suspended: true, StartingDeadline: &tenMinutes},
			Decision{Action: ActionSkip, ScheduledTime: latest, SkipReason: SkipSuspended},
		},
		"Forbid with an active run skips": {
			Situation{Due: oneDue, Now: now, Policy: v1alpha1.ConcurrencyForbid, Active: 1},
			Decision{Action: ActionSkip, ScheduledTime: latest, Missed: 1, SkipReason: SkipForbidden},
		},
		"Forbid without an active run runs": {
			Situation{Due: oneDue, Now: now, Policy: v1alpha1.ConcurrencyForbid},
			Decision{Action: ActionRun, ScheduledTime: latest},
		},
		"Replace with an active run replaces it": {
			Situation{Due: oneDue, Now: now, Policy: v1alpha1.ConcurrencyReplace, Active: 2},
			Decision{Action: ActionRun, ScheduledTime: latest, ReplaceActive: true},
		},
		"Replace without an active run just runs": {
			Situation{Due: oneDue, Now: now, Policy: v1alpha1.ConcurrencyReplace},
			Decision{Action: ActionRun, ScheduledTime: latest},
		},
		"Allow (the default) overlaps": {
			Situation{Due: oneDue, Now: now, Active: 3},
			Decision{Action: ActionRun, ScheduledTime: latest},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Decide(tc.in); got != tc.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}
