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
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TerminationLogEnv is the variable through which each attempt learns
// where to write its termination message: the local stand-in for the
// container's terminationMessagePath. `reportd generate` reads it.
const TerminationLogEnv = "REPORTD_TERMINATION_LOG"

// Limits the kubelet applies to termination messages.
const (
	maxTerminationMessage = 4096
	maxFallbackLogBytes   = 2048
	maxFallbackLogLines   = 80
)

// exitCodeStartError is what the kubelet reports when a container's
// command cannot be started (runc's "executable file not found").
const exitCodeStartError = 128

// exitResult is how an attempt's process ended.
type exitResult struct {
	ExitCode int32
	// Reason is the kubelet's: Completed, Error, StartError.
	Reason string
	// Message is the termination message.
	Message  string
	Started  time.Time
	Finished time.Time
}

// process is one attempt running as a local process group.
type process struct {
	cmd       *exec.Cmd
	dir       string
	logPath   string
	termPath  string
	fallback  bool // FallbackToLogsOnError
	done      chan struct{}
	mu        sync.Mutex
	result    exitResult
	startedAt time.Time
}

// spec is what startProcess runs.
type spec struct {
	path     string
	args     []string
	env      []string
	dir      string
	fallback bool
}

// startProcess starts the command in its own process group, with stdout
// and stderr going to dir/output.log and the termination message expected
// in dir/termination-log. onExit is called once it ended.
func startProcess(s spec, onExit func()) (*process, error) {
	p := &process{
		dir:      s.dir,
		logPath:  filepath.Join(s.dir, "output.log"),
		termPath: filepath.Join(s.dir, "termination-log"),
		fallback: s.fallback,
		done:     make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.path, s.args...)
	cmd.Dir = s.dir
	// The executor's file last: exec keeps the last of duplicate keys.
	cmd.Env = append(append([]string{}, s.env...), TerminationLogEnv+"="+p.termPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a deadline kills whatever it started too;
	// killed when the executor's process dies (see spawn).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	p.cmd, p.startedAt = cmd, time.Now()
	go p.wait(logFile, onExit)
	return p, nil
}

// wait reaps the process and records how it ended.
func (p *process) wait(logFile *os.File, onExit func()) {
	err := p.cmd.Wait()
	_ = logFile.Close()
	res := exitResult{Started: p.startedAt, Finished: time.Now(), ExitCode: exitCode(p.cmd.ProcessState, err)}
	res.Reason = "Completed"
	if res.ExitCode != 0 {
		res.Reason = "Error"
	}
	res.Message = p.terminationMessage(res.ExitCode)
	p.mu.Lock()
	p.result = res
	p.mu.Unlock()
	close(p.done)
	onExit()
}

// exitCode is the container-style exit code: 128+signal when killed.
func exitCode(ps *os.ProcessState, err error) int32 {
	if ps == nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			ps = exitErr.ProcessState
		} else {
			return exitCodeStartError
		}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// terminationMessage reads the attempt's termination message, falling back
// to the tail of its output when it failed without one, as the kubelet
// does for FallbackToLogsOnError.
func (p *process) terminationMessage(code int32) string {
	msg := readLimited(p.termPath, maxTerminationMessage)
	if msg == "" && code != 0 && p.fallback {
		msg = tailLines(readTail(p.logPath, maxFallbackLogBytes), maxFallbackLogLines)
	}
	return msg
}

// exited returns the result once the process ended.
func (p *process) exited() (exitResult, bool) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.result, true
	default:
		return exitResult{}, false
	}
}

// kill sends SIGKILL to the process group: a deadline or a stop does not
// wait for a graceful end, as the Job's pods get none either past a deadline.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// readLimited reads at most n bytes of a file; "" when it is missing.
func readLimited(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return string(b)
}

// readTail reads the last n bytes of a file.
func readTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > n {
		_, _ = f.Seek(info.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// tailLines keeps the last n lines of s.
func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
