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

// Package notify tells people that a report has finished: it renders the
// message (an e-mail in plain text and HTML, a webhook's JSON or a
// Slack-compatible text), sends it (SMTP through go-mail, webhooks over
// HTTP with an HMAC-SHA256 signature), and keeps reportd from being an
// open relay (an address policy for webhook targets, checked at dial
// time, and for e-mail recipients). Each send carries a delivery id the
// caller chooses, so a receiver can drop a repeat.
//
// Deciding what to send, and recording it so it is sent once, is the
// notification controller's business (controllers/notification_controller.go).
package notify

import (
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"

	"reportd.io/reportd/api/v1alpha1"
)

// Report is what a notification says about a report. Its JSON is the
// webhook's body; the names are the facade's (internal/facade.Report), so
// a client that reads one reads the other.
type Report struct {
	// ID is the report's id in the facade: the ReportRequest's name.
	ID string `json:"id"`
	// Namespace holds the ReportRequest.
	Namespace  string            `json:"namespace"`
	ReportType string            `json:"reportType"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Format     string            `json:"format"`
	// RequestedBy is the identity the report ran as.
	RequestedBy string `json:"requestedBy"`
	// Status is "completed" or "failed", as the facade writes it.
	Status       string     `json:"status"`
	Rows         int64      `json:"rows"`
	Size         int64      `json:"size,omitempty"`
	SHA256       string     `json:"sha256,omitempty"`
	ErrorMessage string     `json:"errorMessage,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	CompletedAt  *time.Time `json:"completedAt,omitempty"`
	// PageURL is the report's page in the web UI, which asks the reader
	// to sign in; empty when no public URL is configured. Never a
	// download link: a presigned URL would die in the inbox.
	PageURL string `json:"pageUrl,omitempty"`
}

// Facade status values (internal/facade's StatusCompleted and StatusFailed).
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// Event names, sent in the X-Reportd-Event header.
const (
	EventCompleted = "report.completed"
	EventFailed    = "report.failed"
)

// ReportOf describes a finished ReportRequest. publicURL is the facade's
// public base URL; the page link is empty without it.
func ReportOf(rr *v1alpha1.ReportRequest, publicURL string) Report {
	r := Report{
		ID:           rr.Name,
		Namespace:    rr.Namespace,
		ReportType:   rr.Spec.Type,
		Format:       string(rr.Spec.Format),
		RequestedBy:  rr.Spec.RequestedBy,
		Status:       StatusFailed,
		Rows:         rr.Status.Rows,
		Size:         rr.Status.Bytes,
		ErrorMessage: rr.Status.ErrorMessage,
		CreatedAt:    rr.CreationTimestamp.UTC(),
		PageURL:      PageURL(publicURL, rr.Name),
	}
	if r.Format == "" {
		r.Format = string(v1alpha1.FormatCSV)
	}
	if rr.Status.Phase == v1alpha1.PhaseCompleted {
		r.Status = StatusCompleted
	}
	if len(rr.Spec.Parameters) > 0 {
		r.Parameters = make(map[string]string, len(rr.Spec.Parameters))
		for k, v := range rr.Spec.Parameters {
			r.Parameters[k] = string(v)
		}
	}
	if res := rr.Status.Result; res != nil {
		r.SHA256 = res.SHA256
		if res.Size > 0 {
			r.Size = res.Size
		}
		if res.Rows > 0 {
			r.Rows = res.Rows
		}
	}
	if t := rr.Status.CompletedAt; t != nil {
		at := t.UTC()
		r.CompletedAt = &at
	}
	return r
}

// PageURL is the report's page in the web UI: <publicURL>/reports/<id>.
// Empty when publicURL is.
func PageURL(publicURL, id string) string {
	base := strings.TrimSuffix(publicURL, "/")
	if base == "" {
		return ""
	}
	return base + "/reports/" + url.PathEscape(id)
}

// Event is the event name of the report's outcome.
func (r Report) Event() string {
	if r.Status == StatusCompleted {
		return EventCompleted
	}
	return EventFailed
}

// parameterList is the parameters as "name=value" in name order.
func (r Report) parameterList() []string {
	names := make([]string, 0, len(r.Parameters))
	for k := range r.Parameters {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, k := range names {
		out[i] = k + "=" + r.Parameters[k]
	}
	return out
}

// permanentError marks a failure that retrying cannot cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot cure (a refused
// address, a receiver that rejects the message for good).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var p *permanentError
	var refused *RefusedError
	return errors.As(err, &p) || errors.As(err, &refused)
}
