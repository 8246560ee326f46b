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
	"text/template"
	"time"
)

// Funcs returns the functions parameter templates may call, documented in
// docs/schedules.md. Every function keeps its argument's zone, and
// .ScheduledTime is in the schedule's zone, so all calendar arithmetic
// happens there. The time argument comes last so functions chain in a
// pipeline: {{ startOfWeek .ScheduledTime | addDays -7 | date "2006-01-02" }}.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"date":         formatDate,
		"addDays":      addDays,
		"addMonths":    addMonths,
		"startOfDay":   startOfDay,
		"startOfWeek":  startOfWeek,
		"startOfMonth": startOfMonth,
		"endOfMonth":   endOfMonth,
		"startOfYear":  startOfYear,
	}
}

// formatDate formats t with a Go layout ("2006-01-02", "2006-01-02T15:04:05Z07:00").
func formatDate(layout string, t time.Time) string { return t.Format(layout) }

// addDays moves t by n calendar days, keeping its clock time (09:00 stays
// 09:00 across a DST change).
func addDays(n int, t time.Time) time.Time {
	return atWall(t.Location(), t.Year(), t.Month(), t.Day()+n, t.Hour(), t.Minute(), t.Second(), t.Nanosecond())
}

// addMonths moves t by n calendar months, keeping its clock time; a day that
// the target month lacks becomes its last day (31 January + 1 month is
// 28 or 29 February), not a day of the month after.
func addMonths(n int, t time.Time) time.Time {
	first := time.Date(t.Year(), t.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	day := min(t.Day(), daysIn(first.Year(), first.Month()))
	return atWall(t.Location(), first.Year(), first.Month(), day, t.Hour(), t.Minute(), t.Second(), t.Nanosecond())
}

// startOfDay is midnight at the start of t's day (or the first instant of the
// day where midnight falls in a DST gap).
func startOfDay(t time.Time) time.Time {
	return atWall(t.Location(), t.Year(), t.Month(), t.Day(), 0, 0, 0, 0)
}

// startOfWeek is the start of the Monday of t's ISO week.
func startOfWeek(t time.Time) time.Time {
	back := (int(t.Weekday()) + 6) % 7 // days since Monday
	return atWall(t.Location(), t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0)
}

// startOfMonth is the start of the first day of t's month.
func startOfMonth(t time.Time) time.Time {
	return atWall(t.Location(), t.Year(), t.Month(), 1, 0, 0, 0, 0)
}

// endOfMonth is the start of the last day of t's month: formatted as a date,
// the month's last day, which is what an inclusive date range wants.
func endOfMonth(t time.Time) time.Time {
	return atWall(t.Location(), t.Year(), t.Month(), daysIn(t.Year(), t.Month()), 0, 0, 0, 0)
}

// startOfYear is the start of 1 January of t's year.
func startOfYear(t time.Time) time.Time {
	return atWall(t.Location(), t.Year(), time.January, 1, 0, 0, 0, 0)
}

// daysIn is the number of days in a month.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
