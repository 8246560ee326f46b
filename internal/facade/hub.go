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
	"sync"

	toolscache "k8s.io/client-go/tools/cache"

	"reportd.io/reportd/api/v1alpha1"
)

// hub passes the ReportRequest informer's changes to the open event
// streams. It passes only names: a stream reads the object from the cache
// when it wakes, so a burst of updates costs one read and one event.
type hub struct {
	mu     sync.RWMutex
	byName map[string]map[*subscription]struct{}
	byUser map[string]map[*subscription]struct{}
}

// subscription is one stream's interest: one report, or every report a
// user may see.
type subscription struct {
	name, user string
	wake       chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
}

// newHub returns an empty hub.
func newHub() *hub {
	return &hub{byName: map[string]map[*subscription]struct{}{}, byUser: map[string]map[*subscription]struct{}{}}
}

// subscribe registers a stream for report name, or, when name is empty,
// for every report user may see. Call the returned function to leave.
func (h *hub) subscribe(name, user string) (*subscription, func()) {
	sub := &subscription{name: name, user: user, wake: make(chan struct{}, 1), pending: map[string]struct{}{}}
	index, key := h.byUser, user
	if name != "" {
		index, key = h.byName, name
	}
	h.mu.Lock()
	if index[key] == nil {
		index[key] = map[*subscription]struct{}{}
	}
	index[key][sub] = struct{}{}
	h.mu.Unlock()
	return sub, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(index[key], sub)
		if len(index[key]) == 0 {
			delete(index, key)
		}
	}
}

// publish tells the streams interested in a change. oldObj or newObj is
// nil for an add or a delete.
func (h *hub) publish(oldObj, newObj any) {
	rrs := make([]*v1alpha1.ReportRequest, 0, 2)
	for _, obj := range []any{oldObj, newObj} {
		if rr := asReportRequest(obj); rr != nil {
			rrs = append(rrs, rr)
		}
	}
	if len(rrs) == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	name := rrs[0].Name
	for sub := range h.byName[name] {
		sub.notify(name)
	}
	// Viewers never change (the spec is immutable), but a stale old object
	// costs nothing to include.
	for _, rr := range rrs {
		for _, user := range viewers(rr) {
			for sub := range h.byUser[user] {
				sub.notify(name)
			}
		}
	}
}

// asReportRequest unwraps the informer's objects, including the
// tombstones of deletes it learned of late.
func asReportRequest(obj any) *v1alpha1.ReportRequest {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rr, _ := obj.(*v1alpha1.ReportRequest)
	return rr
}

// notify records that name changed and wakes the stream without blocking
// the informer.
func (s *subscription) notify(name string) {
	s.mu.Lock()
	s.pending[name] = struct{}{}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the names changed since the last take.
func (s *subscription) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.pending))
	for n := range s.pending {
		names = append(names, n)
	}
	clear(s.pending)
	return names
}
