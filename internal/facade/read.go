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
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
)

// reportID reads and checks the {id} path segment: a ReportRequest name.
func reportID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if msgs := validation.IsDNS1123Subdomain(id); len(msgs) > 0 {
		return "", fieldError(http.StatusBadRequest, "id", "not a report id: "+strings.Join(msgs, "; "))
	}
	return id, nil
}

// lookup returns the report id if user may see it, else a 404. The cache
// answers; a miss (a create moments ago on this or another replica) gets
// one live GET before the 404.
func (s *Server) lookup(ctx context.Context, user, id string) (*v1alpha1.ReportRequest, error) {
	rr, err := s.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.visible(rr, user) {
		return nil, notFound(id)
	}
	return rr, nil
}

// visible reports whether user may see rr now: a viewer, and the report
// not deleted (by anyone, or by this replica a moment ago).
func (s *Server) visible(rr *v1alpha1.ReportRequest, user string) bool {
	return canSee(rr, user) && !s.deleted.has(rr.UID, s.now())
}

// fetch reads a report by name, from the cache and then live.
func (s *Server) fetch(ctx context.Context, id string) (*v1alpha1.ReportRequest, error) {
	key := client.ObjectKey{Namespace: s.ns, Name: id}
	rr := &v1alpha1.ReportRequest{}
	err := s.client.Get(ctx, key, rr)
	if apierrors.IsNotFound(err) {
		err = s.live.Get(ctx, key, rr)
	}
	if apierrors.IsNotFound(err) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading report %s: %w", id, err)
	}
	return rr, nil
}

// getReport serves GET /api/v1/reports/{id}.
func (s *Server) getReport(w http.ResponseWriter, r *http.Request, u auth.User) error {
	id, err := reportID(r)
	if err != nil {
		return err
	}
	rr, err := s.lookup(r.Context(), u.Name, id)
	if err != nil {
		return err
	}
	rep, err := s.render(r.Context(), rr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// listReports serves GET /api/v1/reports: the caller's reports and those
// shared with them, newest first.
func (s *Server) listReports(w http.ResponseWriter, r *http.Request, u auth.User) error {
	limit, err := listLimit(r)
	if err != nil {
		return err
	}
	items, err := s.visibleTo(r.Context(), u.Name)
	if err != nil {
		return err
	}
	slices.SortFunc(items, newestFirst)
	if len(items) > limit {
		items = items[:limit]
	}
	queue, err := s.queueOrder(r.Context())
	if err != nil {
		return err
	}
	out := ReportList{Reports: make([]Report, 0, len(items))}
	for i := range items {
		out.Reports = append(out.Reports, view(&items[i], s.downloadURL(items[i].Name), queue[items[i].Name]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listLimit reads ?limit= (1..MaxListLimit, default DefaultListLimit).
func listLimit(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return DefaultListLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxListLimit {
		return 0, fieldError(http.StatusBadRequest, "limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxListLimit))
	}
	return n, nil
}

// visibleTo lists, from the cache, the reports user may see.
func (s *Server) visibleTo(ctx context.Context, user string) ([]v1alpha1.ReportRequest, error) {
	var list v1alpha1.ReportRequestList
	if err := s.client.List(ctx, &list, client.InNamespace(s.ns), client.MatchingFields{IndexViewer: user}); err != nil {
		return nil, fmt.Errorf("listing reports: %w", err)
	}
	return slices.DeleteFunc(list.Items, func(rr v1alpha1.ReportRequest) bool { return !s.visible(&rr, user) }), nil
}

// newestFirst orders by creation time, newest first, then by name.
func newestFirst(a, b v1alpha1.ReportRequest) int {
	if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(b.Name, a.Name)
}

// queueOrder maps each queued request's name to its position (1 is next):
// first come first served, by creation time then name, as the manager
// admits them. Computed when read, from the cache's queued index.
func (s *Server) queueOrder(ctx context.Context) (map[string]int, error) {
	var list v1alpha1.ReportRequestList
	if err := s.client.List(ctx, &list, client.InNamespace(s.ns), client.MatchingFields{IndexQueued: "true"}); err != nil {
		return nil, fmt.Errorf("listing queued reports: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b v1alpha1.ReportRequest) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	order := make(map[string]int, len(list.Items))
	pos := 0
	for i := range list.Items {
		// The index may lag the object by nothing, but a request being
		// deleted no longer waits.
		if list.Items[i].DeletionTimestamp == nil && isQueued(&list.Items[i]) {
			pos++
			order[list.Items[i].Name] = pos
		}
	}
	return order, nil
}

// render shows one report, with its queue position when it is queued.
func (s *Server) render(ctx context.Context, rr *v1alpha1.ReportRequest) (Report, error) {
	pos := 0
	if isQueued(rr) {
		queue, err := s.queueOrder(ctx)
		if err != nil {
			return Report{}, err
		}
		pos = queue[rr.Name]
	}
	return view(rr, s.downloadURL(rr.Name), pos), nil
}

// reportURL is the facade's URL of a report, absolute when the public URL is known.
func (s *Server) reportURL(id string) string {
	return s.baseURL + "/api/v1/reports/" + id
}

// downloadURL is the facade's download link of a report.
func (s *Server) downloadURL(id string) string { return s.reportURL(id) + "/download" }

// healthz serves GET /healthz: the process answers.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz serves GET /readyz: ready once the cache holds the ReportRequests.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.synced() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "waiting for the cache"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready returns nil once the cache holds the ReportRequests, for the
// manager's readiness check.
func (s *Server) Ready() error {
	if !s.synced() {
		return errors.New("the facade's cache has not synced yet")
	}
	return nil
}
