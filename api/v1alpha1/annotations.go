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

package v1alpha1

import (
	"encoding/json"
	"fmt"
)

// ResultFormatVersion is the version of ResultAnnotation this code writes.
// A manager accepts every version up to its own, so an older generator
// image keeps working with a newer manager.
const ResultFormatVersion = 1

// ProgressAnnotation is the value of the progress and rows annotations on a
// Job. Attempt is the pod name, so a retry never shows a stale attempt's numbers.
// +kubebuilder:object:generate=false
type ProgressAnnotation struct {
	Attempt string `json:"attempt"`
	Value   int64  `json:"value"`
}

// ResultAnnotation is the value of the result annotation, written once the
// file is stored under its final key.
// +kubebuilder:object:generate=false
type ResultAnnotation struct {
	Version     int    `json:"version"`
	Attempt     string `json:"attempt"`
	Key         string `json:"key"`
	URL         string `json:"url"`
	Size        int64  `json:"size"`
	Rows        int64  `json:"rows"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"contentType"`
}

// ErrorAnnotation is the value of the error annotation: why an attempt failed,
// in words a user understands, and whether retrying can help.
// +kubebuilder:object:generate=false
type ErrorAnnotation struct {
	Attempt   string `json:"attempt"`
	Message   string `json:"message"`
	Permanent bool   `json:"permanent,omitempty"`
}

// EncodeAnnotation marshals an annotation payload to its string form.
func EncodeAnnotation(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The payloads are plain structs of strings and numbers.
		panic(fmt.Sprintf("encoding annotation: %v", err))
	}
	return string(b)
}

// DecodeAnnotation reads annotation key of annotations into v. It returns
// false when the annotation is absent and an error when it is malformed.
func DecodeAnnotation(annotations map[string]string, key string, v any) (bool, error) {
	raw, ok := annotations[key]
	if !ok || raw == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return true, fmt.Errorf("annotation %s is malformed: %w", key, err)
	}
	return true, nil
}
