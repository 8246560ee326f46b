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
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// publicStore returns an S3 store that reaches srv at 127.0.0.1 but mints
// links for "localhost", as a cluster-internal endpoint and a public one
// would differ.
func publicStore(t *testing.T, srv *testsupport.S3) storage.Store {
	t.Helper()
	store, err := storage.New(context.Background(), storage.Config{
		URL: "s3://" + srv.Bucket, Endpoint: srv.Endpoint,
		PublicEndpoint: strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1),
		Region:         srv.Region, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatalf("storage.New: %v", err)
	}
	return store
}

// get downloads link and returns the status, headers and body.
func get(t *testing.T, link string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the download: %v", err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestPresignedLinkDownloadsWithItsName(t *testing.T) {
	srv := newS3Server(t)
	store := publicStore(t, srv)
	ctx := context.Background()
	content := []byte("Date,OrderId\n2025-01-01,1\n")
	if _, err := store.Put(ctx, "team-a/sales-1.csv", bytes.NewReader(content), storage.PutOptions{ContentType: "text/csv; charset=utf-8"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	link, err := store.PresignGet(ctx, "team-a/sales-1.csv", time.Minute, "Sales 2025 – Q1.csv")
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Host, "localhost:") {
		t.Errorf("the link is for host %s; want the public endpoint's host", u.Host)
	}

	status, header, body := get(t, link)
	if status != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("download: status %d, body %q; want 200 and the stored content", status, body)
	}
	_, params, err := mime.ParseMediaType(header.Get("Content-Disposition"))
	if err != nil || params["filename"] != "Sales 2025 – Q1.csv" {
		t.Errorf("Content-Disposition %q names %q (%v); want the download name", header.Get("Content-Disposition"), params["filename"], err)
	}
	if got := header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
}

func TestTamperedPresignedLinksAreRefused(t *testing.T) {
	srv := newS3Server(t)
	store := publicStore(t, srv)
	ctx := context.Background()
	for _, key := range []string{"team-a/mine.csv", "team-b/theirs.csv"} {
		if _, err := store.Put(ctx, key, strings.NewReader("secret of "+key), storage.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	link, err := store.PresignGet(ctx, "team-a/mine.csv", time.Minute, "mine.csv")
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	tampered := map[string]string{
		"another key":         strings.Replace(link, "team-a/mine.csv", "team-b/theirs.csv", 1),
		"another file name":   strings.Replace(link, "mine.csv", "other.csv", 1),
		"a changed signature": flipLastSignatureChar(t, link),
		"another host":        strings.Replace(link, "localhost", "127.0.0.1", 1),
	}
	for what, bad := range tampered {
		if bad == link {
			t.Fatalf("tampering with %s changed nothing", what)
		}
		if status, _, body := get(t, bad); status != http.StatusForbidden {
			t.Errorf("a link with %s: status %d, body %q; want 403", what, status, body)
		}
	}
	if status, _, _ := get(t, link); status != http.StatusOK {
		t.Errorf("the untampered link: status %d; want 200", status)
	}
}

// flipLastSignatureChar changes the link's signature by one hex digit.
func flipLastSignatureChar(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig := q.Get("X-Amz-Signature")
	if sig == "" {
		t.Fatalf("no X-Amz-Signature in %s", link)
	}
	last := "0"
	if strings.HasSuffix(sig, "0") {
		last = "1"
	}
	q.Set("X-Amz-Signature", sig[:len(sig)-1]+last)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestExpiredPresignedLinkIsRefused(t *testing.T) {
	srv := newS3Server(t)
	store := publicStore(t, srv)
	ctx := context.Background()
	if _, err := store.Put(ctx, "team-a/r.csv", strings.NewReader("a\n"), storage.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	link, err := store.PresignGet(ctx, "team-a/r.csv", time.Second, "")
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	// X-Amz-Date has whole seconds: wait past date + 1 s whatever the rounding.
	time.Sleep(2100 * time.Millisecond)
	if status, _, _ := get(t, link); status != http.StatusForbidden {
		t.Errorf("an expired link: status %d; want 403", status)
	}
	if _, err := store.PresignGet(ctx, "team-a/r.csv", 8*24*time.Hour, ""); err == nil {
		t.Error("PresignGet accepted a validity beyond SigV4's 7 days")
	}
}

func TestFileStoreCannotPresign(t *testing.T) {
	f := newFileFixture(t)
	if _, err := f.store.PresignGet(context.Background(), "a/b.csv", time.Minute, "b.csv"); !errors.Is(err, storage.ErrPresignUnsupported) {
		t.Errorf("PresignGet error = %v; want ErrPresignUnsupported", err)
	}
}

func TestGzipIsStoredAsAFileNotAnEncoding(t *testing.T) {
	srv := newS3Server(t)
	store := publicStore(t, srv)
	ctx := context.Background()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write([]byte("Date,OrderId\n2025-01-01,1\n"))
	_ = w.Close()
	if _, err := store.Put(ctx, "team-a/r.csv.gz", bytes.NewReader(gz.Bytes()), storage.PutOptions{ContentType: "application/gzip", Filename: "r.csv.gz"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	head, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("team-a/r.csv.gz")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(head.ContentType) != "application/gzip" || aws.ToString(head.ContentEncoding) != "" {
		t.Errorf("stored as Content-Type %q, Content-Encoding %q; want application/gzip and no encoding",
			aws.ToString(head.ContentType), aws.ToString(head.ContentEncoding))
	}
	link, err := store.PresignGet(ctx, "team-a/r.csv.gz", time.Minute, "r.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	// A client must receive the gzip bytes as they are, not unpacked.
	if status, _, body := get(t, link); status != http.StatusOK || !bytes.Equal(body, gz.Bytes()) {
		t.Errorf("download: status %d, %d bytes; want the %d gzip bytes", status, len(body), gz.Len())
	}
}

func TestPartSizeGrowsWithTheUpload(t *testing.T) {
	const growEvery = 2
	want := []int64{partSize, partSize, 2 * partSize, 2 * partSize, 3 * partSize, 1000}
	for n, size := range want[:5] {
		if got := storage.PartSize(partSize, n+1, growEvery); got != size {
			t.Fatalf("PartSize(part %d) = %d; want %d", n+1, got, size)
		}
	}
	if got, max := storage.PartSize(storage.DefaultPartSize, 10000, 1000), int64(80<<20); got != max {
		t.Errorf("the 10,000th default part is %d bytes; want %d", got, max)
	}
	if got := storage.MaxObjectSize(storage.DefaultPartSize); got != 55000*storage.DefaultPartSize {
		t.Errorf("MaxObjectSize(8 MiB) = %d", got)
	}

	f := newS3Fixture(t)
	storage.SetPartGrowth(f.store, growEvery)
	var total int64
	for _, s := range want {
		total += s
	}
	content := randomBytes(int(total), 7)
	ctx := context.Background()
	if _, err := f.store.Put(ctx, "team-a/big.csv", bytes.NewReader(content), storage.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for n, size := range want {
		head, err := f.s3.Client().HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: &f.s3.Bucket, Key: aws.String("reports/team-a/big.csv"), PartNumber: aws.Int32(int32(n + 1)),
		})
		if err != nil {
			t.Fatalf("HeadObject part %d: %v", n+1, err)
		}
		if got := aws.ToInt64(head.ContentLength); got != size {
			t.Errorf("part %d is %d bytes; want %d", n+1, got, size)
		}
	}
	if got, _ := readAll(t, f.store, "team-a/big.csv"); !bytes.Equal(got, content) {
		t.Error("the object read back differs from what was put")
	}
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.left)]
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	r.left -= int64(len(p))
	return len(p), nil
}

func TestPartsWaitOnDiskNotInMemory(t *testing.T) {
	f := newS3Fixture(t)
	const size = 4*partSize + 100 // five parts: three upload at once, one is filled
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	put, err := f.store.Put(context.Background(), "team-a/spooled.csv", &patternReader{left: size}, storage.PutOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if put.Size != size {
		t.Fatalf("Put stored %d bytes; want %d", put.Size, size)
	}
	// Buffering the parts in memory would allocate at least a part each.
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated >= partSize {
		t.Errorf("uploading %d bytes allocated %d bytes of memory; want less than one part (%d)", size, allocated, partSize)
	}
	assertNoSpool(t, f)
}

func TestUnwritableSpoolDirIsNamed(t *testing.T) {
	srv := newS3Server(t)
	spool := filepath.Join(t.TempDir(), "missing")
	store, err := storage.New(context.Background(), storage.Config{
		URL: "s3://" + srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region,
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SpoolDir: spool,
	})
	if err != nil {
		t.Fatalf("storage.New: %v", err)
	}
	_, err = store.Put(context.Background(), "team-a/r.csv", strings.NewReader("a,b\n"), storage.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "spooling") || !strings.Contains(err.Error(), spool) {
		t.Errorf("Put error = %v; want one about spooling in %s", err, spool)
	}
}

func TestAbortStaleUploads(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		f := newS3Fixture(t)
		ctx := context.Background()
		client := f.s3.Client()
		// Uploads a killed generator left: two under the store's prefix, one outside it.
		for _, key := range []string{"reports/team-a/old.csv", "reports/team-b/old.csv", "elsewhere/team-a/x.csv"} {
			if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &f.s3.Bucket, Key: aws.String(key)}); err != nil {
				t.Fatalf("CreateMultipartUpload: %v", err)
			}
		}
		checkAbort(t, f.store, "team-a/", time.Now().Add(-time.Hour), 0)
		checkAbort(t, f.store, "team-a/", time.Now().Add(time.Minute), 1)
		assertKeys(t, f.unfinished(t), "reports/team-b/old.csv", "elsewhere/team-a/x.csv")
		checkAbort(t, f.store, "", time.Now().Add(time.Minute), 1)
		assertKeys(t, f.unfinished(t), "elsewhere/team-a/x.csv")
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		store, err := storage.New(context.Background(), storage.Config{URL: "file://" + dir})
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Hour)
		for _, p := range []string{"team-a/.old.csv.1.partial", "team-b/.old.csv.2.partial", "team-a/.fresh.csv.3.partial"} {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p, "fresh") {
				if err := os.Chtimes(full, old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkAbort(t, store, "team-a/", time.Now().Add(-time.Hour), 1)
		checkAbort(t, store, "", time.Now().Add(-time.Hour), 1)
		left := partialFiles(t, dir)
		if len(left) != 1 || !strings.HasSuffix(left[0], ".fresh.csv.3.partial") {
			t.Errorf("left %v; want only the fresh partial", left)
		}
	})
}

// checkAbort runs AbortStaleUploads and checks how many it aborted.
func checkAbort(t *testing.T, store storage.Store, prefix string, olderThan time.Time, want int) {
	t.Helper()
	got, err := store.AbortStaleUploads(context.Background(), prefix, olderThan)
	if err != nil || got != want {
		t.Errorf("AbortStaleUploads(%q, %s) = %d, %v; want %d", prefix, olderThan.Format(time.TimeOnly), got, err, want)
	}
}

// assertKeys compares unordered key lists.
func assertKeys(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("unfinished uploads %v; want %v", got, want)
	}
}

// A missing bucket is a configuration error: the message names the object's
// URI so an operator knows where to look.
func TestMissingBucketErrorNamesTheObject(t *testing.T) {
	srv := newS3Server(t)
	store, err := storage.New(context.Background(), storage.Config{
		URL: "s3://no-such-bucket", Endpoint: srv.Endpoint, Region: srv.Region,
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(context.Background(), "a/b.csv", strings.NewReader("x"), storage.PutOptions{}); err == nil ||
		!strings.Contains(err.Error(), "s3://no-such-bucket/a/b.csv") {
		t.Errorf("Put error %v does not name the object", err)
	}
}
