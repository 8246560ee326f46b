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

	"github.com/jackc/pgx/v5"
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
	return installGatedType(ctx)
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

// gatedType is a report type whose rows stop at a gate: at row gateRow
// its query waits for a shared advisory lock on gateKey, which the test
// holds until it has injected its fault (see gate). So a report stands
// still in the middle of its rows, with some stored and progress shown,
// for as long as the test needs, however slow the machine. Its rows are
// numbers first..last with an md5 and a pad of width md5s (32 characters
// each), so a report's size is chosen freely; progress comes from the N
// column moving from first to last (KeyRange: no count query, which would
// stop at the gate too). No ORDER BY: a sort would read every row, and
// wait at the gate, before sending the first.
const gatedType = "gated"

// gatedTypeYAML is the gated type's definition.
var gatedTypeYAML = `apiVersion: reports.reportd.io/v1alpha1
kind: ReportDefinition
metadata:
  name: ` + gatedType + `
spec:
  description: Numbered rows that stop at a gate the fault suite opens.
  query: |
    SELECT g AS "N", md5(g::text) AS "Hash", repeat(md5(g::text), @width::int) AS "Pad"
    FROM generate_series(@first::int, @last::int) AS g
    WHERE faults_gate(g, @gateRow::int, @gateKey::bigint)
  parameters:
  - {name: first, type: integer, required: true}
  - {name: last, type: integer, required: true}
  - {name: width, type: integer, default: "1", min: 0}
  - {name: gateRow, type: integer, default: "0", min: 0}
  - {name: gateKey, type: integer, default: "0"}
  timeZone: UTC
  timeout: 10m
  progress:
    mode: KeyRange
    keyColumn: "N"
    startParameter: first
    endParameter: last
`

// gateFunction waits at row gate_row until the gate's advisory lock is
// free. Advisory locks are outside the report's snapshot, so the test's
// unlock is seen at once; EXECUTE on functions and advisory locks are
// everyone's by default, so the read-only datasource role may use both.
const gateFunction = `CREATE OR REPLACE FUNCTION faults_gate(n int, gate_row int, gate_key bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF n = gate_row THEN
    PERFORM pg_advisory_xact_lock_shared(gate_key);
  END IF;
  RETURN true;
END $$`

// installGatedType creates the gate function and the gated definition,
// and waits until the manager has checked it against the database.
func installGatedType(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, stack.Postgres.URL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, gateFunction); err != nil {
		return fmt.Errorf("create the gate function: %w", err)
	}
	if err := applyYAML(ctx, gatedTypeYAML); err != nil {
		return err
	}
	return waitDefinitionReady(ctx, gatedType)
}
