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
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"k8s.io/apimachinery/pkg/types"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// partSize is the smallest part S3 allows, so multipart paths run with
// little data.
const partSize = 5 << 20

// fixture is one store under test and a way to see what unfinished work
// it holds.
type fixture struct {
	store storage.Store
	// unfinished lists what a failed or in-flight Put leaves behind: open
	// multipart uploads (S3) or partial files (file storage).
	unfinished func(t *testing.T) []string
	// s3 is the server behind an S3 store; nil for file storage.
	s3 *testsupport.S3
	// spoolDir is where an S3 store spools its parts; "" for file storage.
	spoolDir string
	// dir is a file store's directory; "" for S3.
	dir string
}

// forEachStore runs test against an S3 store on a real versitygw and a file
// store in a temporary directory.
func forEachStore(t *testing.T, test func(t *testing.T, f fixture)) {
	t.Run("s3", func(t *testing.T) { test(t, newS3Fixture(t)) })
	t.Run("file", func(t *testing.T) { test(t, newFileFixture(t)) })
}

func newS3Fixture(t *testing.T) fixture {
	t.Helper()
	srv := newS3Server(t)
	spool := t.TempDir()
	store, err := storage.New(context.Background(), storage.Config{
		URL: "s3://" + srv.Bucket + "/reports", Endpoint: srv.Endpoint, Region: srv.Region,
		PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PartSize: partSize,
		SpoolDir: spool,
	})
	if err != nil {
		t.Fatalf("storage.New: %v", err)
	}
	return fixture{store: store, s3: srv, spoolDir: spool, unfinished: func(t *testing.T) []string {
		t.Helper()
		out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		return keys
	}}
}

func newFileFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := storage.New(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatalf("storage.New: %v", err)
	}
	return fixture{store: store, dir: dir, unfinished: func(t *testing.T) []string { t.Helper(); return partialFiles(t, dir) }}
}

// partialFiles lists the partial files under dir.
func partialFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".partial") {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return found
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// readAll opens key and returns its content.
func readAll(t *testing.T, store storage.Store, key string) ([]byte, storage.ObjectInfo) {
	t.Helper()
	rc, info, err := store.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return data, info
}

// assertAbsent checks that key has no object and nothing unfinished remains.
func assertAbsent(t *testing.T, f fixture, key string) {
	t.Helper()
	if info, err := f.store.Head(context.Background(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Head(%s) = %+v, %v; want ErrNotFound", key, info, err)
	}
	if left := f.unfinished(t); len(left) != 0 {
		t.Errorf("unfinished uploads left behind: %v", left)
	}
	assertNoSpool(t, f)
}

// assertNoSpool checks that an S3 store's finished Put left no part file
// in its spool directory, and none open in this process (an unlinked file
// still holds its disk space while it is open).
func assertNoSpool(t *testing.T, f fixture) {
	t.Helper()
	if f.spoolDir == "" {
		return
	}
	var left []string
	entries, err := os.ReadDir(f.spoolDir)
	if err != nil {
		t.Fatalf("reading the spool directory: %v", err)
	}
	for _, e := range entries {
		left = append(left, e.Name())
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open files: %v", err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, f.spoolDir+"/") {
			left = append(left, "open: "+target)
		}
	}
	if len(left) != 0 {
		t.Errorf("part files left in the spool directory: %v", left)
	}
}

func TestPutHeadOpenRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		cases := map[string]int{
			"empty":                         0,
			"one small request":             1234,
			"exactly one part":              partSize,
			"multipart with a partial last": 3*partSize + 4321,
		}
		for name, size := range cases {
			t.Run(name, func(t *testing.T) {
				key := "team-a/" + strings.ReplaceAll(name, " ", "-") + ".csv"
				want := randomBytes(size, uint64(size))
				put, err := f.store.Put(ctx, key, bytes.NewReader(want), storage.PutOptions{ContentType: "text/csv; charset=utf-8", Filename: "sales.csv"})
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if put.Size != int64(size) || put.Key != key {
					t.Errorf("Put returned %+v; want key %s and size %d", put, key, size)
				}
				head, err := f.store.Head(ctx, key)
				if err != nil {
					t.Fatalf("Head: %v", err)
				}
				if head.Size != int64(size) || head.ContentType != "text/csv; charset=utf-8" {
					t.Errorf("Head = %+v; want size %d and the CSV content type", head, size)
				}
				got, info := readAll(t, f.store, key)
				if !bytes.Equal(got, want) || info.Size != int64(size) {
					t.Errorf("Open returned %d bytes (info size %d) that differ from the %d put", len(got), info.Size, size)
				}
				if left := f.unfinished(t); len(left) != 0 {
					t.Errorf("unfinished uploads after a successful Put: %v", left)
				}
				assertNoSpool(t, f)
			})
		}
	})
}

func TestPutReplacesAnExistingObject(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		for _, content := range []string{"first attempt\n", "second\n"} {
			if _, err := f.store.Put(ctx, "ns/r.csv", strings.NewReader(content), storage.PutOptions{}); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if got, _ := readAll(t, f.store, "ns/r.csv"); string(got) != "second\n" {
			t.Errorf("content after two Puts = %q; want the second", got)
		}
	})
}

// failingReader yields its data and then fails.
func failingReader(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), &errReader{err: err})
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestPutWithAFailingReaderLeavesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		boom := errors.New("the database connection was lost")
		for name, size := range map[string]int{"within the first part": 1000, "after two parts": 2*partSize + 10} {
			t.Run(name, func(t *testing.T) {
				_, err := f.store.Put(context.Background(), "team-a/broken.csv", failingReader(randomBytes(size, 1), boom), storage.PutOptions{})
				if !errors.Is(err, boom) {
					t.Fatalf("Put error = %v; want the reader's error", err)
				}
				assertAbsent(t, f, "team-a/broken.csv")
			})
		}
	})
}

// endlessReader yields bytes forever and cancels its context once it has
// given cancelAfter bytes, like a generator whose Job is being stopped.
type endlessReader struct {
	given       int
	cancelAfter int
	cancel      context.CancelFunc
}

func (e *endlessReader) Read(p []byte) (int, error) {
	if e.given >= e.cancelAfter {
		e.cancel()
	}
	for i := range p {
		p[i] = 'x'
	}
	e.given += len(p)
	return len(p), nil
}

func TestPutWithACancelledContextLeavesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := &endlessReader{cancelAfter: 2*partSize + 100, cancel: cancel}
		_, err := f.store.Put(ctx, "team-a/cancelled.csv", r, storage.PutOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put error = %v; want context.Canceled", err)
		}
		assertAbsent(t, f, "team-a/cancelled.csv")
	})
}

func TestDeleteIsIdempotentAndAbortsAnUploadInFlight(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const key = "team-a/deleted-while-running.csv"
		pr, pw := io.Pipe()
		putErr := make(chan error, 1)
		go func() {
			_, err := f.store.Put(ctx, key, pr, storage.PutOptions{})
			_ = pr.CloseWithError(err) // unblock the writer below if Put gave up
			putErr <- err
		}()
		if _, err := pw.Write(randomBytes(partSize+100, 2)); err != nil {
			t.Fatalf("writing the first part: %v", err)
		}
		waitFor(t, "an unfinished upload to appear", func() bool { return len(f.unfinished(t)) > 0 })
		if f.s3 != nil {
			// A part still in flight when its upload is aborted may bring the
			// upload back on versitygw (AWS: "might or might not succeed").
			// In production the manager deletes only once the generator's pods
			// are gone; here, wait until the first part is stored.
			waitFor(t, "the first part to be stored", func() bool { return storedParts(t, f.s3, "reports/"+key) > 0 })
		}

		if err := f.store.Delete(ctx, key); err != nil {
			t.Fatalf("Delete during the upload: %v", err)
		}
		if left := f.unfinished(t); len(left) != 0 {
			t.Errorf("Delete left unfinished uploads: %v", left)
		}
		// The generator goes on writing, unaware: its upload must fail.
		_, _ = pw.Write(randomBytes(2*partSize, 3))
		_ = pw.Close()
		if err := <-putErr; err == nil {
			t.Error("Put succeeded although its key was deleted during the upload")
		}
		assertAbsent(t, f, key)

		if _, err := f.store.Put(ctx, key, strings.NewReader("a,b\n"), storage.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		for range 2 {
			if err := f.store.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		assertAbsent(t, f, key)
		if err := f.store.Delete(ctx, "team-a/never-existed.csv"); err != nil {
			t.Errorf("Delete of a key that never existed: %v", err)
		}
	})
}

// leaveUpload leaves an unfinished upload of key, as a generator killed
// mid-upload does: an open multipart upload, or a partial file.
func (f fixture) leaveUpload(t *testing.T, key string, n int) {
	t.Helper()
	if f.s3 != nil {
		full := "reports/" + key
		if _, err := f.s3.Client().CreateMultipartUpload(context.Background(),
			&s3.CreateMultipartUploadInput{Bucket: &f.s3.Bucket, Key: &full}); err != nil {
			t.Fatalf("CreateMultipartUpload: %v", err)
		}
		return
	}
	dir, base := filepath.Split(filepath.Join(f.dir, filepath.FromSlash(key)))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, fmt.Sprintf(".%s.%d.partial", base, n))
	if err := os.WriteFile(partial, []byte("half a report"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A report's next attempt aborts what killed attempts left under its key,
// and nothing else: not another key sharing its prefix, not the object.
func TestAbortUploadsAbortsOnlyThatKeysUploads(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		const key, other = "team-a/r-1a2b.csv", "team-a/r-1a2b.csv.gz"
		if _, err := f.store.Put(ctx, key, strings.NewReader("a,b\n"), storage.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		f.leaveUpload(t, key, 1)
		f.leaveUpload(t, key, 2)
		f.leaveUpload(t, other, 3)
		if n, err := f.store.AbortUploads(ctx, key); err != nil || n != 2 {
			t.Errorf("AbortUploads(%s) = %d, %v; want 2", key, n, err)
		}
		if left := f.unfinished(t); len(left) != 1 || !strings.Contains(left[0], "r-1a2b.csv.gz") {
			t.Errorf("unfinished after AbortUploads: %v; want only the upload of %s", left, other)
		}
		if got, _ := readAll(t, f.store, key); string(got) != "a,b\n" {
			t.Errorf("the object under %s reads %q after AbortUploads; want it untouched", key, got)
		}
		if n, err := f.store.AbortUploads(ctx, key); err != nil || n != 0 {
			t.Errorf("a second AbortUploads(%s) = %d, %v; want 0", key, n, err)
		}
		if _, err := f.store.AbortUploads(ctx, "../outside.csv"); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("AbortUploads of a key leaving the store = %v; want ErrInvalidKey", err)
		}
	})
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInvalidKeysAreRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, f fixture) {
		for _, key := range []string{"", "/etc/passwd", "../outside.csv", "a/../../b.csv", "a//b.csv", "a\\b.csv", "."} {
			if _, err := f.store.Put(context.Background(), key, strings.NewReader("x"), storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v; want ErrInvalidKey", key, err)
			}
			if _, err := f.store.Head(context.Background(), key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Head(%q) error = %v; want ErrInvalidKey", key, err)
			}
		}
	})
}

func TestReportKey(t *testing.T) {
	cases := []struct {
		namespace, name, uid string
		format               reportsv1alpha1.ReportFormat
		want                 string
	}{
		{"team-a", "sales-2025", "1a2b3c4d-5e6f-7a8b-9c0d-0e1f2a3b4c5d", reportsv1alpha1.FormatCSV, "team-a/sales-2025-1a2b3c4d.csv"},
		{"team-a", "sales", "1a2b3c4d-5e6f", reportsv1alpha1.FormatCSVGz, "team-a/sales-1a2b3c4d.csv.gz"},
		{"b", "users", "abc", reportsv1alpha1.FormatJSONL, "b/users-abc.jsonl"},
		{"b", "inv", "0123456789", reportsv1alpha1.FormatXLSX, "b/inv-01234567.xlsx"},
		{"b", "default-format", "0123456789", "", "b/default-format-01234567.csv"},
	}
	for _, c := range cases {
		if got := storage.ReportKey(c.namespace, c.name, types.UID(c.uid), c.format); got != c.want {
			t.Errorf("ReportKey(%s, %s, %s, %s) = %s; want %s", c.namespace, c.name, c.uid, c.format, got, c.want)
		}
	}
}

func TestURI(t *testing.T) {
	f := newFileFixture(t)
	if got := f.store.URI("team-a/x.csv"); !strings.HasPrefix(got, "file:///") || !strings.HasSuffix(got, "/team-a/x.csv") {
		t.Errorf("file URI = %s", got)
	}
	store, err := storage.New(context.Background(), storage.Config{URL: "s3://bucket/some/prefix/", Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := store.URI("team-a/x.csv"); got != "s3://bucket/some/prefix/team-a/x.csv" {
		t.Errorf("s3 URI = %s", got)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "http://bucket/x", "s3:///prefix", "file://relative/dir", "file://otherhost/dir"} {
		if _, err := storage.New(context.Background(), storage.Config{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded; want an error", u)
		}
	}
	if _, err := storage.New(context.Background(), storage.Config{URL: "s3://b", PartSize: 1 << 20}); err == nil {
		t.Error("New accepted a part size below S3's 5 MiB minimum")
	}
}

func TestFileStoreKeepsPartialsHiddenAndDeletesThem(t *testing.T) {
	dir := t.TempDir()
	store, err := storage.New(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	// A partial left by a killed writer, and one of another key.
	for _, name := range []string{".r.csv.123.partial", ".other.csv.456.partial"} {
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ns", name), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Head(context.Background(), "ns/r.csv"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a partial file is visible: Head = %v", err)
	}
	if err := store.Delete(context.Background(), "ns/r.csv"); err != nil {
		t.Fatal(err)
	}
	left := partialFiles(t, dir)
	if len(left) != 1 || filepath.Base(left[0]) != ".other.csv.456.partial" {
		t.Errorf("after Delete the partials are %v; want only the other key's", left)
	}
}
