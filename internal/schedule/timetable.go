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

// Package schedule is the pure logic behind ReportSchedule: run times of a
// five-field cron expression in an IANA time zone with the DST rules of
// DESIGN.md, the runs that fell due while nobody looked and what to do about
// them, the names of the ReportRequests a schedule creates, and the
// rendering of parameter templates from the scheduled time. It talks to no
// API server; the controller in controllers/ does.
//
// DST rules: a time that does not exist on a spring-forward day (02:30 in
// Europe/Berlin on the last Sunday of March) runs at the first instant after
// the gap (03:00 CEST); a time that occurs twice on a fall-back day runs
// once, at its first occurrence. robfig/cron parses the expression and
// searches wall clock fields; it alone would skip the missing hour and run
// the repeated one twice, so the search runs on a clock without DST and each
// match is then resolved in the real zone.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// maxDSTShift bounds how far a zone's clocks jump at a transition (two hours
// in Antarctica/Troll; one hour or 30 minutes elsewhere), with a margin.
const maxDSTShift = 3 * time.Hour

// searchYears is how far ahead or back a run is looked for, as robfig/cron
// does: "0 0 30 2 *" (February 30) never runs.
const searchYears = 5

// starBit is robfig/cron's marker for a field written as * or ?; the
// day-of-month and day-of-week fields combine differently with it.
const starBit = 1 << 63

// Timetable is a parsed cron expression read in a time zone.
type Timetable struct {
	// fields of the expression, matched against wall clock readings carried
	// in UTC (see wallClock); Location is always UTC.
	fields *cron.SpecSchedule
	loc    *time.Location
}

// Parse reads a five-field cron expression (minute hour day-of-month month
// day-of-week, as robfig/cron's ParseStandard reads them) in the named IANA
// zone. CRON_TZ= and TZ= prefixes and @descriptors are refused: the zone is
// the schedule's timeZone, and the contract is five fields.
func Parse(expression, zone string) (*Timetable, error) {
	loc, err := LoadZone(zone)
	if err != nil {
		return nil, err
	}
	fields, err := parseFields(expression)
	if err != nil {
		return nil, err
	}
	return &Timetable{fields: fields, loc: loc}, nil
}

func parseFields(expression string) (*cron.SpecSchedule, error) {
	trimmed := strings.TrimSpace(expression)
	switch {
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return nil, errors.New("schedule must not carry CRON_TZ= or TZ=: set spec.timeZone instead")
	case strings.HasPrefix(trimmed, "@"):
		return nil, fmt.Errorf("schedule %q: descriptors such as @daily are not accepted, write the five fields (minute hour day-of-month month day-of-week)", trimmed)
	case len(strings.Fields(trimmed)) != 5:
		return nil, fmt.Errorf("schedule %q must have five fields: minute hour day-of-month month day-of-week", trimmed)
	}
	parsed, err := cron.ParseStandard(trimmed)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", trimmed, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q is not a cron expression", trimmed)
	}
	fields := *spec
	fields.Location = time.UTC
	return &fields, nil
}

// Location is the zone the timetable is read in.
func (t *Timetable) Location() *time.Location { return t.loc }

// Next returns the first run strictly after the given instant, in the
// timetable's zone, or the zero time if there is none within five years.
func (t *Timetable) Next(after time.Time) time.Time {
	// Readings before after's own one name instants at or before it, so the
	// search starts at that reading; robfig/cron's Next is strict, hence the
	// step back.
	cursor := wallClock(after.In(t.loc)).Truncate(time.Minute).Add(-time.Second)
	// Matches can resolve to instants at or before after only within the
	// repeated hour of a fall-back day: a bounded number of them.
	for range int(2*maxDSTShift/time.Minute) + 2 {
		wall := t.fields.Next(cursor)
		if wall.IsZero() {
			return time.Time{}
		}
		if at := resolve(wall, t.loc); at.After(after) {
			return at
		}
		cursor = wall
	}
	return time.Time{}
}

// Prev returns the latest run at or before the given instant, in the
// timetable's zone, or the zero time if there is none within five years.
func (t *Timetable) Prev(atOrBefore time.Time) time.Time {
	// A reading up to one DST shift later than atOrBefore's own can name an
	// earlier instant (the first pass of a repeated hour), so the backward
	// search starts that much later and skips what resolves too late.
	cursor := wallClock(atOrBefore.In(t.loc)).Add(maxDSTShift).Truncate(time.Minute)
	for range int(2*maxDSTShift/time.Minute) + 2 {
		wall := t.prevWall(cursor)
		if wall.IsZero() {
			return time.Time{}
		}
		if at := resolve(wall, t.loc); !at.After(atOrBefore) {
			return at
		}
		cursor = wall.Add(-time.Minute)
	}
	return time.Time{}
}

// prevWall returns the latest reading at or before the reading c that the
// expression matches, or zero if none within five years. robfig/cron has no
// backward search, so this walks days, hours and minutes down.
func (t *Timetable) prevWall(c time.Time) time.Time {
	limit := c.AddDate(-searchYears, 0, 0)
	day := time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, time.UTC)
	lastHour, lastMinute := c.Hour(), c.Minute()
	for !day.Before(limit) {
		if t.dayMatches(day) {
			if hour, minute, ok := t.latestTimeOfDay(lastHour, lastMinute); ok {
				return day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
			}
		}
		day = day.AddDate(0, 0, -1)
		lastHour, lastMinute = 23, 59
	}
	return time.Time{}
}

// latestTimeOfDay returns the latest matching hour and minute at or before
// lastHour:lastMinute.
func (t *Timetable) latestTimeOfDay(lastHour, lastMinute int) (int, int, bool) {
	for hour := lastHour; hour >= 0; hour-- {
		if !hasBit(t.fields.Hour, hour) {
			continue
		}
		top := 59
		if hour == lastHour {
			top = lastMinute
		}
		for minute := top; minute >= 0; minute-- {
			if hasBit(t.fields.Minute, minute) {
				return hour, minute, true
			}
		}
	}
	return 0, 0, false
}

// dayMatches applies the month, day-of-month and day-of-week fields the way
// cron (and robfig/cron) does: when both day fields are restricted, either
// may match.
func (t *Timetable) dayMatches(day time.Time) bool {
	if !hasBit(t.fields.Month, int(day.Month())) {
		return false
	}
	dom := hasBit(t.fields.Dom, day.Day())
	dow := hasBit(t.fields.Dow, int(day.Weekday()))
	if t.fields.Dom&starBit != 0 || t.fields.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

func hasBit(set uint64, i int) bool { return set&(1<<uint(i)) != 0 }
