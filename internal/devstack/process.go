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

package devstack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a server the stack started itself (kube-controller-manager):
// in its own process group, told to exit should the stack's process die
// first, and reaped by a goroutine so its exit is seen at once.
type process struct {
	name     string
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error // valid once done is closed
	killOnce sync.Once
}

// processStopTimeout bounds the graceful exit before the group is killed.
const processStopTimeout = 20 * time.Second

// startProcess starts cmd with its output appended to logPath.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the %s log: %w", name, err)
	}
	// The child has its own copy of the descriptor.
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, waits up to processStopTimeout, then kills the whole
// group; it is an error only when the process had to be killed.
func (p *process) stop() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var err error
	select {
	case <-p.done:
	case <-time.After(processStopTimeout):
		err = fmt.Errorf("%s (pid %d) ignored SIGTERM for %s; killed it", p.name, p.pid(), processStopTimeout)
	}
	p.killOnce.Do(func() {
		// Whatever the process left in its group goes too.
		if kerr := syscall.Kill(-p.pid(), syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
	return err
}
