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

package generator_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// slowQuery sends about 12 MB of rows at once, then waits: long enough
// for the generator to be caught in the middle of a multipart upload.
const slowQuery = `SELECT i AS "N", repeat('x', 1000) AS "Pad" FROM generate_series(1, 12000) i
UNION ALL
SELECT 0, pg_sleep(60)::text`

// testProcess runs `reportd generate` as the Job would: a separate process
// configured by REPORTD_* environment variables.
func (h *harness) testProcess(t *testing.T) {
	bin := buildReportd(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testsupport.WriteKubeconfig(h.env, "generator", kubeconfig); err != nil {
		t.Fatal(err)
	}
	t.Run("success exits 0", func(t *testing.T) {
		r := h.newReport(t, salesDefinition(t), salesRequest("proc-ok", v1alpha1.FormatCSV))
		history := h.watchJob(t, r)
		code := h.runProcess(t, bin, kubeconfig, r)
		history.stop(t, h, r)
		if code != 0 {
			t.Fatalf("exit code %d; want 0", code)
		}
		stored := h.object(t, h.s3Store, r.key)
		_, rows := h.copyCSV(t)
		h.checkResult(t, r, history, h.s3Store, stored, rows, "text/csv; charset=utf-8")
	})
	t.Run("bad parameters exit 3", func(t *testing.T) {
		req := salesRequest("proc-bad", v1alpha1.FormatCSV)
		req.Spec.Parameters["endDate"] = "yesterday"
		r := h.newReport(t, salesDefinition(t), req)
		history := h.watchJob(t, r)
		code := h.runProcess(t, bin, kubeconfig, r)
		history.stop(t, h, r)
		if code != v1alpha1.ExitPermanent {
			t.Errorf("exit code %d; want %d", code, v1alpha1.ExitPermanent)
		}
		var ann v1alpha1.ErrorAnnotation
		if ok, err := v1alpha1.DecodeAnnotation(history.final, v1alpha1.AnnotationError, &ann); !ok || err != nil ||
			!ann.Permanent || !strings.Contains(ann.Message, `"endDate"`) {
			t.Errorf("error annotation %+v (%v); want a permanent error naming endDate", ann, err)
		}
	})
	t.Run("killed mid-upload leaves no object", func(t *testing.T) {
		h.testKilledMidUpload(t, bin, kubeconfig)
	})
	t.Run("stopped mid-upload aborts its upload and exits 1", func(t *testing.T) {
		h.testStoppedMidUpload(t, bin, kubeconfig)
	})
}

// process is a running `reportd generate`.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int // valid once done is closed; -1 if it did not exit normally
}

// startSlowReport starts the generator on a report that stalls after about
// 12 MB and waits until its multipart upload is under way. It returns the
// report, the running process and the upload's full key.
func (h *harness) startSlowReport(t *testing.T, bin, kubeconfig, name string) (*report, *process, string) {
	t.Helper()
	def := salesDefinition(t)
	def.Spec.Query, def.Spec.Parameters, def.Spec.Rules = slowQuery, nil, nil
	def.Spec.Progress = &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressNone}
	req := salesRequest(name, v1alpha1.FormatCSV)
	req.Spec.Parameters = nil
	r := h.newReport(t, def, req)
	p := &process{cmd: h.command(bin, kubeconfig, r), done: make(chan struct{})}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		p.code = -1
		if err := p.cmd.Wait(); err == nil {
			p.code = 0
		} else if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
			p.code = exitErr.ExitCode()
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	fullKey := "reports/" + r.key
	waitUntil(t, 30*time.Second, "the generator's multipart upload to begin", func() bool {
		return slices.Contains(h.openUploads(t), fullKey)
	})
	return r, p, fullKey
}

func (h *harness) testStoppedMidUpload(t *testing.T, bin, kubeconfig string) {
	r, p, fullKey := h.startSlowReport(t, bin, kubeconfig, "proc-stopped")
	history := h.watchJob(t, r)
	// What the kubelet sends when the Job is deleted or the pod evicted.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the generator did not exit within 30 s of SIGTERM")
	}
	history.stop(t, h, r)
	if p.code != 1 {
		t.Errorf("exit code %d after SIGTERM; want 1 (a retry may run it)", p.code)
	}
	if slices.Contains(h.openUploads(t), fullKey) {
		t.Error("the stopped generator left its multipart upload open")
	}
	if _, err := h.s3Store.Head(context.Background(), r.key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Head(%s) = %v; want ErrNotFound", r.key, err)
	}
	var ann v1alpha1.ErrorAnnotation
	if ok, err := v1alpha1.DecodeAnnotation(history.final, v1alpha1.AnnotationError, &ann); !ok || err != nil || ann.Permanent {
		t.Errorf("error annotation %+v (%v); want a transient error", ann, err)
	}
}

func (h *harness) testKilledMidUpload(t *testing.T, bin, kubeconfig string) {
	r, p, fullKey := h.startSlowReport(t, bin, kubeconfig, "proc-killed")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done

	if _, err := h.s3Store.Head(context.Background(), r.key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after the kill Head(%s) = %v; want ErrNotFound", r.key, err)
	}
	if !slices.Contains(h.openUploads(t), fullKey) {
		t.Fatalf("the killed generator's upload is not listed: %v", h.openUploads(t))
	}
	// What the manager does for uploads a killed generator left behind.
	aborted, err := h.s3Store.AbortStaleUploads(context.Background(), r.namespace+"/", time.Now().Add(time.Minute))
	if err != nil || aborted != 1 {
		t.Errorf("AbortStaleUploads = %d, %v; want 1", aborted, err)
	}
	if slices.Contains(h.openUploads(t), fullKey) {
		t.Error("the upload is still open after AbortStaleUploads")
	}
	if _, err := h.s3Store.Head(context.Background(), r.key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Head(%s) = %v; want ErrNotFound", r.key, err)
	}
}

// runProcess runs the generator for r to the end and returns its exit code.
func (h *harness) runProcess(t *testing.T, bin, kubeconfig string, r *report) int {
	t.Helper()
	cmd := h.command(bin, kubeconfig, r)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode()
		}
		if err != nil {
			t.Fatalf("running reportd generate: %v", err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		if err := <-done; err != nil {
			t.Logf("the killed generator: %v", err)
		}
		t.Fatal("reportd generate did not finish within 2 minutes")
		return -1
	}
}

// command is `reportd generate` configured as the Job configures it.
func (h *harness) command(bin, kubeconfig string, r *report) *exec.Cmd {
	cmd := exec.Command(bin, "generate")
	cfg := h.s3Config()
	cmd.Env = append(os.Environ(),
		"REPORTD_NAMESPACE="+r.namespace, "REPORTD_REQUEST="+r.request.Name,
		"REPORTD_JOB="+r.job.Name, "REPORTD_POD="+r.pod,
		"REPORTD_DATASOURCE_URL="+h.pg.ReaderURL,
		"REPORTD_STORAGE_URL="+cfg.URL, "REPORTD_S3_ENDPOINT="+cfg.Endpoint,
		"REPORTD_S3_REGION="+cfg.Region, "REPORTD_S3_PATH_STYLE=true",
		"REPORTD_S3_ACCESS_KEY="+cfg.AccessKey, "REPORTD_S3_SECRET_KEY="+cfg.SecretKey,
		"REPORTD_S3_PART_SIZE="+strconv.FormatInt(cfg.PartSize, 10),
		"REPORTD_TERMINATION_LOG="+r.termLog, "REPORTD_KUBECONFIG="+kubeconfig,
		"REPORTD_PROGRESS_INTERVAL=100ms",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// buildReportd builds the reportd binary into a temporary directory.
func buildReportd(t *testing.T) string {
	t.Helper()
	root, err := testsupport.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "reportd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
