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
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// utc is a shorthand for instants written in UTC.
func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustParse(t *testing.T, expr, zone string) *Timetable {
	t.Helper()
	tt, err := Parse(expr, zone)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, zone, err)
	}
	return tt
}

// runs lists the runs in (from, to] by repeated Next.
func runs(tt *Timetable, from, to time.Time) []time.Time {
	var out []time.Time
	for at := tt.Next(from); !at.IsZero() && !at.After(to); at = tt.Next(at) {
		out = append(out, at)
	}
	return out
}

func formatUTC(ts []time.Time) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.UTC().Format("2006-01-02 15:04")
	}
	return strings.Join(parts, ", ")
}

// A daily 09:00 run happens every day at 09:00 local, all year, through both
// DST changes: its UTC hour moves, its local hour never does.
func TestDailyRunThroughAYearOfDST(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			tt := mustParse(t, "0 9 * * *", zone)
			loc := tt.Location()
			got := runs(tt, time.Date(2025, 12, 31, 12, 0, 0, 0, loc), time.Date(2026, 12, 31, 12, 0, 0, 0, loc))
			if len(got) != 365 {
				t.Fatalf("got %d runs in 2026, want 365", len(got))
			}
			for i, at := range got {
				want := time.Date(2026, 1, 1+i, 9, 0, 0, 0, loc)
				if !at.Equal(want) || at.Location() != loc {
					t.Fatalf("run %d = %v, want %v", i, at, want)
				}
			}
		})
	}
	// The UTC hours, spelled out around the changes.
	tests := map[string]struct {
		zone string
		from time.Time
		want string
	}{
		"Berlin spring":   {"Europe/Berlin", utc("2026-03-27 12:00"), "2026-03-28 08:00, 2026-03-29 07:00, 2026-03-30 07:00"},
		"Berlin autumn":   {"Europe/Berlin", utc("2026-10-23 12:00"), "2026-10-24 07:00, 2026-10-25 08:00, 2026-10-26 08:00"},
		"New York spring": {"America/New_York", utc("2026-03-06 18:00"), "2026-03-07 14:00, 2026-03-08 13:00, 2026-03-09 13:00"},
		"New York autumn": {"America/New_York", utc("2026-10-30 18:00"), "2026-10-31 13:00, 2026-11-01 14:00, 2026-11-02 14:00"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tt := mustParse(t, "0 9 * * *", tc.zone)
			if got := formatUTC(runs(tt, tc.from, tc.from.Add(72*time.Hour))); got != tc.want {
				t.Errorf("runs = %s, want %s", got, tc.want)
			}
		})
	}
}

// Times in the spring-forward gap run at the first instant after it, once;
// times in the repeated hour of a fall-back day run once, at the first pass.
func TestDSTRules(t *testing.T) {
	tests := map[string]struct {
		expr, zone string
		from, to   time.Time
		want       string // UTC
	}{
		"02:30 Berlin, spring-forward day runs at 03:00 CEST": {
			"30 2 * * *", "Europe/Berlin", utc("2026-03-27 12:00"), utc("2026-03-30 12:00"),
			"2026-03-28 01:30, 2026-03-29 01:00, 2026-03-30 00:30",
		},
		"02:30 Berlin, fall-back day runs once at 02:30 CEST": {
			"30 2 * * *", "Europe/Berlin", utc("2026-10-23 12:00"), utc("2026-10-26 12:00"),
			"2026-10-24 00:30, 2026-10-25 00:30, 2026-10-26 01:30",
		},
		"02:30 New York, spring-forward day runs at 03:00 EDT": {
			"30 2 * * *", "America/New_York", utc("2026-03-07 00:00"), utc("2026-03-09 12:00"),
			"2026-03-07 07:30, 2026-03-08 07:00, 2026-03-09 06:30",
		},
		"01:30 New York, fall-back day runs once at 01:30 EDT": {
			"30 1 * * *", "America/New_York", utc("2026-10-31 00:00"), utc("2026-11-02 12:00"),
			"2026-10-31 05:30, 2026-11-01 05:30, 2026-11-02 06:30",
		},
		"two times in the gap run once after it": {
			"0,30 2 * * *", "Europe/Berlin", utc("2026-03-28 12:00"), utc("2026-03-29 12:00"),
			"2026-03-29 01:00",
		},
		"hourly at :30 through the gap": {
			"30 * * * *", "Europe/Berlin", utc("2026-03-28 23:45"), utc("2026-03-29 02:45"),
			"2026-03-29 00:30, 2026-03-29 01:00, 2026-03-29 01:30, 2026-03-29 02:30",
		},
		"hourly at :30 through the repeated hour runs it once": {
			"30 * * * *", "Europe/Berlin", utc("2026-10-24 23:45"), utc("2026-10-25 02:45"),
			"2026-10-25 00:30, 2026-10-25 02:30",
		},
		"Lord Howe's 30-minute spring gap": {
			"15 2 * * *", "Australia/Lord_Howe", utc("2026-10-02 12:00"), utc("2026-10-04 12:00"),
			// 4 October 2026 02:00 +10:30 becomes 02:30 +11.
			"2026-10-02 15:45, 2026-10-03 15:30",
		},
		"day-of-month or day-of-week when both are restricted": {
			"0 0 1 * 1", "UTC", utc("2026-05-28 00:00"), utc("2026-06-09 00:00"),
			"2026-06-01 00:00, 2026-06-08 00:00",
		},
		"weekly Monday 07:00 Berlin": {
			"0 7 * * 1", "Europe/Berlin", utc("2026-03-20 00:00"), utc("2026-04-07 00:00"),
			"2026-03-23 06:00, 2026-03-30 05:00, 2026-04-06 05:00",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tt := mustParse(t, tc.expr, tc.zone)
			if got := formatUTC(runs(tt, tc.from, tc.to)); got != tc.want {
				t.Errorf("runs = %s\nwant   %s", got, tc.want)
			}
		})
	}
}

// The run returned by Next is in the schedule's zone and strictly later.
func TestNextIsStrictAndInZone(t *testing.T) {
	tt := mustParse(t, "0 9 * * *", "Europe/Berlin")
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, tt.Location())
	if got := tt.Next(at); !got.Equal(at.AddDate(0, 0, 1)) {
		t.Errorf("Next(09:00) = %v, want the next day's 09:00", got)
	}
	if got := tt.Next(at.Add(-time.Nanosecond)); !got.Equal(at) {
		t.Errorf("Next(just before 09:00) = %v, want %v", got, at)
	}
	if got := tt.Next(at.UTC()); got.Location() != tt.Location() {
		t.Errorf("Next returned zone %v, want %v", got.Location(), tt.Location())
	}
}

// Prev is Next's mirror: it returns the latest run at or before an instant,
// with no run in between, for every zone and expression tried.
func TestPrevMirrorsNext(t *testing.T) {
	exprs := []string{"0 9 * * *", "30 2 * * *", "30 1 * * *", "*/7 * * * *", "0 7 * * 1", "0 6 1 * *", "15 2,3 * * 0", "0 0 29 2 *"}
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll", "Asia/Kolkata"}
	rng := rand.New(rand.NewPCG(1, 2))
	start := utc("2025-01-01 00:00")
	for _, expr := range exprs {
		for _, zone := range zones {
			tt := mustParse(t, expr, zone)
			for range 200 {
				at := start.Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour))))
				prev := tt.Prev(at)
				if prev.IsZero() || prev.After(at) {
					t.Fatalf("%s %s: Prev(%v) = %v", expr, zone, at, prev)
				}
				if next := tt.Next(prev); !next.After(at) {
					t.Fatalf("%s %s: run %v lies between Prev(%v) = %v and it", expr, zone, next, at, prev)
				}
				if next := tt.Next(at); !tt.Prev(next).Equal(next) {
					t.Fatalf("%s %s: Prev(Next(%v)) = %v, want %v", expr, zone, at, tt.Prev(next), next)
				}
			}
		}
	}
}

func TestNeverRunningSchedule(t *testing.T) {
	tt := mustParse(t, "0 0 30 2 *", "UTC")
	if got := tt.Next(utc("2026-01-01 00:00")); !got.IsZero() {
		t.Errorf("Next = %v, want zero (30 February never comes)", got)
	}
	if got := tt.Prev(utc("2026-01-01 00:00")); !got.IsZero() {
		t.Errorf("Prev = %v, want zero", got)
	}
}

func TestParseRejects(t *testing.T) {
	tests := map[string]struct {
		expr, zone string
		wantErr    string
	}{
		"CRON_TZ prefix": {"CRON_TZ=Europe/Berlin 0 9 * * *", "UTC", "set spec.timeZone"},
		"TZ prefix":      {"TZ=UTC 0 9 * * *", "UTC", "set spec.timeZone"},
		"descriptor":     {"@daily", "UTC", "descriptors"},
		"six fields":     {"0 0 9 * * *", "UTC", "five fields"},
		"four fields":    {"0 9 * *", "UTC", "five fields"},
		"minute 60":      {"60 9 * * *", "UTC", "above maximum"},
		"day of week 7":  {"0 9 * * 7", "UTC", "above maximum"},
		"garbage":        {"a b c d e", "UTC", "schedule"},
		"unknown zone":   {"0 9 * * *", "Europe/Atlantis", `unknown time zone "Europe/Atlantis"`},
		"Local":          {"0 9 * * *", "Local", "Local"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.expr, tc.zone)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse(%q, %q) error = %v, want one containing %q", tc.expr, tc.zone, err, tc.wantErr)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for _, expr := range []string{"0 9 * * *", "  0 9 * * 1-5 ", "*/15 8-18 * * MON-FRI", "0 6 1 JAN,JUL *", "0 0 ? * SUN"} {
		if _, err := Parse(expr, ""); err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
		}
	}
}
