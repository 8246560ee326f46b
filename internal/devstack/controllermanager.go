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
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Controllers of kube-controller-manager the stack runs.
const (
	// ControllerGarbageCollector deletes objects whose owner is gone: a
	// deleted ReportRequest's Job, and the Job's pods.
	ControllerGarbageCollector = "garbagecollector"
	// ControllerJob is the real job controller: it creates the pods of
	// Jobs without spec.managedBy (the production path).
	ControllerJob = "job"
)

// controllerManager is kube-controller-manager running some of its
// controllers against the stack's API server.
type controllerManager struct {
	proc    *process
	logPath string
}

// controllerStartTimeout bounds the wait for the controllers to start.
const controllerStartTimeout = 60 * time.Second

// startControllerManager starts kube-controller-manager with only the
// given controllers, its own credentials for all of them (there are no
// ServiceAccount tokens to mint), no leader election and no serving port,
// and waits until each controller has started.
func startControllerManager(ctx context.Context, bin, kubeconfig, logPath string, controllers []string) (*controllerManager, error) {
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig,
		"--controllers", strings.Join(controllers, ","),
		"--use-service-account-credentials=false", "--leader-elect=false",
		"--secure-port=0", "--v=2")
	cmd.Dir = filepath.Dir(logPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	proc, err := startProcess("kube-controller-manager", cmd, logPath)
	if err != nil {
		return nil, err
	}
	cm := &controllerManager{proc: proc, logPath: logPath}
	if err := cm.waitStarted(ctx, controllers); err != nil {
		return nil, errors.Join(err, cm.stop())
	}
	return cm, nil
}

// startedMarkers are what kube-controller-manager logs once a controller
// works: the garbage collector only collects after its monitors of every
// resource have synced.
var startedMarkers = map[string]string{
	ControllerGarbageCollector: `"Proceeding to collect garbage"`,
	ControllerJob:              `"Starting job controller"`,
}

// waitStarted polls the log until every controller has started.
func (cm *controllerManager) waitStarted(ctx context.Context, controllers []string) error {
	ctx, cancel := context.WithTimeout(ctx, controllerStartTimeout)
	defer cancel()
	for {
		data, _ := os.ReadFile(cm.logPath)
		missing := notStarted(data, controllers)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-cm.proc.done:
			return fmt.Errorf("kube-controller-manager exited while starting (%w); see %s", cm.proc.waitErr, cm.logPath)
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager did not start %s: %w; see %s", strings.Join(missing, ", "), ctx.Err(), cm.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// notStarted lists the controllers whose start the log does not show yet.
func notStarted(log []byte, controllers []string) []string {
	var missing []string
	for _, c := range controllers {
		marker, known := startedMarkers[c]
		if !known {
			marker = `"Starting controller" controller="` + c + `"`
		}
		if !bytes.Contains(log, []byte(marker)) {
			missing = append(missing, c)
		}
	}
	return missing
}

// stop stops kube-controller-manager and waits for it to exit.
func (cm *controllerManager) stop() error {
	if cm == nil || cm.proc == nil {
		return nil
	}
	return cm.proc.stop()
}
