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
	"path/filepath"
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
