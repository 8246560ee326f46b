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

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reportd.io/reportd/internal/devstack"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// Tests of `reportd dev` itself, run as a user runs it: a process of its
// own, read through what it prints and dev.json, stopped with Ctrl-C.

// devReadyTimeout bounds a `reportd dev` start on a busy machine.
const devReadyTimeout = 4 * time.Minute

// devProcess is a running `reportd dev`.
type devProcess struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stateDir string
	// tmpDir is the process's TMPDIR: empty again once it has stopped.
	tmpDir  string
	outPath string
	// tree is every process it had started, seen while it ran.
	tree []int
}

// newDevDirs makes a state directory and a private TMPDIR for one
// `reportd dev`, both reachable by the postgres user, removed at the end.
func newDevDirs(t *testing.T) (root, stateDir, tmpDir string) {
	t.Helper()
	root, err := os.MkdirTemp("", "reportd-devtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	stateDir, tmpDir = filepath.Join(root, "state"), filepath.Join(root, "tmp")
	for _, d := range []string{root, tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, stateDir, tmpDir
}

// startDev starts `reportd dev` with small sample data and the given
// extra flags; its output goes to a file in root.
func startDev(t *testing.T, root, stateDir, tmpDir string, flags ...string) *devProcess {
	t.Helper()
	args := append([]string{"dev", "--state-dir", stateDir, "--address", "127.0.0.1:0",
		"--orders", "2000", "--users", "200", "--products", "50"}, flags...)
	p := &devProcess{stateDir: stateDir, tmpDir: tmpDir, exited: make(chan struct{}),
		outPath: filepath.Join(root, "dev-"+strconv.FormatInt(time.Now().UnixNano(), 10)+".out")}
	out, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(reportdBinary, args...)
	p.cmd.Env = append(os.Environ(), "TMPDIR="+tmpDir)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	// Should the test fail half-way, the stack still goes.
	t.Cleanup(func() { p.interrupt(t) })
	return p
}

// output is what the process has printed so far.
func (p *devProcess) output() string {
	data, _ := os.ReadFile(p.outPath)
	return string(data)
}

// waitReady waits for dev.json and returns what it says.
func (p *devProcess) waitReady(t *testing.T) devstack.Info {
	t.Helper()
	path := filepath.Join(p.stateDir, devstack.InfoFile)
	deadline := time.Now().Add(devReadyTimeout)
	for {
		if info, err := devstack.ReadInfo(path); err == nil {
			p.tree = descendants(p.cmd.Process.Pid)
			return info
		}
		select {
		case <-p.exited:
			t.Fatalf("reportd dev exited before it was ready (%v):\n%s", p.waitErr, p.output())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s; reportd dev printed:\n%s", devstack.InfoFile, devReadyTimeout, p.output())
		}
	}
}

// interrupt sends Ctrl-C's SIGINT and waits for the process to exit.
func (p *devProcess) interrupt(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("reportd dev did not stop within 90s of SIGINT:\n%s", p.output())
	}
}

// stopAndCheck stops the process with SIGINT and checks it left nothing:
// no process it started, no dev.json or kubeconfig, nothing in TMPDIR.
func (p *devProcess) stopAndCheck(t *testing.T) {
	t.Helper()
	p.interrupt(t)
	if p.waitErr != nil {
		t.Errorf("reportd dev exited with %v after SIGINT:\n%s", p.waitErr, p.output())
	}
	if !strings.Contains(p.output(), "Stopped in") {
		t.Errorf("reportd dev did not say it stopped:\n%s", p.output())
	}
	if len(p.tree) < 5 {
		t.Errorf("only %d processes seen under reportd dev while it ran (etcd, kube-apiserver, kube-controller-manager, postgres ... expected)", len(p.tree))
	}
	for _, pid := range p.tree {
		if alive(pid) {
			t.Errorf("process %d (%s), started by reportd dev, is still running", pid, e2eutil.Cmdline(pid))
		}
	}
	if pids := processesMentioning(p.tmpDir); len(pids) > 0 {
		t.Errorf("processes still use reportd dev's TMPDIR: %v", pids)
	}
	for _, name := range []string{devstack.InfoFile, devstack.UserKubeconfig} {
		if _, err := os.Stat(filepath.Join(p.stateDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still in the state directory (%v)", name, err)
		}
	}
	if left, _ := os.ReadDir(p.tmpDir); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("reportd dev left temporary files behind: %v", names)
	}
}

// TestReportdDevFromPrintedCommands runs `reportd dev --s3` as a user
// does: waits for it to be ready, requests a report with the curl
// command it printed, follows it to completed, downloads it as the
// owner (a presigned S3 link), checks that the other demo user cannot
// see it and that the printed kubectl command shows it, then stops it
// with Ctrl-C and checks that nothing is left running or on disk.
func TestReportdDevFromPrintedCommands(t *testing.T) {
	root, stateDir, tmpDir := newDevDirs(t)
	dev := startDev(t, root, stateDir, tmpDir, "--s3")
	info := dev.waitReady(t)
	printed := dev.output()
	for _, want := range []string{info.FacadeURL + "/", info.Token, info.Kubeconfig, "kubectl get reportrequests -n reports -w", "s3://"} {
		if !strings.Contains(printed, want) {
			t.Errorf("reportd dev did not print %q:\n%s", want, printed)
		}
	}

	var created facadeReport
	out := runPrinted(t, printedCommand(t, printed, "Request a sales report:"))
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("the printed curl command answered %q (%v)", out, err)
	}
	rep := waitFacadeReport(t, info.FacadeURL, info.Token, created.ID, 2*time.Minute)
	if rep.Status != "completed" || rep.Progress != 100 || rep.Rows == 0 {
		t.Fatalf("the report ended %s at %d%% with %d rows: %s", rep.Status, rep.Progress, rep.Rows, rep.ErrorMessage)
	}
	code, file := facadeCall(t, info.FacadeURL, info.Token, http.MethodGet, "/api/v1/reports/"+created.ID+"/download", nil)
	sum := sha256.Sum256(file)
	if code != http.StatusOK || hex.EncodeToString(sum[:]) != rep.SHA256 || !strings.HasPrefix(string(file), "Date,OrderId,Customer,Amount,Status\n") {
		t.Errorf("download: %d, %d bytes, sha256 %x (want %s), starting %.60q", code, len(file), sum, rep.SHA256, file)
	}
	if code, _ := facadeCall(t, info.FacadeURL, info.OtherToken, http.MethodGet, "/api/v1/reports/"+created.ID, nil); code != http.StatusNotFound {
		t.Errorf("the other demo user reading the report got %d, want 404", code)
	}
	watchCmd := strings.TrimSuffix(printedCommand(t, printed, "Watch the reports as an operator:"), " -w")
	if got := runPrinted(t, watchCmd); !strings.Contains(got, created.ID) || !strings.Contains(got, "Completed") {
		t.Errorf("the printed kubectl command shows:\n%s", got)
	}
	dev.stopAndCheck(t)
}

// TestReportdDevPersistKeepsReportsAcrossRestarts runs `reportd dev
// --persist`, requests a report, stops, starts again, and finds the same
// tokens working, the report listed and its file downloadable.
func TestReportdDevPersistKeepsReportsAcrossRestarts(t *testing.T) {
	root, stateDir, tmpDir := newDevDirs(t)
	first := startDev(t, root, stateDir, tmpDir, "--persist")
	info := first.waitReady(t)
	code, body := facadeCall(t, info.FacadeURL, info.Token, http.MethodPost, "/api/v1/reports",
		map[string]any{"reportType": "inventory", "format": "jsonl"})
	var created facadeReport
	if err := json.Unmarshal(body, &created); err != nil || code != http.StatusAccepted {
		t.Fatalf("request a report: %d %s", code, body)
	}
	before := waitFacadeReport(t, info.FacadeURL, info.Token, created.ID, 2*time.Minute)
	if before.Status != "completed" {
		t.Fatalf("the report ended %s: %s", before.Status, before.ErrorMessage)
	}
	first.stopAndCheck(t)

	second := startDev(t, root, stateDir, tmpDir, "--persist")
	again := second.waitReady(t)
	if again.Token != info.Token || again.OtherToken != info.OtherToken {
		t.Error("the demo users' tokens changed across a restart with --persist")
	}
	after := waitFacadeReport(t, again.FacadeURL, again.Token, created.ID, time.Minute)
	if after.Status != "completed" || after.SHA256 != before.SHA256 || after.Rows != before.Rows {
		t.Errorf("after the restart the report is %+v, before it was %+v", after, before)
	}
	code, file := facadeCall(t, again.FacadeURL, again.Token, http.MethodGet, "/api/v1/reports/"+created.ID+"/download", nil)
	if sum := sha256.Sum256(file); code != http.StatusOK || hex.EncodeToString(sum[:]) != before.SHA256 {
		t.Errorf("download after the restart: %d, sha256 %x, want %s", code, sum, before.SHA256)
	}
	second.stopAndCheck(t)
	if _, err := os.Stat(filepath.Join(stateDir, "data")); err != nil {
		t.Errorf("the persistent data directory is gone: %v", err)
	}
}

// printedCommand returns the shell command printed under a heading, its
// continuation lines joined.
func printedCommand(t *testing.T, printed, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(printed, heading+"\n")
	if !ok {
		t.Fatalf("reportd dev printed no %q:\n%s", heading, printed)
	}
	var cmd strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		cont := strings.HasSuffix(line, `\`)
		cmd.WriteString(strings.TrimSuffix(line, `\`))
		if !cont {
			break
		}
	}
	return strings.TrimSpace(cmd.String())
}

// runPrinted runs a printed command with bash, as a user pastes it.
func runPrinted(t *testing.T, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	// The kubectl the suite found, first on PATH, as in a user's shell.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(kubectlPath)+":"+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr // curl's progress meter, kubectl's warnings
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", command, err, out, stderr.String())
	}
	return string(out)
}
