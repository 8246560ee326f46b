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
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// cleanupTimeout bounds an abort made after the caller's context ended:
// the abort must still reach the server, so it gets a fresh deadline.
const cleanupTimeout = 30 * time.Second

// maxPresignTTL is the longest validity SigV4 allows a presigned URL.
const maxPresignTTL = 7 * 24 * time.Hour

// s3Store keeps objects in an S3 bucket under a key prefix.
type s3Store struct {
	client    *s3.Client
	presigner *s3.PresignClient
	bucket    string
	prefix    string // "" or ends with "/"
	checksums bool
	partSize  int64
	growEvery int // parts between part size steps; partsPerStep but in tests
	workers   int
	spoolDir  string
}

// newS3Store builds the clients for s3://bucket/prefix. Two clients share
// the credentials: one for the endpoint this process reaches, and one for
// the public endpoint used only to presign (presigning makes no request).
func newS3Store(ctx context.Context, cfg Config, u *url.URL) (*s3Store, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("storage URL %q names no bucket", cfg.URL)
	}
	awsCfg, err := loadAWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store := &s3Store{
		bucket:    u.Host,
		prefix:    normalizePrefix(u.Path),
		checksums: cfg.ChecksumWhenSupported,
		partSize:  cfg.PartSize,
		growEvery: partsPerStep,
		workers:   cfg.Concurrency,
		spoolDir:  cfg.SpoolDir,
	}
	if store.spoolDir == "" {
		store.spoolDir = os.TempDir()
	}
	if store.partSize == 0 {
		store.partSize = DefaultPartSize
	}
	if store.partSize < minPartSize || store.partSize > maxPartSize/10 {
		return nil, fmt.Errorf("storage part size %d is outside %d..%d bytes", store.partSize, minPartSize, maxPartSize/10)
	}
	if store.workers <= 0 {
		store.workers = defaultConcurrency
	}
	store.client = s3.NewFromConfig(awsCfg, clientOptions(cfg, cfg.Endpoint))
	public := cfg.PublicEndpoint
	if public == "" {
		public = cfg.Endpoint
	}
	store.presigner = s3.NewPresignClient(s3.NewFromConfig(awsCfg, clientOptions(cfg, public)))
	return store, nil
}

// loadAWSConfig resolves region and credentials: static keys when given,
// otherwise the SDK's default chain.
func loadAWSConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithDefaultRegion("us-east-1")}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the S3 configuration: %w", err)
	}
	return awsCfg, nil
}

// clientOptions applies the endpoint, addressing and checksum settings.
func clientOptions(cfg Config, endpoint string) func(*s3.Options) {
	return func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		if cfg.ChecksumWhenSupported {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		} else {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		// Checksums skipped on purpose are not worth a warning per download.
		o.DisableLogOutputChecksumValidationSkipped = true
	}
}

// normalizePrefix turns a URL path into "" or "some/prefix/".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// objectKey is the full S3 key of a store key.
func (s *s3Store) objectKey(key string) string { return s.prefix + key }

// Put implements Store: small objects in one PutObject, larger ones as a
// multipart upload that is completed only after the last part succeeded.
func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	up := newUploader(s, s.objectKey(key), opts)
	size, err := up.upload(ctx, r)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: size, ContentType: opts.ContentType, LastModified: time.Now()}, nil
}

// Head implements Store.
func (s *s3Store) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		return ObjectInfo{}, s.wrapErr("reading", key, err)
	}
	return ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType),
		LastModified: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag),
	}, nil
}

// Open implements Store.
func (s *s3Store) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.objectKey(key))})
	if err != nil {
		return nil, ObjectInfo{}, s.wrapErr("opening", key, err)
	}
	return out.Body, ObjectInfo{
		Key: key, Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType),
		LastModified: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag),
	}, nil
}

// Delete implements Store. Unfinished uploads are aborted first, so an
// upload that completes in between is still deleted afterwards.
func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.AbortUploads(ctx, key); err != nil {
		return err
	}
	full := s.objectKey(key)
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &full})
	if err != nil && !isNotFound(err) {
		return s.wrapErr("deleting", key, err)
	}
	return nil
}

// AbortUploads implements Store.
func (s *s3Store) AbortUploads(ctx context.Context, key string) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	full := s.objectKey(key)
	return s.abortUploads(ctx, full, func(k string, _ time.Time) bool { return k == full })
}

// AbortStaleUploads implements Store.
func (s *s3Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	return s.abortUploads(ctx, s.objectKey(prefix), func(_ string, initiated time.Time) bool {
		return initiated.Before(olderThan)
	})
}

// abortUploads aborts the multipart uploads under prefix that match.
func (s *s3Store) abortUploads(ctx context.Context, prefix string, match func(key string, initiated time.Time) bool) (int, error) {
	pages := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix})
	aborted := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return aborted, fmt.Errorf("listing unfinished uploads in bucket %s: %w", s.bucket, err)
		}
		for _, upload := range page.Uploads {
			if !match(aws.ToString(upload.Key), aws.ToTime(upload.Initiated)) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &s.bucket, Key: upload.Key, UploadId: upload.UploadId,
			})
			if err != nil && !isNoSuchUpload(err) {
				return aborted, fmt.Errorf("aborting an unfinished upload of %s: %w", aws.ToString(upload.Key), err)
			}
			aborted++
		}
	}
	return aborted, nil
}

// PresignGet implements Store. The link carries a response Content-Disposition
// so the browser saves the file under downloadName.
func (s *s3Store) PresignGet(ctx context.Context, key string, ttl time.Duration, downloadName string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", fmt.Errorf("a presigned link must live between 1s and %s, not %s", maxPresignTTL, ttl)
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.objectKey(key))}
	if cd := contentDisposition(downloadName); cd != "" {
		in.ResponseContentDisposition = &cd
	}
	req, err := s.presigner.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presigning a download of %s: %w", key, err)
	}
	return req.URL, nil
}

// URI implements Store.
func (s *s3Store) URI(key string) string {
	return "s3://" + s.bucket + "/" + s.objectKey(key)
}

// wrapErr maps "no such key" to ErrNotFound and names the object otherwise.
func (s *s3Store) wrapErr(verb, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, s.URI(key))
	}
	return fmt.Errorf("%s %s: %w", verb, s.URI(key), err)
}

// isNotFound tells a missing object from other failures (a missing bucket
// is a configuration error, not a missing object).
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "NoSuchKey", "NotFound":
		return true
	}
	return false
}

// isNoSuchUpload reports an upload that was already aborted or completed.
func isNoSuchUpload(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload"
}
