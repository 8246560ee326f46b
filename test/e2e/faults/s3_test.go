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

package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// s3Rows and s3Width make a report of about 24 MB: three parts of a
// multipart upload (8 MiB each), the first sent a third of the way in;
// the gate at s3GateRow holds it after the first part, before the second.
const (
	s3Rows    = 3000
	s3GateRow = 2000
	s3Width   = 250
)

// TestS3StoppedMidUpload kills the S3 server (SIGKILL) while two reports
// are uploading, each with a part already stored, and lets them go on.
// The one with a single
// retry fails, saying the report could not be stored, and no object
// appears under its key. The one with more retries completes once the
// server is back, with a file equal to psql's export. Deleting them
// leaves no object and no unfinished upload behind.
func TestS3StoppedMidUpload(t *testing.T) {
	watched := watchAll(t)
	g := e2eutil.CloseGate(t, stack.Postgres.URL)
	givesUp := gated(g, s3Rows, s3GateRow, s3Width, 1).create(t, "s3-gives-up")
	outlasts := gated(g, s3Rows, s3GateRow, s3Width, 8).create(t, "s3-outlasts")
	keys := []string{resultKey(get(t, givesUp)), resultKey(get(t, outlasts))}
	e2eutil.Eventually(t, 90*time.Second, "a part of each report uploaded", func() (bool, string) {
		parts := uploadedParts(t)
		return parts[keys[0]] > 0 && parts[keys[1]] > 0, fmt.Sprintf("parts stored per key: %v", parts)
	})
	for _, n := range []string{givesUp, outlasts} {
		if rr := get(t, n); rr.Status.Phase.IsTerminal() {
			t.Fatalf("the report ended before the fault: %s", describe(rr))
		}
	}

	stack.S3.Kill()
	g.Open() // the reports go on, and meet the dead server with their next part
	restart := restartOnce(t, "the S3 server", stack.S3.Restart)

	var failed *v1alpha1.ReportRequest
	t.Run("a report out of retries fails and says why", func(t *testing.T) {
		failed = checkGivesUp(t, watched, givesUp, 2*time.Minute, "the S3 server", "store")
	})

	waitJobFailures(t, outlasts, 2)
	restart()

	t.Run("a report with retries left completes once the server is back", func(t *testing.T) {
		checkCompletedLikePsql(t, watched, outlasts, "the S3 server returned")
	})

	if failed != nil && keyStored(t, resultKey(failed)) {
		t.Errorf("the failed report %s has an object in storage", givesUp)
	}
	t.Logf("unfinished uploads once both reports ended: %v", uploadedParts(t))

	t.Run("deleting the reports leaves nothing in the bucket", func(t *testing.T) {
		for _, n := range []string{givesUp, outlasts} {
			deleteReport(t, n)
		}
		parts := uploadedParts(t)
		for _, k := range keys {
			if _, open := parts[k]; open {
				t.Errorf("an unfinished upload of %s remains after its report was deleted", k)
			}
			if keyStored(t, k) {
				t.Errorf("the object %s remains after its report was deleted", k)
			}
		}
	})
}

// uploadedParts lists the bucket's unfinished multipart uploads: the
// parts stored so far, by key.
func uploadedParts(t testing.TB) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := stack.S3.Client()
	out := map[string]int{}
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(stack.S3.Bucket)})
	if err != nil {
		t.Fatalf("list unfinished uploads: %v", err)
	}
	for _, u := range uploads.Uploads {
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(stack.S3.Bucket), Key: u.Key, UploadId: u.UploadId})
		if err != nil {
			continue // finished or aborted in between
		}
		out[aws.ToString(u.Key)] += len(parts.Parts)
	}
	return out
}

// deleteReport deletes a report and waits until its finalizer has
// cleaned up and it is gone.
func deleteReport(t testing.TB, name string) {
	t.Helper()
	rr, err := tryGet(name)
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stack.Client.Delete(ctx, rr); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete %s: %v", name, err)
	}
	e2eutil.Eventually(t, time.Minute, name+" deleted", func() (bool, string) {
		_, err := tryGet(name)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("still there (%v)", err)
	})
}
