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

package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// partialSuffix ends the name of a file being written. Such files are
// hidden (a leading dot) and renamed into place only when complete.
const partialSuffix = ".partial"

// fileStore keeps objects as files under a directory, for a single machine.
type fileStore struct {
	dir string
}

// newFileStore opens file:///dir, creating the directory if needed.
func newFileStore(u *url.URL) (*fileStore, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("storage URL %q: file URLs name a local directory (file:///dir)", u.String())
	}
	dir := filepath.Clean(u.Path)
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("storage URL %q: the directory must be absolute", u.String())
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating the storage directory: %w", err)
	}
	return &fileStore{dir: dir}, nil
}

// path is the file holding key.
func (s *fileStore) path(key string) string { return filepath.Join(s.dir, filepath.FromSlash(key)) }

// Put implements Store: it writes a hidden temporary file next to the
// target, syncs it, and renames it into place only when all went well.
func (s *fileStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	target := s.path(key)
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", s.URI(key), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*"+partialSuffix)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", s.URI(key), err)
	}
	size, err := writeAndSync(ctx, tmp, r)
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", s.URI(key), err)
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(filepath.Dir(target)); err != nil {
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", s.URI(key), err)
	}
	return ObjectInfo{Key: key, Size: size, ContentType: contentTypeOf(key), LastModified: time.Now()}, nil
}

// writeAndSync copies r into f, stopping when ctx ends, and closes f.
func writeAndSync(ctx context.Context, f *os.File, r io.Reader) (int64, error) {
	size, err := io.Copy(f, &contextReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return size, err
}

// contextReader fails reads once its context ends, so a cancelled Put
// stops at the next chunk.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

// Read implements io.Reader.
func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir flushes a directory's entries to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// Head implements Store.
func (s *fileStore) Head(_ context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	info, err := os.Stat(s.path(key))
	if err != nil {
		return ObjectInfo{}, s.wrapErr(key, err)
	}
	if !info.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, s.URI(key))
	}
	return s.info(key, info), nil
}

// Open implements Store.
func (s *fileStore) Open(_ context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, ObjectInfo{}, s.wrapErr(key, err)
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, s.URI(key))
	}
	return f, s.info(key, info), nil
}

// info describes a stored file.
func (s *fileStore) info(key string, info fs.FileInfo) ObjectInfo {
	return ObjectInfo{Key: key, Size: info.Size(), ContentType: contentTypeOf(key), LastModified: info.ModTime()}
}

// Delete implements Store: the file and any partial upload of the same key.
// Removing a partial that a writer still holds makes that writer's rename
// fail, so a late upload cannot outlive the deletion.
func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.AbortUploads(ctx, key); err != nil {
		return err
	}
	target := s.path(key)
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", s.URI(key), err)
	}
	return nil
}

// AbortUploads implements Store: it removes the partial files of key.
// Removing a partial that a writer still holds makes that writer's rename
// fail.
func (s *fileStore) AbortUploads(_ context.Context, key string) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	target := s.path(key)
	return s.removePartials(filepath.Dir(target), func(name string, _ fs.FileInfo) bool {
		return partialTarget(name) == filepath.Base(target)
	})
}

// AbortStaleUploads implements Store: it removes partial files older than
// olderThan whose key starts with prefix.
func (s *fileStore) AbortStaleUploads(_ context.Context, prefix string, olderThan time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	removed := 0
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), partialSuffix) {
			return nil
		}
		if !s.isStalePartial(p, d, prefix, olderThan) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("removing stale partial files: %w", err)
	}
	return removed, nil
}

// isStalePartial reports whether the partial file at p, found by the walk,
// becomes a file under prefix and was last written before olderThan. A
// file that vanished meanwhile is not stale: its writer finished or gave up.
func (s *fileStore) isStalePartial(p string, d fs.DirEntry, prefix string, olderThan time.Time) bool {
	rel, err := filepath.Rel(s.dir, filepath.Join(filepath.Dir(p), partialTarget(d.Name())))
	if err != nil || !strings.HasPrefix(filepath.ToSlash(rel), prefix) {
		return false
	}
	info, err := d.Info()
	return err == nil && info.ModTime().Before(olderThan)
}

// removePartials removes the partial files in dir that match.
func (s *fileStore) removePartials(dir string, match func(name string, info fs.FileInfo) bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing partial files: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), partialSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil || !match(e.Name(), info) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("removing a partial file: %w", err)
		}
		removed++
	}
	return removed, nil
}

// partialTarget is the file name a partial file becomes:
// ".sales-1a2b.csv.123456.partial" -> "sales-1a2b.csv".
func partialTarget(name string) string {
	base := strings.TrimSuffix(strings.TrimPrefix(name, "."), partialSuffix)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return base[:i]
	}
	return base
}

// PresignGet implements Store: file storage cannot mint links.
func (s *fileStore) PresignGet(context.Context, string, time.Duration, string) (string, error) {
	return "", ErrPresignUnsupported
}

// URI implements Store.
func (s *fileStore) URI(key string) string {
	return (&url.URL{Scheme: "file", Path: path.Join(filepath.ToSlash(s.dir), key)}).String()
}

// wrapErr maps a missing file to ErrNotFound.
func (s *fileStore) wrapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, s.URI(key))
	}
	return fmt.Errorf("reading %s: %w", s.URI(key), err)
}

// contentTypeOf derives a file's content type from its report format
// extension, since a plain file has no metadata to store one in.
func contentTypeOf(key string) string {
	switch {
	case strings.HasSuffix(key, ".csv.gz"):
		return "application/gzip"
	case strings.HasSuffix(key, ".csv"):
		return "text/csv; charset=utf-8"
	case strings.HasSuffix(key, ".jsonl"):
		return "application/x-ndjson"
	case strings.HasSuffix(key, ".xlsx"):
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}
