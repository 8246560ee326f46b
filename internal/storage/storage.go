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

// Package storage keeps finished report files: in an S3 bucket
// (s3://bucket/prefix) or in a local directory (file:///dir). The generator
// puts, the facade downloads, the manager checks and deletes; all of them
// use the one small Store interface.
//
// A file becomes visible under its key only once the whole upload has
// succeeded: S3 completes a multipart upload atomically, and file storage
// renames a finished temporary file into place. A failed Put leaves nothing.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
)

var (
	// ErrNotFound is returned by Head and Open when no object has the key.
	ErrNotFound = errors.New("object not found")
	// ErrPresignUnsupported is returned by PresignGet of a store that cannot
	// mint links (file storage): stream the file with Open instead.
	ErrPresignUnsupported = errors.New("this storage cannot presign download links")
	// ErrInvalidKey is returned for keys that are empty, absolute, or would
	// leave the store's prefix ("..").
	ErrInvalidKey = errors.New("invalid object key")
)

// Store keeps report files under keys such as "team-a/sales-1a2b3c4d.csv".
// Keys are relative to the store's prefix (S3) or directory (file).
type Store interface {
	// Put streams r to key. The object becomes visible under key only after
	// the whole upload succeeded; on error nothing is left behind (a
	// multipart upload is aborted, a temporary file removed). Put reads r
	// until EOF or an error; a writer feeding r through an io.Pipe must
	// close it when its own work fails or is cancelled.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Head describes the object under key, or returns ErrNotFound.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object under key and aborts unfinished uploads of
	// exactly that key. Deleting what is not there is not an error.
	Delete(ctx context.Context, key string) error
	// AbortUploads aborts every unfinished upload of exactly key, and
	// returns how many it aborted. A report's next attempt calls it before
	// its own upload: the attempts before it are over, and what a killed
	// one left would otherwise wait for the stale-upload sweep.
	AbortUploads(ctx context.Context, key string) (int, error)
	// AbortStaleUploads aborts unfinished uploads whose key starts with
	// prefix and that began before olderThan (a killed generator leaves
	// them), and returns how many it aborted.
	AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Time) (int, error)
	// Open streams the object under key; the caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// PresignGet returns a link that downloads key for ttl, signed for the
	// public endpoint, naming the download downloadName (if not empty).
	// File storage returns ErrPresignUnsupported.
	PresignGet(ctx context.Context, key string, ttl time.Duration, downloadName string) (string, error)
	// URI is the stable URI of key (s3://bucket/prefix/key or
	// file:///dir/key), as recorded in status.result.url.
	URI(key string) string
}

// PutOptions describe the object being stored.
type PutOptions struct {
	// ContentType of the object, e.g. "text/csv; charset=utf-8".
	ContentType string
	// Filename is the name a browser saves the download as; it is stored as
	// the object's Content-Disposition (S3).
	Filename string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key, relative to the store.
	Key string
	// Size in bytes.
	Size int64
	// ContentType as stored (S3) or derived from the key's extension (file).
	ContentType string
	// LastModified is when the object was written.
	LastModified time.Time
	// ETag is the S3 entity tag; empty for file storage.
	ETag string
}

// Config selects and configures a Store.
type Config struct {
	// URL is "s3://bucket/prefix" or "file:///dir".
	URL string
	// Endpoint is the S3 endpoint the generator and manager reach, e.g.
	// "http://versitygw.storage:7070"; AWS's own endpoint when empty.
	Endpoint string
	// PublicEndpoint is the S3 endpoint users' browsers reach. Presigned
	// links sign the Host, so they must be minted for this endpoint.
	// Endpoint is used when empty.
	PublicEndpoint string
	// Region of the bucket; us-east-1 when empty and the SDK's default
	// chain finds none.
	Region string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name, as most S3-compatible servers need.
	PathStyle bool
	// AccessKey and SecretKey are static credentials; when empty the SDK's
	// default chain (environment, web identity, instance role) is used.
	AccessKey string
	// SecretKey pairs with AccessKey.
	SecretKey string
	// ChecksumWhenSupported makes the SDK send and check CRC32 checksums on
	// every request that supports them. By default (false) checksums are
	// sent and checked only when an operation requires them, because many
	// S3-compatible servers refuse the SDK's default checksums.
	ChecksumWhenSupported bool
	// PartSize is the first multipart part's size in bytes (at least 5 MiB,
	// default 8 MiB). Parts grow by this much every 1,000 parts; see
	// MaxObjectSize.
	PartSize int64
	// Concurrency is how many parts upload at once (default 3).
	Concurrency int
	// SpoolDir is where parts wait for their upload, in unlinked temporary
	// files: up to (Concurrency+1) times the current part size of disk
	// (32 MiB with the defaults), instead of memory. os.TempDir() ($TMPDIR,
	// else /tmp; the generator's Job mounts an emptyDir there) when empty.
	SpoolDir string
}

// New returns the Store that cfg.URL names.
func New(ctx context.Context, cfg Config) (Store, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("storage URL %q: %w", cfg.URL, err)
	}
	switch u.Scheme {
	case "s3":
		return newS3Store(ctx, cfg, u)
	case "file":
		return newFileStore(u)
	default:
		return nil, fmt.Errorf("storage URL %q: the scheme must be s3:// or file://", cfg.URL)
	}
}

// ReportKey is the one place a report's object key is computed:
// "<namespace>/<name>-<first 8 characters of uid>.<format>". The uid part
// keeps a re-created request of the same name from reading or overwriting
// its predecessor's file. The manager computes the key itself and accepts
// a generator's result only for this key.
func ReportKey(namespace, name string, uid types.UID, format reportsv1alpha1.ReportFormat) string {
	short := string(uid)
	if len(short) > 8 {
		short = short[:8]
	}
	if format == "" {
		format = reportsv1alpha1.FormatCSV
	}
	// The format names double as extensions: csv, csv.gz, jsonl, xlsx.
	return namespace + "/" + name + "-" + short + "." + string(format)
}

// checkKey rejects keys that could escape the store's prefix or directory.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") ||
		strings.ContainsRune(key, 0) || path.Clean(key) != key || key == "." ||
		key == ".." || strings.HasPrefix(key, "../") {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// checkPrefix accepts "" (everything) or a key prefix such as "team-a/".
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkKey(strings.TrimSuffix(prefix, "/"))
}

// contentDisposition makes an attachment header naming filename; non-ASCII
// names are encoded as RFC 2231 asks.
func contentDisposition(filename string) string {
	if filename == "" {
		return ""
	}
	return mime.FormatMediaType("attachment", map[string]string{"filename": filename})
}
