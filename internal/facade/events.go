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
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
)

// Server-sent event names.
const (
	// EventReport carries a Report (the same JSON as GET /api/v1/reports/{id}).
	EventReport = "report"
	// EventDeleted carries {"id": ...} for a report that is gone.
	EventDeleted = "deleted"
)

// sse writes server-sent events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers. Proxies must not buffer it
// (X-Accel-Buffering for nginx) and the server's write timeout must not
// cut it, so the deadline is lifted for this response.
func startSSE(w http.ResponseWriter) (*sse, error) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("lifting the write deadline of an event stream: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// retry tells EventSource-style clients how soon to reconnect.
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil, err
	}
	return &sse{w: w, rc: rc}, rc.Flush()
}

// send writes one event with a JSON payload.
func (e *sse) send(event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.sendRaw(event, data)
}

// sendRaw writes one event whose payload is already JSON (one line).
func (e *sse) sendRaw(event string, data []byte) error {
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return e.rc.Flush()
}

// heartbeat writes a comment, which keeps proxies from timing out.
func (e *sse) heartbeat() error {
	if _, err := fmt.Fprint(e.w, ": heartbeat\n\n"); err != nil {
		return err
	}
	return e.rc.Flush()
}

// reportEvents serves GET /api/v1/reports/{id}/events: the report now,
// then every change, until it completes, fails or is deleted.
func (s *Server) reportEvents(w http.ResponseWriter, r *http.Request, u auth.User) error {
	id, err := reportID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Subscribe before reading, so no change falls between the two.
	sub, leave := s.hub.subscribe(id, "")
	defer leave()
	// lookup falls back to a live read, so a report created a moment ago
	// streams even before the cache has it.
	rr, err := s.lookup(ctx, u.Name, id)
	if err != nil {
		return err
	}
	stream, err := s.openStream(w)
	if err != nil {
		return err
	}
	defer s.metrics.streams.Dec()
	st := newStreamState()
	if done, err := s.emitObject(ctx, stream, st, rr); done || err != nil {
		return nil
	}
	return s.pump(ctx, stream, sub, func() (bool, error) {
		for _, name := range sub.take() {
			if done, err := s.emit(ctx, stream, st, u.Name, name); done || err != nil {
				return true, err
			}
		}
		return false, nil
	})
}

// userEvents serves GET /api/v1/events: the caller's active reports now,
// then every change to any report they may see, on one stream.
func (s *Server) userEvents(w http.ResponseWriter, r *http.Request, u auth.User) error {
	ctx := r.Context()
	sub, leave := s.hub.subscribe("", u.Name)
	defer leave()
	items, err := s.visibleTo(ctx, u.Name)
	if err != nil {
		return err
	}
	stream, err := s.openStream(w)
	if err != nil {
		return err
	}
	defer s.metrics.streams.Dec()
	st := newStreamState()
	slices.SortFunc(items, func(a, b v1alpha1.ReportRequest) int { return newestFirst(b, a) })
	for i := range items {
		if !items[i].Status.Phase.IsTerminal() {
			if _, err := s.emit(ctx, stream, st, u.Name, items[i].Name); err != nil {
				return nil
			}
		}
	}
	return s.pump(ctx, stream, sub, func() (bool, error) {
		names := sub.take()
		slices.Sort(names)
		for _, name := range names {
			if _, err := s.emit(ctx, stream, st, u.Name, name); err != nil {
				return true, err
			}
		}
		return false, nil
	})
}

// openStream starts the event stream and counts it.
func (s *Server) openStream(w http.ResponseWriter) (*sse, error) {
	stream, err := startSSE(w)
	if err != nil {
		return nil, err
	}
	s.metrics.streams.Inc()
	return stream, nil
}

// pump waits for changes and heartbeats until the client leaves, the
// server shuts down, or onWake says the stream is done. Errors writing to
// a client that left end the stream quietly.
func (s *Server) pump(ctx context.Context, stream *sse, sub *subscription, onWake func() (bool, error)) error {
	ticker := time.NewTicker(s.opts.Heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if stream.heartbeat() != nil {
				return nil
			}
		case <-sub.wake:
			if done, err := onWake(); done || err != nil {
				return nil
			}
		}
	}
}

// streamState remembers what a stream has sent: a digest of each
// report's JSON, so a change the user cannot see (the manager recording a
// notification) sends nothing.
type streamState struct {
	sent map[string][sha256.Size]byte
}

// newStreamState returns an empty state.
func newStreamState() *streamState { return &streamState{sent: map[string][sha256.Size]byte{}} }

// emit sends the current state of report name if user may see it and it
// changed since it was last sent. done is true once the report is
// terminal or gone, which ends a single report's stream.
func (s *Server) emit(ctx context.Context, stream *sse, st *streamState, user, name string) (done bool, err error) {
	rr := &v1alpha1.ReportRequest{}
	err = s.client.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, rr)
	if apierrors.IsNotFound(err) || (err == nil && !s.visible(rr, user)) {
		if _, known := st.sent[name]; known {
			delete(st.sent, name)
			return true, stream.send(EventDeleted, map[string]string{"id": name})
		}
		return true, nil
	}
	if err != nil {
		s.log.Error(err, "Reading a report for an event stream", "report", name)
		return false, nil
	}
	return s.emitObject(ctx, stream, st, rr)
}

// emitObject sends rr unless the stream sent the same view before.
func (s *Server) emitObject(ctx context.Context, stream *sse, st *streamState, rr *v1alpha1.ReportRequest) (done bool, err error) {
	terminal := rr.Status.Phase.IsTerminal()
	rep, err := s.render(ctx, rr)
	if err != nil {
		return false, err
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return false, err
	}
	digest := sha256.Sum256(data)
	if last, known := st.sent[rr.Name]; known && last == digest {
		return terminal, nil
	}
	st.sent[rr.Name] = digest
	return terminal, stream.sendRaw(EventReport, data)
}
