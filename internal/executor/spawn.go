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
	"os/exec"
	"runtime"
	"sync"
)

// Attempts die with the executor's process. An executor that restarts
// marks the attempts it finds without a process of its own as failed with
// a DisruptionTarget and starts new ones (as for the pods of a lost node);
// were the old processes still running, two attempts of one report would
// upload under the same key at once, and a killed `reportd dev` would
// leave report processes behind that nothing stops. So every attempt gets
// Pdeathsig SIGKILL.
//
// Linux sends that signal when the *thread* that forked the child exits,
// not the process (golang/go#27505), and Go ends an OS thread when a
// goroutine locked to it returns without unlocking. Attempts are therefore
// forked from one goroutine locked to its own thread for the life of the
// process: that thread ends only when the process does.

// spawnRequest asks the spawning goroutine to start one command.
type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

// spawn starts cmd from the spawning thread; cmd's SysProcAttr carries
// the Pdeathsig.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			// Never unlocked, and the goroutine never returns: the thread
			// lives as long as the process.
			runtime.LockOSThread()
			for r := range spawnRequests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
