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
	"errors"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
)

// auditLog writes one structured line per create, download and delete:
// who, which report, the outcome. Never parameter values (they can be
// personal data), never tokens or links.
func (s *Server) auditLog(action string, u auth.User, report string, err error, kv ...any) {
	outcome, status := "ok", 0
	var apiErr *apiError
	switch {
	case errors.As(err, &apiErr):
		outcome, status = "refused", apiErr.status
	case err != nil:
		outcome, status = "error", 500
	}
	args := append([]any{"action", action, "user", u.Name, "auth", u.Method, "report", report, "outcome", outcome}, kv...)
	if status != 0 {
		args = append(args, "status", status)
	}
	s.audit.Info("Audit", args...)
}

// reportName is a report's name, or "" when there is none (yet).
func reportName(rr *v1alpha1.ReportRequest) string {
	if rr == nil {
		return ""
	}
	return rr.Name
}
