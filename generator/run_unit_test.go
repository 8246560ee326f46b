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

package generator

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"reportd.io/reportd/api/v1alpha1"
)

func TestTruncateMessageKeepsUTF8AndTheLimit(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	got := truncateMessage(long, maxTerminationMessage)
	if len(got) > maxTerminationMessage || !utf8.ValidString(got) || !strings.HasSuffix(got, "[...]") {
		t.Errorf("truncated to %d bytes, valid UTF-8 %v, marked %v", len(got), utf8.ValidString(got), strings.HasSuffix(got, "[...]"))
	}
	if short := "the database refused the query"; truncateMessage(short, maxTerminationMessage) != short {
		t.Error("a short message was changed")
	}
}

func TestParseKeyReadsPostgresTextValues(t *testing.T) {
	utc := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.UnixNano()) / 1e9
	}
	cases := map[string]float64{
		"2024-03-01 12:34:56.123456+00": utc("2024-03-01T12:34:56.123456Z"),
		"2024-03-01 12:34:56+05:30":     utc("2024-03-01T07:04:56Z"),
		"1893-04-01 00:00:00+00:19:32":  utc("1893-03-31T23:40:28Z"),
		"2024-03-01":                    utc("2024-03-01T00:00:00Z"),
		"2024-03-01 08:00:00":           utc("2024-03-01T08:00:00Z"),
		"12345":                         12345,
		"-12.5":                         -12.5,
	}
	for text, want := range cases {
		got, ok := parseKey(text)
		if !ok || math.Abs(got-want) > 1e-6 {
			t.Errorf("parseKey(%q) = %v, %v; want %v", text, got, ok, want)
		}
	}
	if _, ok := parseKey("not a key"); ok {
		t.Error("parseKey accepted text")
	}
}

func TestKeyRangeEstimatorCountsTheLastDayIn(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2024, 1, 9, 0, 0, 0, 0, time.UTC) // 9 days with the 9th included
	est, err := keyRangeEstimator(start, end, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key  []byte
		want float64
		ok   bool
	}{
		{[]byte("2023-12-31 00:00:00+00"), 0, true},
		{[]byte("2024-01-01 00:00:00+00"), 0, true},
		{[]byte("2024-01-05 12:00:00+00"), 0.5, true},
		{[]byte("2024-01-09 23:00:00+00"), 1 - 1.0/(9*24), true},
		{[]byte("2024-02-01 00:00:00+00"), 1, true},
		{nil, 0, false},
	}
	for _, c := range cases {
		got, ok := est(c.key)
		if ok != c.ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("estimate(%q) = %v, %v; want %v, %v", c.key, got, ok, c.want, c.ok)
		}
	}
	if _, err := keyRangeEstimator(end, start, false); err == nil {
		t.Error("an empty range was accepted")
	}
}

func TestProgressNeverGoesBackwardsAndStopsShortOf100(t *testing.T) {
	tracker := newProgressTracker(nil, time.Second, nil, logr.Discard(), v1alpha1.ProgressKeyRange)
	// The key column (1) holds the fraction done.
	tracker.useKeyRange(1, func(key []byte) (float64, bool) {
		f, err := strconv.ParseFloat(string(key), 64)
		return f, err == nil
	})
	publishAfter := func(keys ...string) int32 {
		for _, k := range keys {
			row := [][]byte{[]byte("x"), nil}
			if k != "NULL" {
				row[1] = []byte(k)
			}
			tracker.row(row)
		}
		tracker.estimateLastKey()
		return tracker.percent.Load()
	}
	var seen []int32
	// The query stalls after 0.39: what is shown is the last row's key,
	// not the first one after the previous tick.
	seen = append(seen, publishAfter("0.10", "0.25", "0.39"))
	seen = append(seen, publishAfter())               // nothing new
	seen = append(seen, publishAfter("0.50", "NULL")) // a NULL key says nothing
	seen = append(seen, publishAfter("0.30"))         // never backwards
	seen = append(seen, publishAfter("1.0"))          // 100 only once the file is stored
	if want := []int32{39, 39, 50, 50, runningCap}; !equalInts(seen, want) {
		t.Errorf("progress %v; want %v", seen, want)
	}
	if tracker.rows.Load() != 7 {
		t.Errorf("rows %d; want 7", tracker.rows.Load())
	}

	count := newProgressTracker(nil, time.Second, nil, logr.Discard(), v1alpha1.ProgressCount)
	count.setTotal(3)
	for range 3 {
		count.row(nil)
	}
	if got := count.percent.Load(); got != runningCap {
		t.Errorf("Count progress after all rows = %d; want %d until the file is stored", got, runningCap)
	}
}

func equalInts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReportTimeoutIsTheShorterOfRequestAndDefinition(t *testing.T) {
	cases := map[string]struct {
		request    *int64
		definition *metav1.Duration
		want       time.Duration
	}{
		"neither":         {nil, nil, 0},
		"request only":    {ptr.To[int64](600), nil, 10 * time.Minute},
		"definition only": {nil, &metav1.Duration{Duration: time.Hour}, time.Hour},
		"request shorter": {ptr.To[int64](60), &metav1.Duration{Duration: time.Hour}, time.Minute},
		"definition caps": {ptr.To[int64](7200), &metav1.Duration{Duration: time.Hour}, time.Hour},
		"zero definition": {ptr.To[int64](60), &metav1.Duration{}, time.Minute},
	}
	for name, c := range cases {
		req := &v1alpha1.ReportRequest{Spec: v1alpha1.ReportRequestSpec{TimeoutSeconds: c.request}}
		def := &v1alpha1.ReportDefinition{Spec: v1alpha1.ReportDefinitionSpec{Timeout: c.definition}}
		if got := reportTimeout(req, def); got != c.want {
			t.Errorf("%s: %s; want %s", name, got, c.want)
		}
	}
	p := &plan{timeout: time.Hour}
	if got := p.statementTimeout(); got != time.Hour-reportTimeoutSlack {
		t.Errorf("statement timeout for 1h = %s", got)
	}
	p.timeout = 10 * time.Second
	if got := p.statementTimeout(); got != 9*time.Second {
		t.Errorf("statement timeout for 10s = %s", got)
	}
}

func TestExitCodes(t *testing.T) {
	cases := map[string]struct {
		err  error
		want int
	}{
		"success":         {nil, 0},
		"permanent":       {permanent(nil, "bad"), v1alpha1.ExitPermanent},
		"transient":       {transient(nil, "later"), 1},
		"wrapped":         {errors.Join(errors.New("x"), permanent(nil, "bad")), v1alpha1.ExitPermanent},
		"any other error": {errors.New("boom"), 1},
	}
	for name, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("%s: exit code %d; want %d", name, got, c.want)
		}
	}
}
