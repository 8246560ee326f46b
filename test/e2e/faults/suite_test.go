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

// Package faults is reportd's fault suite: the local stack of test/e2e,
// with the manager as a separate process and S3 storage, and faults
// injected in the middle of reports: the generator process killed,
// PostgreSQL stopped, the S3 server killed during an upload, the manager
// killed with SIGKILL during a burst of 100 reports, the SMTP server down.
// Each test checks what a user would: the report ends Completed with a
// file equal to psql's export of the same query, or Failed with a message
// that says why, and never Completed with partial data; one Job and one
// e-mail per report, whatever happened. docs/testing.md lists what each
// test proves.
//
// The tests share one stack and run one after another: a fault hits the
// whole stack.
package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2/textlogger"

	"reportd.io/reportd/internal/devstack"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// The suite's shared state, set by TestMain.
var (
	// stack is the running local stack; stack.Manager is the manager's process.
	stack *devstack.Stack
	// reportdBinary is the reportd binary built for this run: the manager
	// process and every report process run it.
	reportdBinary string
)

// suiteSizes keeps the sample small: the burst's reports read a few days
// of orders each.
var suiteSizes = sampledata.Sizes{Orders: 2000, Users: 200, Products: 50}

// suiteStartTimeout bounds building the binary and starting the stack.
const suiteStartTimeout = 8 * time.Minute

// maxRunningJobs is the manager's limit on report Jobs running at once
// (REPORTD_MAX_RUNNING_JOBS): it keeps the burst of 100 within the
// database's connections and this machine's two cores.
const maxRunningJobs = 8

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

// runSuite starts everything, runs the tests, stops everything, and
// fails when a reportd process outlives the stack.
func runSuite(m *testing.M) int {
	work, err := os.MkdirTemp("", "reportd-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(work)
	if err := setUp(work); err != nil {
		fmt.Fprintln(os.Stderr, "faults: setting up the stack failed:", err)
		if stack != nil {
			_ = stack.Stop()
		}
		killLeftovers()
		return 1
	}
	code := m.Run()
	if err := stack.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: stopping the stack:", err)
		code = 1
	}
	if left := killLeftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "faults: reportd processes outlived the stack (killed now):\n  %s\n", strings.Join(left, "\n  "))
		code = 1
	}
	return code
}

// setUp builds reportd, starts the stack with the manager as a process,
// and installs the gated report type.
func setUp(work string) error {
	ctx, cancel := context.WithTimeout(context.Background(), suiteStartTimeout)
	defer cancel()
	var err error
	if reportdBinary, err = e2eutil.BuildReportd(ctx, work); err != nil {
		return err
	}
	stateDir := filepath.Join(work, "state")
	if dir := os.Getenv("REPORTD_E2E_ARTIFACTS"); dir != "" {
		stateDir = filepath.Join(dir, "faults")
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(stateDir, "faults-stack.log"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "faults: starting the local stack (logs in %s)\n", stateDir)
	stack, err = devstack.Start(ctx, devstack.Options{
		StateDir:        stateDir,
		Sizes:           suiteSizes,
		S3:              true,
		ManagerBinary:   reportdBinary,
		GeneratorBinary: reportdBinary,
		ManagerEnv:      []string{fmt.Sprintf("REPORTD_MAX_RUNNING_JOBS=%d", maxRunningJobs)},
		// Progress written often, so a report's middle is seen early.
		ProgressInterval: 200 * time.Millisecond,
		Progress:         os.Stderr,
		Logger:           textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(logFile))),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "faults: the stack is ready in %.1fs\n", stack.StartedIn().Seconds())
	return e2eutil.InstallGatedType(ctx, stack)
}

// killLeftovers kills every process still running the suite's reportd
// binary and says which they were.
func killLeftovers() []string {
	if reportdBinary == "" {
		return nil
	}
	var left []string
	for _, pid := range processesRunning(reportdBinary) {
		left = append(left, fmt.Sprintf("%d: %s", pid, e2eutil.Cmdline(pid)))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}
