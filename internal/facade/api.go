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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
)

// Status values of a report as the API shows them.
const (
	StatusPending    = "pending"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// Report is a report as the API shows it. The names follow the original
// pattern's JSON so existing clients map easily.
type Report struct {
	ID                  string            `json:"id"`
	ReportType          string            `json:"reportType"`
	Parameters          map[string]string `json:"parameters"`
	Format              string            `json:"format"`
	TimeZone            string            `json:"timeZone,omitempty"`
	RequestedBy         string            `json:"requestedBy"`
	SharedWith          []string          `json:"sharedWith,omitempty"`
	Status              string            `json:"status"`
	Progress            int32             `json:"progress"`
	Rows                int64             `json:"rows"`
	QueuePosition       int               `json:"queuePosition,omitempty"`
	ResultURL           string            `json:"resultUrl,omitempty"`
	ErrorMessage        string            `json:"errorMessage,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	StartedAt           *time.Time        `json:"startedAt,omitempty"`
	CompletedAt         *time.Time        `json:"completedAt,omitempty"`
	EstimatedCompletion *time.Time        `json:"estimatedCompletion,omitempty"`
	Size                int64             `json:"size,omitempty"`
	SHA256              string            `json:"sha256,omitempty"`
}

// ReportList is the answer of GET /api/v1/reports.
type ReportList struct {
	Reports []Report `json:"reports"`
}

// CreateRequest is the body of POST /api/v1/reports. Parameter values may
// be JSON strings, numbers or booleans; they are kept as their text.
type CreateRequest struct {
	ReportType string                     `json:"reportType"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Format     string                     `json:"format,omitempty"`
	TimeZone   string                     `json:"timeZone,omitempty"`
	SharedWith []string                   `json:"sharedWith,omitempty"`
}

// DownloadLink is the answer of a download with redirect=false.
type DownloadLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
	Filename  string    `json:"filename"`
}

// ReportType is a report definition as forms need it: never its query.
type ReportType struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  []TypeParameter `json:"parameters"`
	Formats     []string        `json:"formats"`
	TimeZone    string          `json:"timeZone"`
	Rules       []string        `json:"rules,omitempty"`
	Ready       bool            `json:"ready"`
}

// TypeParameter is one parameter of a ReportType.
type TypeParameter struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     *string  `json:"default,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Min         *string  `json:"min,omitempty"`
	Max         *string  `json:"max,omitempty"`
	MaxLength   *int32   `json:"maxLength,omitempty"`
	Description string   `json:"description,omitempty"`
}

// ReportTypeList is the answer of GET /api/v1/report-types.
type ReportTypeList struct {
	ReportTypes []ReportType `json:"reportTypes"`
}

// ErrorBody is every error's JSON: a message, and for bad input the
// fields at fault.
type ErrorBody struct {
	Error  string       `json:"error"`
	Fields []FieldError `json:"fields,omitempty"`
	// Status is the report's status, on a 409 for a download of a report
	// that is not completed.
	Status string `json:"status,omitempty"`
}

// FieldError names one field of the request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// statusOf maps a phase to the API's status; a new request has no phase yet.
func statusOf(phase v1alpha1.ReportPhase) string {
	switch phase {
	case v1alpha1.PhaseProcessing:
		return StatusProcessing
	case v1alpha1.PhaseCompleted:
		return StatusCompleted
	case v1alpha1.PhaseFailed:
		return StatusFailed
	default:
		return StatusPending
	}
}

// timePtr converts an optional API time.
func timePtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// formatOf is the request's format; the CRD defaults it to csv.
func formatOf(rr *v1alpha1.ReportRequest) v1alpha1.ReportFormat {
	if rr.Spec.Format == "" {
		return v1alpha1.FormatCSV
	}
	return rr.Spec.Format
}

// view renders a ReportRequest for its owner. downloadURL is the facade's
// own link, shown only once the report is completed; queuePosition is 0
// when the report is not queued.
func view(rr *v1alpha1.ReportRequest, downloadURL string, queuePosition int) Report {
	st := &rr.Status
	r := Report{
		ID:                  rr.Name,
		ReportType:          rr.Spec.Type,
		Parameters:          make(map[string]string, len(rr.Spec.Parameters)),
		Format:              string(formatOf(rr)),
		TimeZone:            rr.Spec.TimeZone,
		RequestedBy:         rr.Spec.RequestedBy,
		SharedWith:          rr.Spec.SharedWith,
		Status:              statusOf(st.Phase),
		Progress:            st.Progress,
		Rows:                st.Rows,
		QueuePosition:       queuePosition,
		ErrorMessage:        st.ErrorMessage,
		CreatedAt:           rr.CreationTimestamp.UTC(),
		StartedAt:           timePtr(st.StartedAt),
		CompletedAt:         timePtr(st.CompletedAt),
		EstimatedCompletion: timePtr(st.EstimatedCompletion),
	}
	for k, v := range rr.Spec.Parameters {
		r.Parameters[k] = string(v)
	}
	if st.Phase == v1alpha1.PhaseCompleted {
		r.ResultURL = downloadURL
		if st.Result != nil {
			r.Rows = st.Result.Rows
			r.Size = st.Result.Size
			r.SHA256 = st.Result.SHA256
		}
	}
	return r
}
