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

package facade_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/facade"
)

func TestReportEventsStreamProgressUntilTheEnd(t *testing.T) {
	// A write timeout shorter than the stream's life: streams must lift it.
	h := newHarness(t, harnessOptions{heartbeat: 200 * time.Millisecond, writeTimeout: time.Second})
	rep := h.create(aliceToken, salesBody)
	stream := h.openEvents("/api/v1/reports/"+rep.ID+"/events", aliceToken)
	for name, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no", "Cache-Control": "no-store"} {
		if got := stream.resp.Header.Get(name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
	if got := stream.nextReport(t); got.ID != rep.ID || got.Status != facade.StatusPending {
		t.Fatalf("first event %+v", got)
	}
	for _, p := range []int32{30, 60} {
		h.setStatus(rep.ID, func(st *v1alpha1.ReportRequestStatus) { st.Phase, st.Progress = v1alpha1.PhaseProcessing, p })
		if got := stream.nextReport(t); got.Progress != p || got.Status != facade.StatusProcessing {
			t.Fatalf("event %+v, want progress %d", got, p)
		}
	}
	// Outlive the write timeout, with heartbeats in between.
	beats := 0
	deadline := time.After(1500 * time.Millisecond)
wait:
	for {
		select {
		case ev, ok := <-stream.events:
			if !ok {
				t.Fatal("the stream ended while idle: the write timeout cut it")
			}
			if !ev.comment {
				t.Fatalf("unexpected event while idle: %+v", ev)
			}
			beats++
		case <-deadline:
			break wait
		}
	}
	if beats < 3 {
		t.Errorf("%d heartbeats in 1.5 s at a 200 ms interval", beats)
	}
	h.complete(rep.ID, csvContent)
	got := stream.nextReport(t)
	if got.Status != facade.StatusCompleted || got.Progress != 100 || got.ResultURL == "" {
		t.Fatalf("final event %+v", got)
	}
	select {
	case ev, ok := <-stream.events:
		for ok && ev.comment {
			ev, ok = <-stream.events
		}
		if ok {
			t.Errorf("event after completion: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream did not end after the report completed")
	}
	if got := metricValue(t, h.reg, "reportd_facade_open_streams", nil); got != 0 {
		t.Errorf("%v streams counted open after the end", got)
	}
}

func TestReportEventsEndWithDeletion(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	stream := h.openEvents("/api/v1/reports/"+rep.ID+"/events", aliceToken)
	stream.nextReport(t)
	h.request(http.MethodDelete, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNoContent)
	ev := stream.next(t)
	if ev.name != facade.EventDeleted || !strings.Contains(ev.data, rep.ID) {
		t.Fatalf("got %+v, want a deleted event", ev)
	}
}

func TestUserEventsCarryAllTheCallersReportsOnOneStream(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	active := h.create(aliceToken, salesBody)
	done := h.create(aliceToken, salesBody)
	h.complete(done.ID, csvContent)
	eventually(t, "the cache shows the completion", func() bool {
		return h.request(http.MethodGet, "/api/v1/reports/"+done.ID, aliceToken, "").report(t).Status == facade.StatusCompleted
	})
	stream := h.openEvents("/api/v1/events", aliceToken)
	if got := stream.nextReport(t); got.ID != active.ID {
		t.Fatalf("first event is %s, want the active report %s (finished ones are not replayed)", got.ID, active.ID)
	}
	// Someone else's report never shows; a new one of alice's does, and
	// so does one shared with her.
	bobs := h.create(bobToken, salesBody)
	h.setStatus(bobs.ID, func(st *v1alpha1.ReportRequestStatus) { st.Phase, st.Progress = v1alpha1.PhaseProcessing, 10 })
	second := h.create(aliceToken, salesBody)
	if got := stream.nextReport(t); got.ID != second.ID {
		t.Fatalf("got %s, want alice's new report %s", got.ID, second.ID)
	}
	shared := h.create(bobToken, `{"reportType": "inventory", "sharedWith": ["alice"]}`)
	if got := stream.nextReport(t); got.ID != shared.ID {
		t.Fatalf("got %s, want the report shared with alice %s", got.ID, shared.ID)
	}
	h.setStatus(active.ID, func(st *v1alpha1.ReportRequestStatus) { st.Phase, st.Progress = v1alpha1.PhaseProcessing, 70 })
	if got := stream.nextReport(t); got.ID != active.ID || got.Progress != 70 {
		t.Fatalf("got %+v, want progress 70 of %s", got, active.ID)
	}
	h.request(http.MethodDelete, "/api/v1/reports/"+second.ID, aliceToken, "").expect(t, http.StatusNoContent)
	if ev := stream.next(t); ev.name != facade.EventDeleted || !strings.Contains(ev.data, second.ID) {
		t.Fatalf("got %+v, want the deletion of %s", ev, second.ID)
	}
}
