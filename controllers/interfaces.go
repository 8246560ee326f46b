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

package controllers

import (
	"context"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// CheckResult is the outcome of checking a definition against its database.
type CheckResult struct {
	// Ready is true when the query prepares and matches the parameters.
	Ready bool
	// Reason is a CamelCase reason for the Ready condition.
	Reason string
	// Message tells the definition's owner what is wrong and what to do.
	Message string
	// Columns are the query's result columns, when it prepared.
	Columns []string
	// Transient is true when the check could not run (the database is
	// unreachable): the definition is neither good nor bad, and the check
	// is retried.
	Transient bool
}

// DefinitionChecker checks a ReportDefinition against the database at
// datasourceURL. The manager wires in the generator's check; tests may use
// it against a throwaway PostgreSQL, or a stand-in.
type DefinitionChecker interface {
	CheckDefinition(ctx context.Context, datasourceURL string, def *v1alpha1.ReportDefinition) CheckResult
}

// DefinitionCheckerFunc adapts a function to DefinitionChecker.
type DefinitionCheckerFunc func(ctx context.Context, datasourceURL string, def *v1alpha1.ReportDefinition) CheckResult

// CheckDefinition calls f.
func (f DefinitionCheckerFunc) CheckDefinition(ctx context.Context, datasourceURL string, def *v1alpha1.ReportDefinition) CheckResult {
	return f(ctx, datasourceURL, def)
}

// ResultStore is what the manager needs of storage.Store: a HEAD of the
// key it computed itself to accept a result, the key's stable URI, Delete
// (which also aborts uploads under the key) when a report goes, and
// AbortStaleUploads for the uploads killed generators leave behind.
type ResultStore interface {
	Head(ctx context.Context, key string) (storage.ObjectInfo, error)
	URI(key string) string
	Delete(ctx context.Context, key string) error
	UploadAborter
}
