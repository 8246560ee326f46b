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
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a server started by this package: the real PID (no shell in
// between), in its own process group, with a goroutine waiting for it so
// its exit is observed even when nobody stops it.
type process struct {
	name    string
	cmd     *exec.Cmd
	stopSig syscall.Signal
	done    chan struct{}
	waitErr error // valid once done is closed
	// killOnce: the group is killed at most once, so a later call cannot
	// hit an unrelated group that has reused the id.
	killOnce sync.Once
}

// stopTimeout bounds how long Stop waits for a graceful exit before it
// kills the server's process group.
const stopTimeout = 30 * time.Second

// startProcess starts cmd in its own process group. stopSig is the signal
// that shuts the server down gracefully; it is also sent should the
// process that started the server die first, so servers do not outlive
// a crashed test binary or `reportd dev`. logPath, if set, receives the
// server's stdout and stderr.
func startProcess(name string, cmd *exec.Cmd, stopSig syscall.Signal, logPath string) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = stopSig
	if logPath != "" {
		log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open the %s log: %w", name, err)
		}
		// The child gets its own copy of the descriptor; ours can go.
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, stopSig: stopSig, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the server's process id (also its process group id).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the server has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the server to exit, waits up to stopTimeout, then kills its
// process group; anything left in the group (a server's children) is
// killed too. It is an error only when the server had to be killed.
func (p *process) stop() error {
	if !p.exited() {
		_ = p.cmd.Process.Signal(p.stopSig)
	}
	var err error
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("%s (pid %d) did not exit within %s of %s; killed it", p.name, p.pid(), stopTimeout, p.stopSig)
	}
	p.kill()
	return err
}

// kill kills the server's whole process group at once and waits for the
// server to be reaped.
func (p *process) kill() {
	p.killOnce.Do(func() {
		if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
}

// Alive reports whether a process with this PID still exists (signal 0),
// for tests that check a stopped server is really gone.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// logTail returns the last lines of a server's log, for error messages
// that say why a server did not start.
func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "\n--- last lines of " + path + " ---\n" + strings.TrimRight(string(bytes.Join(all, []byte("\n"))), "\n")
}

// logSize returns the current size of a log, so a later look can read only
// what one start attempt wrote.
func logSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// lostPort reports whether a server's log, from offset on, says it could
// not bind its port: the one start failure a retry on a new port cures.
func lostPort(logPath string, offset int64) bool {
	data, _ := os.ReadFile(logPath)
	if offset > int64(len(data)) {
		offset = 0
	}
	text := strings.ToLower(string(data[offset:]))
	return strings.Contains(text, "address already in use") || strings.Contains(text, "could not bind")
}

// exitedWhileStarting is the error for a server that ended before it was
// ready; call it once done is closed. A clean exit has no error to wrap.
func (p *process) exitedWhileStarting() error {
	if p.waitErr == nil {
		return fmt.Errorf("%s exited while starting", p.name)
	}
	return fmt.Errorf("%s exited while starting: %w", p.name, p.waitErr)
}
