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
	"fmt"
	"strings"
	"testing"
	"time"
)

// fuzzZones are the zones FuzzRender picks from: UTC, the two of the DST
// tests, a 30-minute shift, a 2-hour shift, and a zone whose midnight falls
// in a gap.
var fuzzZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll", "America/Havana"}

// FuzzRender feeds arbitrary templates and times to RenderValue: it must
// never panic, never return more than MaxValueLength bytes, and give the
// same answer twice. The seeds run with every `go test`.
func FuzzRender(f *testing.F) {
	seeds := []string{
		`{{ .ScheduledTime | date "2006-01-02" }}`,
		`{{ startOfWeek .ScheduledTime | addDays -7 | date "2006-01-02" }}`,
		`{{ startOfMonth .ScheduledTime | addMonths -1 | endOfMonth | date "2006-01-02" }}`,
		`{{ addMonths -1000000 .ScheduledTime | date "2006-01-02T15:04:05Z07:00" }}`,
		`{{ addDays 9223372036854775807 .ScheduledTime | startOfDay | date "2006" }}`,
		`{{ startOfYear .ScheduledTime | date "Jan 2 2006" }}{{ .Schedule }}`,
		`{{ range 10 }}x{{ end }}`,
		`{{ define "a" }}{{ end }}{{ template "a" }}`,
		`{{ printf "%0999999d" 1 }}`,
		`{{ with .ScheduledTime }}{{ .Year }}{{ else }}none{{ end }}`,
		`{{ if }}`,
		`{{ .ScheduledTime.AddDate 100000 0 0 | date "2006" }}`,
		"plain",
		"",
	}
	for i, s := range seeds {
		f.Add(s, int64(1772431200+i*86400*37), uint8(i))
	}
	f.Fuzz(func(t *testing.T, text string, unix int64, zoneIndex uint8) {
		loc, err := LoadZone(fuzzZones[int(zoneIndex)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		data := Data{ScheduledTime: time.Unix(unix, 0).In(loc), Schedule: "s", Namespace: "n", TimeZone: loc.String()}
		first, err1 := RenderValue(text, data)
		second, err2 := RenderValue(text, data)
		if len(first) > MaxValueLength {
			t.Fatalf("rendered %d bytes", len(first))
		}
		if first != second || (err1 == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %q/%v then %q/%v", first, err1, second, err2)
		}
		if err1 != nil && strings.HasPrefix(err1.Error(), "template:") {
			t.Fatalf("error %q names the internal template, not what the user wrote", err1)
		}
		if err1 == nil && !strings.Contains(text, "{{") && first != text {
			t.Fatalf("plain text %q rendered as %q", text, first)
		}
	})
}

// renderLayout formats every instant FuzzRenderDates renders, with the
// offset's seconds: local mean time, before a zone adopted standard time,
// had them.
const renderLayout = "2006-01-02T15:04:05.999999999Z07:00:00"

// FuzzRenderDates renders every date function on arbitrary instants in
// zones with DST gaps and checks the calendar: addDays and addMonths move
// the date by whole days or months and keep the clock time (a month's
// missing day becomes its last); startOfWeek is the Monday on or before,
// startOfMonth, endOfMonth and startOfYear the right days at midnight; a
// clock time that falls in a DST gap becomes the first instant after it.
func FuzzRenderDates(f *testing.F) {
	f.Add(int64(1774746000), uint8(1), int16(-7), int16(-1))  // 29 March 2026 01:00 UTC, Berlin: the gap
	f.Add(int64(1774659600), uint8(1), int16(1), int16(0))    // 28 March 2026 02:00 Berlin + 1 day: in the gap
	f.Add(int64(1793424600), uint8(2), int16(1), int16(12))   // 31 October 2026 01:30 New York + 1 day: the repeated hour
	f.Add(int64(1790955900), uint8(3), int16(1), int16(-13))  // 3 October 2026 02:15 Lord Howe + 1 day: in its 30-minute gap
	f.Add(int64(1772859600), uint8(5), int16(1), int16(1))    // 7 March 2026 00:00 Havana + 1 day: midnight in the gap
	f.Add(int64(1769904000), uint8(0), int16(-31), int16(1))  // 1 February 2026 UTC
	f.Add(int64(1769817600), uint8(0), int16(29), int16(1))   // 31 January 2026 + 1 month = 28 February
	f.Add(int64(1709164800), uint8(4), int16(366), int16(12)) // 29 February 2024, Troll (+2 hours in summer)
	// Year 102, about 90 years back.
	f.Add(int64(-62135596800+86400*366*101), uint8(0), int16(-32768), int16(-32768))
	f.Fuzz(func(t *testing.T, unix int64, zoneIndex uint8, days, months int16) {
		if unix < -62135596800+86400*366*100 || unix > 253402300799-86400*366*100 {
			t.Skip("keep every result within the years 1 to 9999 that the layout prints")
		}
		months %= 1200 // at most 100 years, as days (at most 90 years)
		loc, err := LoadZone(fuzzZones[int(zoneIndex)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(unix, 0).In(loc)
		text := fmt.Sprintf(`{{ addDays %d .ScheduledTime | date %q }};{{ addMonths %d .ScheduledTime | date %q }};`+
			`{{ startOfWeek .ScheduledTime | date %q }};{{ startOfMonth .ScheduledTime | date %q }};`+
			`{{ endOfMonth .ScheduledTime | date %q }};{{ startOfYear .ScheduledTime | date %q }}`,
			days, renderLayout, months, renderLayout, renderLayout, renderLayout, renderLayout, renderLayout)
		out, err := RenderValue(text, Data{ScheduledTime: at, Schedule: "s", Namespace: "n", TimeZone: loc.String()})
		if err != nil {
			t.Fatalf("rendering %s: %v", text, err)
		}
		got := strings.Split(out, ";")
		if len(got) != 6 {
			t.Fatalf("rendered %q", out)
		}
		y, m, d := at.Date()
		h, mi, sec := at.Clock()
		ns := at.Nanosecond()
		firstOfTarget := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
		targetDay := min(d, time.Date(firstOfTarget.Year(), firstOfTarget.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day())
		back := (int(at.Weekday()) + 6) % 7
		want := []time.Time{
			time.Date(y, m, d+int(days), h, mi, sec, ns, time.UTC),
			time.Date(firstOfTarget.Year(), firstOfTarget.Month(), targetDay, h, mi, sec, ns, time.UTC),
			time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC),
			time.Date(y, m, 1, 0, 0, 0, 0, time.UTC),
			time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC),
			time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC),
		}
		for i, name := range []string{"addDays", "addMonths", "startOfWeek", "startOfMonth", "endOfMonth", "startOfYear"} {
			checkWall(t, name, got[i], loc, want[i])
		}
	})
}

// checkWall checks that rendered is the instant whose wall clock in loc
// reads want (a reading carried in UTC), or, when no instant reads want
// (a DST gap), the first instant after the gap.
func checkWall(t *testing.T, name, rendered string, loc *time.Location, want time.Time) {
	t.Helper()
	at, err := time.Parse(renderLayout, rendered)
	if err != nil {
		t.Fatalf("%s rendered %q: %v", name, rendered, err)
	}
	at = at.In(loc)
	if _, offset := at.Zone(); offset != offsetOf(rendered) {
		t.Fatalf("%s rendered %q, which is not in %s", name, rendered, loc)
	}
	got := wallClock(at)
	if got.Equal(want) {
		return
	}
	before := wallClock(at.Add(-time.Nanosecond))
	if !got.After(want) || !before.Before(want) {
		t.Fatalf("%s rendered %q: wall clock %v, want %v (or the end of a DST gap around it)", name, rendered, got, want)
	}
}

// offsetOf reads the UTC offset, in seconds, at the end of an RFC 3339 time.
func offsetOf(rendered string) int {
	at, err := time.Parse(renderLayout, rendered)
	if err != nil {
		return 0
	}
	_, offset := at.Zone()
	return offset
}

// FuzzNext checks the timetable's invariants on arbitrary instants: Next is
// strictly later, Prev is not, and no run lies between them.
func FuzzNext(f *testing.F) {
	f.Add(int64(1774746000), uint8(1), uint8(0))   // 29 March 2026, Berlin
	f.Add(int64(1792882800), uint8(2), uint8(1))   // 1 November 2026, New York
	f.Add(int64(1791129600), uint8(3), uint8(2))   // October 2026, Lord Howe
	f.Add(int64(-62135596800), uint8(0), uint8(3)) // year 1
	exprs := []string{"30 2 * * *", "30 1 * * *", "*/20 * * * *", "0 0 29 2 *", "15 2 * * 0"}
	f.Fuzz(func(t *testing.T, unix int64, zoneIndex, exprIndex uint8) {
		if unix < -62135596800 || unix > 253402300799 { // years 1 to 9999
			t.Skip()
		}
		tt, err := Parse(exprs[int(exprIndex)%len(exprs)], fuzzZones[int(zoneIndex)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(unix, 0)
		next, prev := tt.Next(at), tt.Prev(at)
		if !next.IsZero() && !next.After(at) {
			t.Fatalf("Next(%v) = %v is not later", at, next)
		}
		if !prev.IsZero() && prev.After(at) {
			t.Fatalf("Prev(%v) = %v is later", at, prev)
		}
		if !prev.IsZero() && !next.IsZero() && !tt.Next(prev).Equal(next) {
			t.Fatalf("a run lies between Prev %v and Next %v: %v", prev, next, tt.Next(prev))
		}
	})
}
