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
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/internal/auth"
)

// deleteReport serves DELETE /api/v1/reports/{id}: it cancels a running
// report and deletes it with its file. The manager's finalizer stops the
// Job and removes the file; to the user the report is gone at once.
func (s *Server) deleteReport(w http.ResponseWriter, r *http.Request, u auth.User) error {
	id, err := reportID(r)
	if err != nil {
		return err
	}
	err = s.remove(r.Context(), u.Name, id)
	s.auditLog("delete", u, id, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// remove deletes report id if user may see it. The UID precondition
// makes sure a new report that took the same name is never deleted.
func (s *Server) remove(ctx context.Context, user, id string) error {
	rr, err := s.lookup(ctx, user, id)
	if err != nil {
		return err
	}
	err = s.client.Delete(ctx, rr,
		client.Preconditions{UID: &rr.UID},
		client.PropagationPolicy(metav1.DeletePropagationBackground))
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return notFound(id)
	case err != nil:
		return fmt.Errorf("deleting report %s: %w", id, err)
	}
	s.deleted.add(rr.UID, s.now())
	return nil
}
