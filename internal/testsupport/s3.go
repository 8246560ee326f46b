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

package testsupport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Options configures StartS3. The zero value is a fresh server with one
// empty bucket "reports".
type S3Options struct {
	// Bucket is the bucket to create; default "reports".
	Bucket string
	// Dir, if set, is a persistent directory for the stored objects (and
	// the log): objects survive Stop and a later start. Used by
	// `reportd dev --state-dir`.
	Dir string
}

// S3 is a running S3-compatible server (versitygw, posix backend) on
// 127.0.0.1 that checks SigV4 signatures like AWS does.
type S3 struct {
	// Endpoint is the server's URL, http://127.0.0.1:<port>.
	Endpoint string
	// AccessKey and SecretKey are the root credentials, random per start.
	AccessKey, SecretKey string
	// Region is the signing region, us-east-1.
	Region string
	// Bucket is the bucket created at start.
	Bucket string
	// Dir holds objects/ (the posix backend's root) and server.log.
	Dir string
	// LogPath is the server's log file.
	LogPath string

	port       int
	persistent bool
	mu         sync.Mutex
	proc       *process
	stopped    bool
	stopErr    error
}

// NewS3 starts a server for a test and stops it (removing its objects)
// when the test ends; it fails the test if it cannot start.
func NewS3(t testing.TB, opts S3Options) *S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartS3(ctx, opts)
	if err != nil {
		t.Fatalf("start the S3 server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the S3 server: %v", err)
		}
	})
	return srv
}

// StartS3 starts versitygw on a free loopback port with random root
// credentials, waits until it answers, and creates the bucket. Call Stop
// when done.
func StartS3(ctx context.Context, opts S3Options) (*S3, error) {
	if opts.Bucket == "" {
		opts.Bucket = "reports"
	}
	srv := &S3{Region: "us-east-1", Bucket: opts.Bucket, persistent: opts.Dir != ""}
	if err := srv.prepare(opts.Dir); err != nil {
		return nil, err
	}
	if err := srv.startOnFreePort(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if err := srv.createBucket(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return srv, nil
}

// prepare makes the directories and the credentials.
func (srv *S3) prepare(dir string) error {
	var err error
	if dir != "" {
		srv.Dir, err = filepath.Abs(dir)
	} else {
		srv.Dir, err = os.MkdirTemp("", "reportd-s3-")
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(srv.Dir, "objects"), 0o700)
	}
	if err != nil {
		return fmt.Errorf("make the S3 directory: %w", err)
	}
	srv.LogPath = filepath.Join(srv.Dir, "server.log")
	if srv.AccessKey, err = randomHex(10); err != nil {
		return err
	}
	srv.SecretKey, err = randomHex(20)
	return err
}

// startOnFreePort starts the server, retrying on a new port when another
// process took the chosen one first.
func (srv *S3) startOnFreePort(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		offset := logSize(srv.LogPath)
		err = srv.run(ctx, port)
		if err == nil || attempt == startAttempts || !lostPort(srv.LogPath, offset) {
			return err
		}
	}
}

// run starts versitygw on port and waits until it answers HTTP.
func (srv *S3) run(ctx context.Context, port int) error {
	bin, err := serverBinary("versitygw", "test-servers")
	if err != nil {
		return err
	}
	srv.port = port
	srv.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--region", srv.Region,
		"--keep-alive", "--quiet", "posix", filepath.Join(srv.Dir, "objects"))
	// Credentials go through the environment, not argv, which every user
	// of the machine can read; nothing else of ours is passed on, so no
	// stray VGW_* variable reconfigures the server.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"),
		"ROOT_ACCESS_KEY_ID=" + srv.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + srv.SecretKey}
	cmd.Dir = srv.Dir
	if srv.proc, err = startProcess("versitygw", cmd, syscall.SIGTERM, srv.LogPath); err != nil {
		return err
	}
	if err := waitHTTP(ctx, srv.proc, srv.Endpoint+"/", 30*time.Second); err != nil {
		srv.proc.kill()
		return fmt.Errorf("%w%s", err, logTail(srv.LogPath, 20))
	}
	return nil
}

// waitHTTP polls url until the server answers with any status, it exits,
// or the timeout or ctx run out.
func waitHTTP(ctx context.Context, proc *process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-proc.done:
			return proc.exitedWhileStarting()
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer at %s: %w", proc.name, url, err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// createBucket creates the bucket; one that is already there (a persistent
// Dir) is fine.
func (srv *S3) createBucket(ctx context.Context) error {
	_, err := srv.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(srv.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", srv.Bucket, err)
	}
	return nil
}

// Client returns an S3 client for this server, configured as reportd
// needs for S3-compatible servers: path-style addressing (no bucket
// subdomains of 127.0.0.1), and checksums only where the API requires
// them. It reads nothing from the environment or ~/.aws.
func (srv *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     srv.Region,
		BaseEndpoint:               aws.String(srv.Endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// PID returns the server's process id (of the latest start).
func (srv *S3) PID() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.proc.pid()
}

// Kill kills the server at once (SIGKILL), as a crash would, for fault
// tests that stop it in the middle of an upload. Objects stay; Restart
// brings it back.
func (srv *S3) Kill() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.proc.kill()
}

// Restart starts the server again after Kill (or kills it first), on the
// same port, with the same credentials and objects, so clients made
// earlier keep working.
func (srv *S3) Restart(ctx context.Context) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.stopped {
		return errors.New("the S3 server was stopped; start a new one")
	}
	srv.proc.kill()
	return srv.run(ctx, srv.port)
}

// Stop stops the server (SIGTERM), waits until it has exited, and removes
// its directory unless it is a persistent Dir. Calling it again does
// nothing.
func (srv *S3) Stop() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.stopped {
		return srv.stopErr
	}
	srv.stopped = true
	var errs []error
	if srv.proc != nil {
		errs = append(errs, srv.proc.stop())
	}
	if !srv.persistent && srv.Dir != "" {
		errs = append(errs, os.RemoveAll(srv.Dir))
	}
	srv.stopErr = errors.Join(errs...)
	return srv.stopErr
}
