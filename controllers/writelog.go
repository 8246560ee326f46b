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

package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"reportd.io/reportd/api/v1alpha1"
)

// cacheCatchUp bounds how long a status the manager just wrote is assumed
// to be on its way into the cache. The watch event normally arrives within
// milliseconds; until it does, a reconcile reading the older object would
// write the same status again.
const cacheCatchUp = 5 * time.Second

// writeLog remembers, per report, the last status written and when
// progress was last written: what the progress throttle and the
// no-repeated-write rule need. It lives in memory; after a restart the
// first write of each report is simply not throttled.
type writeLog struct {
	mu         sync.Mutex
	reports    map[types.UID]*reportWrites
	lastPruned time.Time
}

// staleEntry is how long an entry outlives its last write. Entries of
// reports deleted before they finished are never forgotten otherwise;
// dropping a live report's entry only loses its throttle state.
const staleEntry = time.Hour

// reportWrites is one report's entry.
type reportWrites struct {
	status       v1alpha1.ReportRequestStatus
	writtenAt    time.Time
	progressedAt time.Time
}

// progressWait is how long a progress-only write must still wait so that
// the report's progress is written at most once per interval.
func (l *writeLog) progressWait(uid types.UID, now time.Time, interval time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.reports[uid]
	if !ok || w.progressedAt.IsZero() {
		return 0
	}
	return max(w.progressedAt.Add(interval).Sub(now), 0)
}

// justWritten reports whether st is the status written moments ago, which
// the cache has not shown yet, or whether a terminal status was written:
// that is the record, and a reconcile reading an older object must not
// write (and announce) the end a second time. The entry is forgotten once
// the cache shows the terminal status.
func (l *writeLog) justWritten(uid types.UID, st v1alpha1.ReportRequestStatus, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.reports[uid]
	if !ok {
		return false
	}
	return w.status.Phase.IsTerminal() || (now.Sub(w.writtenAt) < cacheCatchUp && equality.Semantic.DeepEqual(w.status, st))
}

// record notes a written status; progressed says whether its progress changed.
func (l *writeLog) record(uid types.UID, st v1alpha1.ReportRequestStatus, now time.Time, progressed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reports == nil {
		l.reports = map[types.UID]*reportWrites{}
	}
	if now.Sub(l.lastPruned) > time.Minute {
		for id, w := range l.reports {
			if now.Sub(w.writtenAt) > staleEntry {
				delete(l.reports, id)
			}
		}
		l.lastPruned = now
	}
	w, ok := l.reports[uid]
	if !ok {
		w = &reportWrites{}
		l.reports[uid] = w
	}
	w.status, w.writtenAt = *st.DeepCopy(), now
	if progressed {
		w.progressedAt = now
	}
}

// forget drops a report that needs no more writes.
func (l *writeLog) forget(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.reports, uid)
}

// progressOnly reports whether old and next differ only in progress, rows
// and the estimate: the changes that are throttled.
func progressOnly(old, next v1alpha1.ReportRequestStatus) bool {
	masked := *next.DeepCopy()
	masked.Progress, masked.Rows, masked.EstimatedCompletion = old.Progress, old.Rows, old.EstimatedCompletion
	return equality.Semantic.DeepEqual(old, masked)
}

// queued reports whether the last status written for the report holds it
// in the queue: the cache may not show that write yet.
func (l *writeLog) queued(uid types.UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.reports[uid]
	return ok && isQueued(&w.status)
}
