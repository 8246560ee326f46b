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
	"os"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Why not the SDK's transfer manager: for a stream of unknown length it
// keeps one part size for the whole upload, so 10,000 parts of 8 MiB cap a
// report at 78 GiB, and a bigger fixed part costs more on every small
// report; and it holds the parts in flight in memory (32 MiB with its
// defaults), half of the generator's memory target. This uploader grows
// the part size as the upload grows and spools the parts to disk instead.
const (
	// DefaultPartSize is the first part's size when Config.PartSize is 0.
	DefaultPartSize = 8 << 20
	// minPartSize is S3's smallest part (all but the last).
	minPartSize = 5 << 20
	// maxPartSize is S3's largest part.
	maxPartSize = 5 << 30
	// maxParts is S3's limit of parts per upload.
	maxParts = 10000
	// partsPerStep is how many parts are sent before the part size grows.
	partsPerStep = 1000
	// defaultConcurrency is how many parts upload at once by default.
	defaultConcurrency = 3
)

// errTooLarge is returned when a report outgrows the largest upload.
var errTooLarge = errors.New("the report is larger than the storage's largest upload")

// partSize is the size of part n (from 1): the first part size, plus that
// much again every 1,000 parts. With 8 MiB the parts are 8, 16, ... 80 MiB,
// and 10,000 of them hold MaxObjectSize(8 MiB) = 430 GiB.
func partSize(first int64, n, growEvery int) int64 {
	return first * int64(1+(n-1)/growEvery)
}

// MaxObjectSize is the largest object a multipart upload starting with
// parts of firstPartSize bytes can store: firstPartSize x 55,000
// (430 GiB for the default 8 MiB, 859 GiB for 16 MiB).
func MaxObjectSize(firstPartSize int64) int64 {
	steps := int64(maxParts / partsPerStep)
	return firstPartSize * partsPerStep * steps * (steps + 1) / 2
}

// uploader streams one object. Parts wait for their upload in temporary
// files of the spool directory, not in memory, so the generator's memory
// does not grow with the part size or the parts in flight; the files are
// unlinked as soon as they are created, so nothing is left behind even if
// the process dies. At most workers+1 parts exist at a time: one being
// filled from the reader while the others upload.
type uploader struct {
	store *s3Store
	key   string
	opts  PutOptions
	slots chan struct{} // one token per part that exists
	copy  []byte        // copy buffer from the reader to a part's file

	mu    sync.Mutex
	err   error
	parts []types.CompletedPart
}

// newUploader prepares an upload of key (a full S3 key).
func newUploader(store *s3Store, key string, opts PutOptions) *uploader {
	return &uploader{
		store: store, key: key, opts: opts,
		slots: make(chan struct{}, store.workers+1), copy: make([]byte, spoolCopyBuffer),
	}
}

// spoolCopyBuffer is the copy buffer between the reader and a part's file.
const spoolCopyBuffer = 64 << 10

// spooledPart is one part's bytes in an unlinked temporary file.
type spooledPart struct {
	file *os.File
	size int64
}

// body reads the part from its start; it seeks, so the SDK can sign the
// payload and retry.
func (p *spooledPart) body() io.ReadSeeker { return io.NewSectionReader(p.file, 0, p.size) }

// upload sends r as one PutObject when it fits in the first part, else as
// a multipart upload; it returns the object's size.
func (u *uploader) upload(ctx context.Context, r io.Reader) (int64, error) {
	first, last, err := u.fill(ctx, r, 1)
	if err != nil {
		return 0, err
	}
	if last {
		defer u.release(first)
		return u.putSingle(ctx, first)
	}
	return u.putMultipart(ctx, r, first)
}

// fill copies part n from r into a new spool file, waiting while
// workers+1 parts exist. last is true when r ended within the part; an
// empty part means r ended exactly at the previous one.
func (u *uploader) fill(ctx context.Context, r io.Reader, n int) (p *spooledPart, last bool, err error) {
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	f, err := newSpoolFile(u.store.spoolDir)
	if err != nil {
		<-u.slots
		return nil, false, err
	}
	p = &spooledPart{file: f}
	w := &spoolWriter{f: f}
	size := partSize(u.store.partSize, n, u.store.growEvery)
	p.size, err = io.CopyBuffer(w, io.LimitReader(r, size), u.copy)
	switch {
	case w.err != nil:
		u.release(p)
		return nil, false, fmt.Errorf("spooling part %d of s3://%s/%s in %s: %w", n, u.store.bucket, u.key, u.store.spoolDir, w.err)
	case err != nil:
		u.release(p)
		return nil, false, err
	}
	return p, p.size < size, nil
}

// release closes a part's file, which frees its disk space, and lets the
// next part be filled.
func (u *uploader) release(p *spooledPart) {
	_ = p.file.Close()
	<-u.slots
}

// newSpoolFile creates an empty temporary file in dir and unlinks it at
// once: it lives until it is closed, and no crash can leave it behind.
func newSpoolFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "reportd-part-*")
	if err != nil {
		return nil, fmt.Errorf("spooling an upload part: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("spooling an upload part: %w", err)
	}
	return f, nil
}

// spoolWriter writes to a part's file and keeps its error, so a full disk
// is told from a failing reader. It hides the file's ReadFrom, so the copy
// goes through the uploader's buffer.
type spoolWriter struct {
	f   *os.File
	err error
}

// Write implements io.Writer.
func (w *spoolWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// putSingle stores a small object in one request, which S3 makes visible
// atomically.
func (u *uploader) putSingle(ctx context.Context, p *spooledPart) (int64, error) {
	in := &s3.PutObjectInput{
		Bucket: &u.store.bucket, Key: &u.key, Body: p.body(), ContentLength: aws.Int64(p.size),
	}
	in.ContentType, in.ContentDisposition = u.headers()
	if u.store.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	if _, err := u.store.client.PutObject(ctx, in); err != nil {
		return 0, fmt.Errorf("uploading s3://%s/%s: %w", u.store.bucket, u.key, err)
	}
	return p.size, nil
}

// headers returns the Content-Type and Content-Disposition to store.
func (u *uploader) headers() (contentType, disposition *string) {
	if u.opts.ContentType != "" {
		contentType = aws.String(u.opts.ContentType)
	}
	if cd := contentDisposition(u.opts.Filename); cd != "" {
		disposition = aws.String(cd)
	}
	return contentType, disposition
}

// putMultipart runs a multipart upload and completes it only if every part
// was sent; otherwise it aborts it, even when ctx is already cancelled.
func (u *uploader) putMultipart(ctx context.Context, r io.Reader, first *spooledPart) (int64, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &u.store.bucket, Key: &u.key}
	in.ContentType, in.ContentDisposition = u.headers()
	if u.store.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	created, err := u.store.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		u.release(first)
		return 0, fmt.Errorf("starting an upload of s3://%s/%s: %w", u.store.bucket, u.key, err)
	}
	size, err := u.sendParts(ctx, created.UploadId, r, first)
	if err == nil {
		err = u.complete(ctx, created.UploadId)
	}
	if err != nil {
		return 0, u.abort(ctx, created.UploadId, err)
	}
	return size, nil
}

// part is one numbered chunk of the object.
type part struct {
	number int32
	*spooledPart
}

// sendParts reads r part by part and uploads the parts concurrently. The
// first failure (reading, uploading, or ctx) stops it.
func (u *uploader) sendParts(ctx context.Context, uploadID *string, r io.Reader, first *spooledPart) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan part)
	var wg sync.WaitGroup
	for range u.store.workers {
		wg.Go(func() { u.work(ctx, cancel, uploadID, jobs) })
	}
	size, next, last := int64(0), first, false
	for n := 1; ; n++ {
		select {
		case jobs <- part{number: int32(n), spooledPart: next}:
			size += next.size
		case <-ctx.Done():
			u.fail(ctx.Err())
			u.release(next)
		}
		if last || u.failed() != nil {
			break
		}
		if n == maxParts {
			u.fail(fmt.Errorf("%w (%d bytes)", errTooLarge, MaxObjectSize(u.store.partSize)))
			break
		}
		var err error
		if next, last, err = u.fill(ctx, r, n+1); err != nil {
			u.fail(err)
			break
		}
		if next.size == 0 {
			u.release(next)
			break
		}
	}
	close(jobs)
	wg.Wait()
	return size, u.failed()
}

// work uploads parts until jobs closes, releasing each when done.
func (u *uploader) work(ctx context.Context, cancel context.CancelFunc, uploadID *string, jobs <-chan part) {
	for p := range jobs {
		if u.failed() == nil {
			if err := u.uploadPart(ctx, uploadID, p); err != nil {
				u.fail(err)
				cancel()
			}
		}
		u.release(p.spooledPart)
	}
}

// uploadPart sends one part and records it for the completion request.
func (u *uploader) uploadPart(ctx context.Context, uploadID *string, p part) error {
	in := &s3.UploadPartInput{
		Bucket: &u.store.bucket, Key: &u.key, UploadId: uploadID, PartNumber: aws.Int32(p.number),
		Body: p.body(), ContentLength: aws.Int64(p.size),
	}
	if u.store.checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	out, err := u.store.client.UploadPart(ctx, in)
	if err != nil {
		return fmt.Errorf("uploading part %d of s3://%s/%s: %w", p.number, u.store.bucket, u.key, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.parts = append(u.parts, types.CompletedPart{
		PartNumber: aws.Int32(p.number), ETag: out.ETag,
		ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C,
		ChecksumCRC64NVME: out.ChecksumCRC64NVME, ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256,
	})
	return nil
}

// complete makes the object visible under its key.
func (u *uploader) complete(ctx context.Context, uploadID *string) error {
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber))
	})
	_, err := u.store.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.store.bucket, Key: &u.key, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	})
	if err != nil {
		return fmt.Errorf("completing the upload of s3://%s/%s: %w", u.store.bucket, u.key, err)
	}
	return nil
}

// abort discards the unfinished upload with a fresh deadline, since ctx may
// be the reason the upload failed, and returns cause (with the abort's own
// failure, if any).
func (u *uploader) abort(ctx context.Context, uploadID *string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := u.store.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &u.store.bucket, Key: &u.key, UploadId: uploadID,
	})
	if err != nil && !isNoSuchUpload(err) {
		return errors.Join(cause, fmt.Errorf("the unfinished upload could not be aborted either: %w", err))
	}
	return cause
}

// fail records the first error of the upload.
func (u *uploader) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
	}
}

// failed returns the first error of the upload, if any.
func (u *uploader) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}
