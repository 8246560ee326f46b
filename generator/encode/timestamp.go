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

package encode

import (
	"bytes"
	"time"
)

// pgOffsetSecondsLayout reads a timestamptz whose offset has seconds, as
// PostgreSQL prints local mean time before zones were standardised
// ("1890-01-01 00:00:00+00:17:30").
const pgOffsetSecondsLayout = "2006-01-02 15:04:05.999999999-07:00:00"

// appendRFC3339 appends PostgreSQL's ISO text of a timestamp as RFC 3339:
// "2024-01-02 03:04:05.123+01" becomes "2024-01-02T03:04:05.123+01:00".
// withZone says the value is a timestamptz carrying its offset; otherwise
// the offset is loc's at that wall time. Values RFC 3339 cannot express
// (infinity, BC years, years past 9999) are appended unchanged.
func appendRFC3339(dst, v []byte, withZone bool, loc *time.Location) []byte {
	sp := bytes.IndexByte(v, ' ')
	if sp != 10 || bytes.HasSuffix(v, []byte(" BC")) || len(v) < sp+9 {
		return append(dst, v...)
	}
	date, clock := v[:sp], v[sp+1:]
	if !withZone {
		return appendLocalTimestamp(dst, date, clock, loc)
	}
	off := bytes.IndexAny(clock[8:], "+-")
	if off < 0 {
		return append(dst, v...)
	}
	off += 8
	offset := clock[off:]
	switch len(offset) {
	case 3: // +01
		dst = appendDateTime(dst, date, clock[:off])
		return append(append(dst, offset...), ':', '0', '0')
	case 6: // +05:30
		dst = appendDateTime(dst, date, clock[:off])
		return append(dst, offset...)
	}
	t, err := time.Parse(pgOffsetSecondsLayout, string(v))
	if err != nil {
		return append(dst, v...)
	}
	// RFC 3339 offsets have no seconds: say the same instant in UTC.
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendDateTime appends date, 'T' and the clock time.
func appendDateTime(dst, date, clock []byte) []byte {
	dst = append(dst, date...)
	dst = append(dst, 'T')
	return append(dst, clock...)
}

// appendLocalTimestamp appends a timestamp without time zone with loc's
// offset at that wall time.
func appendLocalTimestamp(dst, date, clock []byte, loc *time.Location) []byte {
	t, ok := wallTime(date, clock, loc)
	if !ok {
		dst = append(dst, date...)
		dst = append(dst, ' ')
		return append(dst, clock...)
	}
	_, offset := t.Zone()
	if offset%60 != 0 {
		return t.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	dst = appendDateTime(dst, date, clock)
	return appendOffset(dst, offset)
}

// wallTime reads "YYYY-MM-DD" and "HH:MM:SS[.ffffff]" as a time in loc.
func wallTime(date, clock []byte, loc *time.Location) (time.Time, bool) {
	if len(date) != 10 || date[4] != '-' || date[7] != '-' || len(clock) < 8 || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	fields := [...]int{digits(date[0:4]), digits(date[5:7]), digits(date[8:10]), digits(clock[0:2]), digits(clock[3:5]), digits(clock[6:8])}
	for _, f := range fields {
		if f < 0 {
			return time.Time{}, false
		}
	}
	nanos := 0
	if len(clock) > 8 {
		frac := clock[9:]
		if clock[8] != '.' || len(frac) == 0 || len(frac) > 9 || digits(frac) < 0 {
			return time.Time{}, false
		}
		nanos = digits(frac)
		for range 9 - len(frac) {
			nanos *= 10
		}
	}
	return time.Date(fields[0], time.Month(fields[1]), fields[2], fields[3], fields[4], fields[5], nanos, loc), true
}

// digits reads a short run of ASCII digits; -1 if there is anything else.
func digits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// appendOffset appends a zone offset in seconds as +hh:mm.
func appendOffset(dst []byte, offset int) []byte {
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	h, m := offset/3600, offset%3600/60
	return append(dst, sign, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
}
