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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// GarbageCollector is kube-controller-manager running only its garbage
// collector against an envtest API server, so objects whose owner is
// deleted (a ReportRequest's Job) are deleted as in a real cluster;
// envtest alone never does that.
type GarbageCollector struct {
	// Dir holds the kubeconfig and the log.
	Dir string
	// LogPath is kube-controller-manager's log.
	LogPath string

	proc     *process
	stopOnce sync.Once
	stopErr  error
}

// NewGarbageCollector starts the garbage collector for a test and stops it
// when the test ends; it fails the test if it cannot start.
func NewGarbageCollector(t testing.TB, env *envtest.Environment) *GarbageCollector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gc, err := StartGarbageCollector(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gc.Stop(); err != nil {
			t.Errorf("stop the garbage collector: %v", err)
		}
	})
	return gc
}

// StartGarbageCollector starts kube-controller-manager (from the control
// plane build) with only the garbagecollector controller, no leader
// election and no serving port, and waits until its garbage collector has
// started. Call Stop when done, before stopping envtest.
func StartGarbageCollector(ctx context.Context, env *envtest.Environment) (*GarbageCollector, error) {
	bin, err := controlPlaneBinary("kube-controller-manager")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "reportd-gc-")
	if err != nil {
		return nil, fmt.Errorf("make the garbage collector's directory: %w", err)
	}
	gc := &GarbageCollector{Dir: dir, LogPath: filepath.Join(dir, "kube-controller-manager.log")}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(env, "reportd-garbage-collector", kubeconfig); err != nil {
		_ = gc.Stop()
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--controllers", "garbagecollector",
		"--leader-elect=false", "--secure-port=0", "--v=2") // v=2 logs gcStartedLine
	cmd.Dir, cmd.Env = dir, []string{"PATH=" + os.Getenv("PATH")}
	if gc.proc, err = startProcess("kube-controller-manager", cmd, syscall.SIGTERM, gc.LogPath); err != nil {
		_ = gc.Stop()
		return nil, err
	}
	if err := gc.waitStarted(ctx); err != nil {
		_ = gc.Stop()
		return nil, fmt.Errorf("%w%s", err, logTail(gc.LogPath, 20))
	}
	return gc, nil
}

// gcStartedLine is what kube-controller-manager (v1.37) logs once the
// garbage collector has synced its caches and collects.
const gcStartedLine = "Proceeding to collect garbage"

// waitStarted polls the log until the garbage collector has started.
func (gc *GarbageCollector) waitStarted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		data, _ := os.ReadFile(gc.LogPath)
		if strings.Contains(string(data), gcStartedLine) {
			return nil
		}
		select {
		case <-gc.proc.done:
			return gc.proc.exitedWhileStarting()
		case <-ctx.Done():
			return errors.New("kube-controller-manager's garbage collector did not start")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID returns kube-controller-manager's process id.
func (gc *GarbageCollector) PID() int {
	if gc.proc == nil {
		return 0
	}
	return gc.proc.pid()
}

// Stop stops kube-controller-manager, waits until it has exited, and
// removes its directory. Calling it again does nothing.
func (gc *GarbageCollector) Stop() error {
	gc.stopOnce.Do(func() {
		var errs []error
		if gc.proc != nil {
			errs = append(errs, gc.proc.stop())
		}
		errs = append(errs, os.RemoveAll(gc.Dir))
		gc.stopErr = errors.Join(errs...)
	})
	return gc.stopErr
}
