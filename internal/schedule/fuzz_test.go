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
	})
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
