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

package facade_test

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/facade"
	"reportd.io/reportd/internal/storage"
)

const csvContent = "Date,OrderId\n2025-01-01,1\n2025-01-02,2\n"

// completedReport creates a sales report and completes it with csvContent.
func completedReport(t *testing.T, h *harness) facade.Report {
	t.Helper()
	rep := h.create(aliceToken, salesBody)
	h.complete(rep.ID, csvContent)
	eventually(t, "the facade shows the completion", func() bool {
		return h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").report(t).Status == facade.StatusCompleted
	})
	return rep
}

// wantFilename is the download name of a sales report completed today.
func wantFilename() string { return "sales-" + time.Now().UTC().Format(time.DateOnly) + ".csv" }

func TestDownloadFromS3RedirectsToAFreshPresignedLink(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := completedReport(t, h)

	resp := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").expect(t, http.StatusFound)
	location := resp.header.Get("Location")
	if !strings.HasPrefix(location, s3srv.Endpoint+"/") || !strings.Contains(location, "X-Amz-Signature=") || resp.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("redirect to %q, Cache-Control %q", location, resp.header.Get("Cache-Control"))
	}
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	if exp := u.Query().Get("X-Amz-Expires"); exp != "300" {
		t.Errorf("the link is valid %s s, want 300", exp)
	}
	file := fetch(t, location).expect(t, http.StatusOK)
	if string(file.body) != csvContent {
		t.Errorf("downloaded %q", file.body)
	}
	if _, params, _ := mime.ParseMediaType(file.header.Get("Content-Disposition")); params["filename"] != wantFilename() {
		t.Errorf("Content-Disposition %q, want filename %s", file.header.Get("Content-Disposition"), wantFilename())
	}
	// The S3 server checks the signature: a tampered link is refused.
	tampered := strings.Replace(location, "X-Amz-Expires=300", "X-Amz-Expires=900", 1)
	if got := fetch(t, tampered).status; got != http.StatusForbidden {
		t.Errorf("tampered link: %d, want 403", got)
	}

	// redirect=false answers the link as JSON; each download mints a new one.
	var dl facade.DownloadLink
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download?redirect=false", aliceToken, "").expect(t, http.StatusOK).decode(t, &dl)
	if dl.Filename != wantFilename() || time.Until(dl.ExpiresAt) > 5*time.Minute || time.Until(dl.ExpiresAt) < 4*time.Minute {
		t.Errorf("link %+v", dl)
	}
	if string(fetch(t, dl.URL).expect(t, http.StatusOK).body) != csvContent {
		t.Error("the JSON link does not download the file")
	}
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download?redirect=maybe", aliceToken, "").expect(t, http.StatusBadRequest)
	audit := strings.Join(h.logs.all(), "\n")
	if strings.Contains(audit, "X-Amz-Signature") {
		t.Error("a presigned link reached the logs")
	}
	if !strings.Contains(audit, `"action":"download"`) {
		t.Errorf("no audit line for the download:\n%s", audit)
	}
}

func TestDownloadIs409UntilCompleted(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := h.create(aliceToken, salesBody)
	resp := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").expect(t, http.StatusConflict)
	var body facade.ErrorBody
	resp.decode(t, &body)
	if body.Status != facade.StatusPending || !strings.Contains(body.Error, "not completed") {
		t.Errorf("409 body %+v", body)
	}
	h.setStatus(rep.ID, func(st *v1alpha1.ReportRequestStatus) { st.Phase, st.Progress = v1alpha1.PhaseProcessing, 50 })
	eventually(t, "the 409 says processing", func() bool {
		resp := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download?redirect=false", aliceToken, "")
		var body facade.ErrorBody
		resp.decode(t, &body)
		return resp.status == http.StatusConflict && body.Status == facade.StatusProcessing
	})
}

func TestDownloadRefusesAResultURLThatIsNotTheReportsKey(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rep := completedReport(t, h)
	h.setStatus(rep.ID, func(st *v1alpha1.ReportRequestStatus) { st.Result.URL = h.store.URI("someone-else/secret.csv") })
	eventually(t, "the facade refuses the foreign URL", func() bool {
		return h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").status == http.StatusInternalServerError
	})
}

func TestDownloadFromFileStorageStreamsAndSignsItsOwnLinks(t *testing.T) {
	h := newHarness(t, harnessOptions{fileStore: true})
	rep := completedReport(t, h)

	resp := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").expect(t, http.StatusOK)
	if string(resp.body) != csvContent || resp.header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("streamed %q as %q", resp.body, resp.header.Get("Content-Type"))
	}
	if _, params, _ := mime.ParseMediaType(resp.header.Get("Content-Disposition")); params["filename"] != wantFilename() {
		t.Errorf("Content-Disposition %q", resp.header.Get("Content-Disposition"))
	}
	ranged := h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "", "Range", "bytes=0-3").expect(t, http.StatusPartialContent)
	if string(ranged.body) != "Date" {
		t.Errorf("range gave %q", ranged.body)
	}

	var dl facade.DownloadLink
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download?redirect=false", aliceToken, "").expect(t, http.StatusOK).decode(t, &dl)
	if !strings.HasPrefix(dl.URL, "/api/v1/reports/"+rep.ID+"/file?") {
		t.Fatalf("link %q", dl.URL)
	}
	// The link works without credentials: a browser following it has none.
	if got := h.request(http.MethodGet, dl.URL, "", "").expect(t, http.StatusOK); string(got.body) != csvContent {
		t.Errorf("signed link gave %q", got.body)
	}
	u, _ := url.Parse(dl.URL)
	q := u.Query()
	q.Set("expires", q.Get("expires")+"0")
	h.request(http.MethodGet, u.Path+"?"+q.Encode(), "", "").expect(t, http.StatusForbidden)
	other := h.create(aliceToken, salesBody)
	h.request(http.MethodGet, strings.Replace(dl.URL, rep.ID, other.ID, 1), "", "").expect(t, http.StatusForbidden)
	h.request(http.MethodGet, strings.Replace(dl.URL, rep.ID, "sales-nonexistent", 1), "", "").expect(t, http.StatusForbidden)
	h.clock.advance(6 * time.Minute)
	resp = h.request(http.MethodGet, dl.URL, "", "").expect(t, http.StatusForbidden)
	if !strings.Contains(string(resp.body), "expired") {
		t.Errorf("expired link: %s", resp.body)
	}
}

func TestDownloadOfAVanishedFileIs410(t *testing.T) {
	h := newHarness(t, harnessOptions{fileStore: true})
	rep := completedReport(t, h)
	rr := h.get(rep.ID)
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
	if err := h.store.Delete(testContext(t), key); err != nil {
		t.Fatal(err)
	}
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").expect(t, http.StatusGone)
}

// countingStore counts the reads that reach a store.
type countingStore struct {
	storage.Store
	reads atomic.Int64
}

func (c *countingStore) Open(ctx context.Context, key string) (io.ReadCloser, storage.ObjectInfo, error) {
	c.reads.Add(1)
	return c.Store.Open(ctx, key)
}

func (c *countingStore) Head(ctx context.Context, key string) (storage.ObjectInfo, error) {
	c.reads.Add(1)
	return c.Store.Head(ctx, key)
}

func (c *countingStore) PresignGet(ctx context.Context, key string, ttl time.Duration, name string) (string, error) {
	c.reads.Add(1)
	return c.Store.PresignGet(ctx, key, ttl, name)
}

func TestPathTraversalIDsReadNothing(t *testing.T) {
	store := &countingStore{Store: newStore(t, true)}
	h := newHarness(t, harnessOptions{store: store})
	rep := completedReport(t, h)
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID+"/download", aliceToken, "").expect(t, http.StatusOK)
	if store.reads.Load() == 0 {
		t.Fatal("a real download read nothing: the counter proves nothing")
	}
	store.reads.Store(0)
	// 404 when the path, decoded, is not clean: no route is tried, not
	// even one that the cleaned path would match (ServeMux would redirect
	// there). 400 naming "id" when a segment holds what no ReportRequest
	// name holds. Never the file, never a read of the store.
	cases := map[string]int{
		"/api/v1/reports/../reports":                                http.StatusNotFound,
		"/api/v1/reports/../../../etc/passwd/download":              http.StatusNotFound,
		"/api/v1/reports/" + rep.ID + "/../" + rep.ID + "/download": http.StatusNotFound,
		"/api/v1/reports/./" + rep.ID + "/download":                 http.StatusNotFound,
		"/api/v1/reports//" + rep.ID + "/download":                  http.StatusNotFound,
		"/api/v1/reports/%2e%2e/download":                           http.StatusNotFound,
		"/api/v1/reports/%2e%2e%2f%2e%2e%2fetc%2fpasswd":            http.StatusNotFound,
		"/api/v1/reports/%2e%2e%2f%2e%2e%2fetc%2fpasswd/download":   http.StatusNotFound,
		"/api/v1/reports/..%2f" + rep.ID + "/download":              http.StatusNotFound,
		"/api/v1/reports/" + rep.ID + "%2f..%2f..%2fx/download":     http.StatusNotFound,
		"/api/v1/reports/..%2f" + rep.ID + "/file?expires=1&sig=x":  http.StatusNotFound,
		"/api/v1/reports/..%5c..%5cwindows/download":                http.StatusBadRequest,
		"/api/v1/reports/%252e%252e%252f/download":                  http.StatusBadRequest,
		"/api/v1/reports/a..b/download":                             http.StatusBadRequest,
	}
	for path, want := range cases {
		resp := h.request(http.MethodGet, path, aliceToken, "")
		if resp.status != want || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %q %s; want %d in JSON", path, resp.status, resp.header.Get("Content-Type"), resp.body, want)
		}
		if want == http.StatusBadRequest {
			expectField(t, resp, "id", "not a report id")
		}
		if strings.Contains(string(resp.body), "OrderId") {
			t.Errorf("GET %s answered the file: %s", path, resp.body)
		}
	}
	if n := store.reads.Load(); n != 0 {
		t.Errorf("the store was read %d times for paths that name no report", n)
	}
}
