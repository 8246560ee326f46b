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
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Server is a running versitygw with one bucket (interim, until
// testsupport.NewS3 lands).
type s3Server struct {
	Endpoint, AccessKey, SecretKey, Region, Bucket string
	port                                           int
}

// Client returns a raw S3 client for checks the Store does not offer.
func (s *s3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint), Region: s.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func newS3Server(t *testing.T) *s3Server {
	t.Helper()
	bin, err := filepath.Abs("../../bin/versitygw")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	srv := &s3Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: "testkey", SecretKey: "testsecret1234", Region: "us-east-1", Bucket: "reports", port: port}
	cmd := exec.Command(bin, "--access", srv.AccessKey, "--secret", srv.SecretKey, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet", "posix", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.Endpoint)
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("versitygw did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &srv.Bucket}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// storedParts counts the parts stored for the first unfinished upload of key.
func (s *s3Server) storedParts(t *testing.T, key string) int {
	t.Helper()
	ctx := context.Background()
	uploads, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.Bucket, Prefix: &key})
	if err != nil || len(uploads.Uploads) == 0 {
		t.Fatalf("ListMultipartUploads: %v (%d uploads)", err, len(uploads.Uploads))
	}
	parts, err := s.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &s.Bucket, Key: &key, UploadId: uploads.Uploads[0].UploadId})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	return len(parts.Parts)
}
