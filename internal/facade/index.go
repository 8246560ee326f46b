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
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
)

// Cache field indexes on ReportRequests, registered by IndexFields.
const (
	// IndexRequestedBy holds spec.requestedBy: a user's own reports, for
	// the per-user limit on active reports.
	IndexRequestedBy = "spec.requestedBy"
	// IndexViewer holds spec.requestedBy and every spec.sharedWith
	// identity: the reports a user may see, for "my reports" and streams.
	IndexViewer = "reportd.viewer"
	// IndexQueued holds "true" for a Pending request with the Queued
	// condition, so the queue position is computed from the queued
	// requests only.
	IndexQueued = "reportd.queued"
)

// IndexFields registers the facade's cache indexes. Call it before the
// cache starts, e.g. IndexFields(ctx, mgr.GetFieldIndexer()).
func IndexFields(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		name    string
		extract client.IndexerFunc
	}{
		{IndexRequestedBy, requesterValues},
		{IndexViewer, viewerValues},
		{IndexQueued, queuedValues},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, &v1alpha1.ReportRequest{}, ix.name, ix.extract); err != nil {
			return fmt.Errorf("indexing ReportRequests by %s: %w", ix.name, err)
		}
	}
	return nil
}

// requesterValues extracts spec.requestedBy.
func requesterValues(obj client.Object) []string {
	rr, ok := obj.(*v1alpha1.ReportRequest)
	if !ok || rr.Spec.RequestedBy == "" {
		return nil
	}
	return []string{rr.Spec.RequestedBy}
}

// viewerValues extracts everyone who may see the report.
func viewerValues(obj client.Object) []string {
	rr, ok := obj.(*v1alpha1.ReportRequest)
	if !ok {
		return nil
	}
	return viewers(rr)
}

// viewers lists the owner and the sharedWith identities, without repeats.
func viewers(rr *v1alpha1.ReportRequest) []string {
	out := make([]string, 0, 1+len(rr.Spec.SharedWith))
	seen := make(map[string]bool, 1+len(rr.Spec.SharedWith))
	for _, id := range append([]string{rr.Spec.RequestedBy}, rr.Spec.SharedWith...) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// queuedValues extracts "true" for a queued request.
func queuedValues(obj client.Object) []string {
	rr, ok := obj.(*v1alpha1.ReportRequest)
	if !ok || !isQueued(rr) {
		return nil
	}
	return []string{"true"}
}

// isQueued reports whether the manager holds the request back for a free slot.
func isQueued(rr *v1alpha1.ReportRequest) bool {
	pending := rr.Status.Phase == "" || rr.Status.Phase == v1alpha1.PhasePending
	return pending && apimeta.IsStatusConditionTrue(rr.Status.Conditions, v1alpha1.ConditionQueued)
}

// canSee reports whether user may see, download and delete the report.
func canSee(rr *v1alpha1.ReportRequest, user string) bool {
	if user == "" || rr.DeletionTimestamp != nil {
		return false
	}
	for _, id := range viewers(rr) {
		if id == user {
			return true
		}
	}
	return false
}
