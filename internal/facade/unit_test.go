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

package facade

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"reportd.io/reportd/api/v1alpha1"
)

func TestScalarText(t *testing.T) {
	cases := map[string]struct {
		want string
		ok   bool
	}{
		`"2025-01-01"`: {"2025-01-01", true},
		`"a \"b\""`:    {`a "b"`, true},
		`42`:           {"42", true},
		`-1.5e3`:       {"-1.5e3", true},
		`true`:         {"true", true},
		`false`:        {"false", true},
		`null`:         {"", false},
		`{"a": 1}`:     {"", false},
		`[1]`:          {"", false},
	}
	for raw, want := range cases {
		got, ok := scalarText(json.RawMessage(raw))
		if got != want.want || ok != want.ok {
			t.Errorf("scalarText(%s) = %q, %v; want %q, %v", raw, got, ok, want.want, want.ok)
		}
	}
}

func TestIdempotentNameIsAStableValidName(t *testing.T) {
	a := idempotentName("alice", "key-1")
	if a != idempotentName("alice", "key-1") {
		t.Error("the name changes between calls")
	}
	for _, other := range []string{idempotentName("bob", "key-1"), idempotentName("alice", "key-2"), idempotentName("alice\x00key", "-1")} {
		if other == a {
			t.Errorf("%q collides", other)
		}
	}
	if msgs := validation.IsDNS1123Subdomain(a); len(msgs) > 0 || len(a) > 63 {
		t.Errorf("%q is not a short object name: %v", a, msgs)
	}
	for _, typ := range []string{"sales", "a-very-long-report-type-name-that-goes-on-and-on-and-on-forever.v2"} {
		if msgs := validation.IsDNS1123Subdomain(randomName(typ)); len(msgs) > 0 {
			t.Errorf("randomName(%q) = %q: %v", typ, randomName(typ), msgs)
		}
	}
}

func TestRateLimiterRefillsPerUser(t *testing.T) {
	l := newRateLimiter(60) // one a second, bursts of 60
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for i := range 60 {
		if ok, _ := l.allow("alice", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("alice", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("61st request: %v, wait %s; want refused, about 1 s", ok, wait)
	}
	if ok, _ := l.allow("bob", now); !ok {
		t.Error("bob paid for alice's requests")
	}
	if ok, _ := l.allow("alice", now.Add(time.Second)); !ok {
		t.Error("a second later alice is still refused")
	}
	if newRateLimiter(-1) != nil {
		t.Error("a negative limit is not off")
	}
	if ok, _ := (*rateLimiter)(nil).allow("alice", now); !ok {
		t.Error("no limiter refused")
	}
}

func TestRecentCreatesCountUntilTheCacheShowsThem(t *testing.T) {
	var rc recentCreates
	now := time.Now()
	rc.add("alice", "r1", now)
	rc.add("alice", "r2", now)
	if n := rc.unseen("alice", map[string]bool{"r1": true}, now); n != 1 {
		t.Errorf("unseen %d, want 1 (r1 is cached)", n)
	}
	if n := rc.unseen("alice", nil, now.Add(2*recentGrace)); n != 0 {
		t.Errorf("unseen %d after the grace, want 0", n)
	}
	if n := rc.unseen("bob", nil, now); n != 0 {
		t.Errorf("bob has %d", n)
	}
}

func TestDownloadName(t *testing.T) {
	done := metav1.NewTime(time.Date(2026, 11, 29, 23, 30, 0, 0, time.FixedZone("", -3*3600)))
	rr := &v1alpha1.ReportRequest{Spec: v1alpha1.ReportRequestSpec{Type: "sales", Format: v1alpha1.FormatCSVGz}}
	rr.Status.CompletedAt = &done
	if got := downloadName(rr); got != "sales-2026-11-30.csv.gz" {
		t.Errorf("downloadName = %q (the day is UTC)", got)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 20 * time.Second: 20} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}
