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
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// apiError is an error with the HTTP status and body the caller gets.
type apiError struct {
	status     int
	body       ErrorBody
	retryAfter time.Duration
}

// Error implements error.
func (e *apiError) Error() string { return e.body.Error }

// errorf returns an apiError with a message.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, body: ErrorBody{Error: fmt.Sprintf(format, args...)}}
}

// fieldError returns an apiError about one field.
func fieldError(status int, field, message string) *apiError {
	return invalid(status, []FieldError{{Field: field, Message: message}})
}

// invalid returns an apiError about several fields; the message joins them.
func invalid(status int, fields []FieldError) *apiError {
	msg := "the request is invalid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("the request is invalid (%d problems): %s: %s, ...", len(fields), fields[0].Field, fields[0].Message)
	}
	return &apiError{status: status, body: ErrorBody{Error: msg, Fields: fields}}
}

// notFound is the answer for a report that does not exist or that the
// caller may not see: the two are indistinguishable on purpose.
func notFound(id string) *apiError {
	return errorf(http.StatusNotFound, "report %q not found", id)
}

// internalError hides the cause from the caller; it is logged instead.
func internalError() *apiError {
	return errorf(http.StatusInternalServerError, "internal error; try again later")
}

// tooMany is a 429 with Retry-After.
func tooMany(retryAfter time.Duration, format string, args ...any) *apiError {
	e := errorf(http.StatusTooManyRequests, format, args...)
	e.retryAfter = retryAfter
	return e
}

// writeJSON writes v with status. Answers are never cached: they are
// per-user and change as reports progress.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes an apiError.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.retryAfter)))
	}
	writeJSON(w, e.status, e.body)
}

// retryAfterSeconds rounds up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// fromInvalid turns the API server's validation failure into a 422 naming
// the request's fields (spec.x becomes x, spec.type becomes reportType).
func fromInvalid(err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return errorf(http.StatusUnprocessableEntity, "the request is invalid")
	}
	var fields []FieldError
	for _, c := range status.Status().Details.Causes {
		if c.Field == "" {
			continue
		}
		field := strings.TrimPrefix(c.Field, "spec.")
		if field == "type" {
			field = "reportType"
		}
		fields = append(fields, FieldError{Field: field, Message: c.Message})
	}
	return invalid(http.StatusUnprocessableEntity, fields)
}
