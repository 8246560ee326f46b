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

// Package e2eutil holds what reportd's end-to-end suites (test/e2e,
// test/e2e/faults, test/e2e/production) share: building the binary,
// polling for a condition, psql's export to compare reports with, and the
// process table.
package e2eutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"reportd.io/reportd/internal/testsupport"
)

// BuildReportd builds the reportd binary into dir from the source tree
// the suite belongs to, and returns its path.
func BuildReportd(ctx context.Context, dir string) (string, error) {
	root, err := testsupport.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "reportd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build reportd: %w\n%s", err, out)
	}
	return bin, nil
}

// Eventually polls cond until it holds or the timeout passes; then it
// fails the test with what cond last said.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PsqlCopy returns what psql's COPY (query) TO STDOUT CSV HEADER writes,
// read through databaseURL in UTC: the yardstick a report's CSV must equal.
func PsqlCopy(t testing.TB, databaseURL, query string) []byte {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("the suite compares reports with psql's output: install postgresql-client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	copyCmd := "COPY (" + strings.TrimRight(strings.TrimSpace(query), ";") + ") TO STDOUT WITH (FORMAT csv, HEADER)"
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", databaseURL, "-c", copyCmd)
	cmd.Env = []string{"PGTZ=UTC", "PATH=/usr/bin:/bin"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, stderr.String())
	}
	return out
}

// AllPIDs lists the running processes (Linux /proc).
func AllPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Cmdline returns a process's command line, for messages.
func Cmdline(pid int) string {
	data, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
}
