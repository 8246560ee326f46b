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

package storage_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"reportd.io/reportd/internal/testsupport"
)

// newS3Server starts a real S3 server (versitygw) with one bucket for a test.
func newS3Server(t *testing.T) *testsupport.S3 {
	t.Helper()
	return testsupport.NewS3(t, testsupport.S3Options{})
}

// storedParts counts the parts stored for the first unfinished upload of
// key (a full S3 key).
func storedParts(t *testing.T, srv *testsupport.S3, key string) int {
	t.Helper()
	ctx := context.Background()
	uploads, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket, Prefix: &key})
	if err != nil || len(uploads.Uploads) == 0 {
		t.Fatalf("ListMultipartUploads: %v (want an upload of %s)", err, key)
	}
	parts, err := srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &srv.Bucket, Key: &key, UploadId: uploads.Uploads[0].UploadId})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	return len(parts.Parts)
}
