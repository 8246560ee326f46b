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
	"errors"
	"fmt"
	"time"

	// Embed the IANA zone database so schedules keep their zones in images
	// without /usr/share/zoneinfo (distroless, scratch).
	_ "time/tzdata"
)

// DefaultTimeZone is the zone of a schedule that names none (the CRD's default).
const DefaultTimeZone = "UTC"

// LoadZone loads an IANA time zone by name; "" means UTC. "Local" is
// refused: it would mean whatever zone the manager's pod happens to have.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" is not allowed: name an IANA zone such as Europe/Berlin`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Berlin", name)
	}
	return loc, nil
}

// Wall clock readings are carried as time.Time values in UTC, a zone
// without daylight saving time, so calendar arithmetic on them (robfig/cron's
// field search, AddDate) never meets a gap or a repeated hour. resolve turns
// a reading into the instant it names in a real zone, applying the DST rules
// in one place.

// wallClock returns t's wall clock reading in its own location.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve returns the instant at which clocks in loc show wall, in loc:
//   - a reading that occurs once maps to that instant;
//   - a reading that occurs twice (the repeated hour when clocks fall back)
//     maps to its first occurrence, so a run there happens once;
//   - a reading that never occurs (the gap when clocks spring forward) maps
//     to the first instant after the gap.
//
// time.Date makes no promise for the last two cases, hence this function.
func resolve(wall time.Time, loc *time.Location) time.Time {
	naive := wall.Unix() // seconds since the epoch as if loc were UTC
	var found time.Time
	maxOffset := -1 << 31
	for _, offset := range candidateOffsets(naive, loc) {
		maxOffset = max(maxOffset, offset)
		at := time.Unix(naive-int64(offset), int64(wall.Nanosecond())).In(loc)
		if _, actual := at.Zone(); actual != offset {
			continue // the zone was not on this offset then
		}
		if found.IsZero() || at.Before(found) {
			found = at
		}
	}
	if !found.IsZero() {
		return found
	}
	// In a gap: read with the later offset, the reading lies before the
	// transition, and the zone period in effect then ends where the gap does.
	before := time.Unix(naive-int64(maxOffset), 0).In(loc)
	if _, end := before.ZoneBounds(); !end.IsZero() {
		return end.In(loc)
	}
	return before
}

// candidateOffsets lists the UTC offsets loc uses around a wall clock reading.
// Real offsets lie within ±15 hours, so the instant a reading names lies
// within 15 hours of naive; the offsets in effect 16 hours either side (and
// at naive) cover a transition in between. Zones never change offset twice
// in so short a time.
func candidateOffsets(naive int64, loc *time.Location) []int {
	const probe = 16 * 60 * 60
	offsets := make([]int, 0, 3)
	for _, at := range []int64{naive - probe, naive, naive + probe} {
		_, offset := time.Unix(at, 0).In(loc).Zone()
		if !containsInt(offsets, offset) {
			offsets = append(offsets, offset)
		}
	}
	return offsets
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// atWall returns the instant of the given date and clock time in loc,
// normalised as time.Date normalises (month 13 is January of the next year)
// and resolved by the DST rules of resolve.
func atWall(loc *time.Location, year int, month time.Month, day, hour, minute, sec, nsec int) time.Time {
	return resolve(time.Date(year, month, day, hour, minute, sec, nsec, time.UTC), loc)
}
