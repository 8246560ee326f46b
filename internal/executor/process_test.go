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

package executor

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runShell runs a shell script as an attempt and waits (bounded) for it.
func runShell(t *testing.T, script string, fallback bool) (exitResult, *process) {
	t.Helper()
	dir := t.TempDir()
	exited := make(chan struct{})
	p, err := startProcess(spec{path: "/bin/sh", args: []string{"-c", script}, env: []string{"PATH=/usr/bin:/bin", "GREETING=hello"}, dir: dir, fallback: fallback},
		func() { close(exited) })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.kill()
		t.Fatal("the process did not end within 10s")
	}
	res, ok := p.exited()
	if !ok {
		t.Fatal("onExit ran before the result was recorded")
	}
	return res, p
}

func TestProcessExits(t *testing.T) {
	cases := map[string]struct {
		script      string
		fallback    bool // FallbackToLogsOnError
		wantCode    int32
		wantReason  string
		wantMessage string
	}{
		"success":                          {script: "exit 0", wantCode: 0, wantReason: "Completed"},
		"the environment is the given one": {script: `test "$GREETING" = hello && test -z "$REPORTD_NAMESPACE_LEAK"`, wantCode: 0, wantReason: "Completed"},
		"a permanent failure with a termination message": {
			script: `printf 'parameter "x" is required' > "$REPORTD_TERMINATION_LOG"; exit 3`, wantCode: 3, wantReason: "Error", wantMessage: `parameter "x" is required`},
		"a failure falls back to the output's tail": {
			script: "echo first; echo 'panic: boom' >&2; exit 2", fallback: true, wantCode: 2, wantReason: "Error", wantMessage: "first\npanic: boom"},
		"no fallback without the policy": {script: "echo noise; exit 2", wantCode: 2, wantReason: "Error"},
		"success never takes the output": {script: "echo noise; exit 0", fallback: true, wantCode: 0, wantReason: "Completed"},
		"killed by a signal is 128+n":    {script: "kill -TERM $$", wantCode: 143, wantReason: "Error"},
	}
	t.Setenv("REPORTD_NAMESPACE_LEAK", "the executor's own environment")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, _ := runShell(t, tc.script, tc.fallback)
			if res.ExitCode != tc.wantCode || res.Reason != tc.wantReason || res.Message != tc.wantMessage {
				t.Errorf("got %d %q %q, want %d %q %q", res.ExitCode, res.Reason, res.Message, tc.wantCode, tc.wantReason, tc.wantMessage)
			}
			if res.Finished.Before(res.Started) {
				t.Errorf("finished %v before started %v", res.Finished, res.Started)
			}
		})
	}
}

func TestProcessTerminationMessageIsBounded(t *testing.T) {
	res, _ := runShell(t, `head -c 10000 /dev/zero | tr '\0' x > "$REPORTD_TERMINATION_LOG"; exit 1`, true)
	if len(res.Message) != maxTerminationMessage {
		t.Errorf("termination message is %d bytes, want the kubelet's %d", len(res.Message), maxTerminationMessage)
	}
}

func TestKillStopsTheWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	exited := make(chan struct{})
	// The shell starts a child that would outlive a kill of the shell alone.
	p, err := startProcess(spec{path: "/bin/sh", args: []string{"-c", "sleep 300 & echo $! > " + pidFile + "; wait"}, env: []string{"PATH=/usr/bin:/bin"}, dir: dir},
		func() { close(exited) })
	if err != nil {
		t.Fatal(err)
	}
	var child int
	deadline := time.Now().Add(5 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 {
		p.kill()
		t.Fatal("the child never started")
	}
	p.kill()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process did not exit after kill")
	}
	if res, _ := p.exited(); res.ExitCode != 137 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", res.ExitCode)
	}
	// The child is gone too (or a zombie about to be reaped by init).
	deadline = time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil && time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child), "stat")); err == nil && strings.Contains(string(b), ") Z ") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child), "stat")); err == nil && !strings.Contains(string(b), ") Z ") {
		_ = syscall.Kill(child, syscall.SIGKILL)
		t.Errorf("the child %d outlived the kill: %s", child, b)
	}
}

// spawnHelperEnv makes the test binary act as an executor's process in
// TestAttemptsDieWithTheExecutorProcess.
const spawnHelperEnv = "REPORTD_EXECUTOR_SPAWN_HELPER"

// TestSpawnHelper is not a test: run with spawnHelperEnv set, it starts an
// attempt (sleep) from a goroutine locked to its OS thread that then
// returns, which ends that thread (the way Pdeathsig goes wrong), writes
// the attempt's pid to the named file and waits to be killed.
func TestSpawnHelper(t *testing.T) {
	pidFile := os.Getenv(spawnHelperEnv)
	if pidFile == "" {
		t.Skip("a helper process of TestAttemptsDieWithTheExecutorProcess")
	}
	p, err := startFromEndingThread(spec{path: "/bin/sleep", args: []string{"300"}, env: []string{"PATH=/usr/bin:/bin"}, dir: filepath.Dir(pidFile)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
}

// startFromEndingThread calls startProcess on a goroutine locked to an OS
// thread other than the main one (Go never ends the main thread), and lets
// that goroutine return while locked, which ends its thread.
func startFromEndingThread(s spec) (*process, error) {
	type started struct {
		p   *process
		err error
		ok  bool
	}
	for {
		out := make(chan started)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				out <- started{}
				select {} // keep the main thread busy, so the next try gets another
			}
			p, err := startProcess(s, func() {})
			out <- started{p: p, err: err, ok: true}
		}()
		if r := <-out; r.ok {
			return r.p, r.err
		}
	}
}

func TestAttemptsDieWithTheExecutorProcess(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "attempt.pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestSpawnHelper$", "-test.count=1")
	helper.Env = append(os.Environ(), spawnHelperEnv+"="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()
	var attempt int
	for deadline := time.Now().Add(30 * time.Second); attempt == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the helper did not start its attempt within 30s")
		}
		b, _ := os.ReadFile(pidFile)
		attempt, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	defer func() { _ = syscall.Kill(attempt, syscall.SIGKILL) }()
	// The thread that asked for the attempt ended; the attempt lives on.
	time.Sleep(200 * time.Millisecond)
	if !running(attempt) {
		t.Fatal("the attempt died while its executor's process lived on (Pdeathsig followed an ended thread)")
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for deadline := time.Now().Add(5 * time.Second); running(attempt); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the attempt %d outlived its executor's process by 5s", attempt)
		}
	}
}

// running reports whether a process exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && !strings.Contains(string(b), ") Z ")
}
