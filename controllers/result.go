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
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// verifyResult decides whether a completed Job's result is this report's
// file. Any pod in the namespace could write the annotation, so the
// manager computes the key itself, accepts a result only for that key,
// and checks with a HEAD that the object is there with the reported size.
// The stored URI comes from the store, never from the annotation. Only a
// failed HEAD (storage unreachable) is an error, to retry.
func (r *ReportRequestReconciler) verifyResult(ctx context.Context, rr *v1alpha1.ReportRequest, job *batchv1.Job) (resultVerdict, error) {
	if jobCondition(job, batchv1.JobComplete) == nil {
		return resultVerdict{}, nil
	}
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
	ann, problem := readResult(job, key)
	if problem != "" {
		return resultVerdict{Problem: problem}, nil
	}
	info, err := r.Store.Head(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return resultVerdict{Problem: "The report's Job finished, but its file is not in storage. Create the report again; " +
			"if this repeats, ask your operator to check the storage settings of the manager and the generator."}, nil
	}
	if err != nil {
		return resultVerdict{}, fmt.Errorf("checking the report's file in storage: %w", err)
	}
	if info.Size != ann.Size {
		return resultVerdict{Problem: fmt.Sprintf("The stored file has %d bytes, but the generator reported %d; it was not accepted. "+
			"Create the report again.", info.Size, ann.Size)}, nil
	}
	contentType := ann.ContentType
	if contentType == "" {
		contentType = info.ContentType
	}
	return resultVerdict{Accepted: &v1alpha1.ReportResult{
		URL: r.Store.URI(key), Size: info.Size, Rows: ann.Rows, SHA256: ann.SHA256, ContentType: contentType,
	}}, nil
}

// readResult reads the result annotation and checks it names key in a
// format version this manager reads. problem says why it is not accepted.
func readResult(job *batchv1.Job, key string) (v1alpha1.ResultAnnotation, string) {
	var ann v1alpha1.ResultAnnotation
	found, err := v1alpha1.DecodeAnnotation(job.Annotations, v1alpha1.AnnotationResult, &ann)
	switch {
	case !found:
		return ann, "The report's Job finished without reporting a file. Create the report again."
	case err != nil:
		return ann, "The report's Job reported its file in a form the manager cannot read; it was not accepted. Create the report again."
	case ann.Version < 1 || ann.Version > v1alpha1.ResultFormatVersion:
		return ann, fmt.Sprintf("The report's Job reported its file in format version %d, which this manager does not read "+
			"(it reads up to %d). Ask your operator to upgrade the manager.", ann.Version, v1alpha1.ResultFormatVersion)
	case ann.Key != key:
		return ann, "The report's Job reported another report's file, so the result was rejected. " +
			"Only reportd's generator should write to report Jobs; ask your operator to check who can patch Jobs in this namespace."
	}
	return ann, ""
}
