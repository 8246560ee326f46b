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

// Package e2e is reportd's end-to-end suite. TestMain builds the reportd
// binary and starts the local stack of `reportd dev` once (internal/devstack:
// control plane with the garbage collector, PostgreSQL with sample data,
// file storage, the manager with the local Job executor, the facade);
// every test then drives it as its users do: operators with kubectl and
// the kubeconfig, end users over HTTP with a token, and checks what they
// would check: the phase, the progress, the file, and that deletion
// leaves nothing behind.
//
// To add cases: write a TestXxx in a new file of this package and use the
// helpers here (the stack, kubectl, applyYAML, watchRequests, fetchResult,
// psqlCopy, facade). Give every object a name of its own (newName) so tests
// can run in any order in the one namespace.
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2/textlogger"

	"reportd.io/reportd/internal/devstack"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// Sample sizes: small, so the whole suite takes a few minutes, yet enough
// rows that every report spans several progress updates of the generator.
var suiteSizes = sampledata.Sizes{Orders: 2000, Users: 200, Products: 50}

// The suite's shared state, set by TestMain.
var (
	// stack is the running local stack.
	stack *devstack.Stack
	// reportdBinary is the reportd binary built for this run; the local
	// executor runs it for `reportd generate`, and tests may run it too.
	reportdBinary string
	// kubectlPath is the kubectl the suite drives the cluster with.
	kubectlPath string
)

// suiteStartTimeout bounds building the binary and starting the stack.
const suiteStartTimeout = 8 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

// runSuite starts everything, runs the tests, and stops everything, so
// the deferred stops run before os.Exit.
func runSuite(m *testing.M) int {
	work, err := os.MkdirTemp("", "reportd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(work)
	if err := setUp(work); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setting up the stack failed:", err)
		return 1
	}
	code := m.Run()
	if err := stack.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the stack:", err)
		code = 1
	}
	return code
}

// setUp finds kubectl, builds reportd and starts the stack. Logs go to
// $REPORTD_E2E_ARTIFACTS when set (CI keeps them), else to a directory
// removed after the run.
func setUp(work string) error {
	var err error
	if kubectlPath, err = testsupport.KubectlPath(); err != nil {
		return fmt.Errorf("the suite drives the cluster with kubectl: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteStartTimeout)
	defer cancel()
	if reportdBinary, err = e2eutil.BuildReportd(ctx, work); err != nil {
		return err
	}
	stateDir := filepath.Join(work, "state")
	if dir := os.Getenv("REPORTD_E2E_ARTIFACTS"); dir != "" {
		stateDir = dir
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(stateDir, "e2e-manager.log"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: starting the local stack (logs in %s)\n", stateDir)
	stack, err = devstack.Start(ctx, devstack.Options{
		StateDir:        stateDir,
		Sizes:           suiteSizes,
		GeneratorBinary: reportdBinary,
		// Report progress often, so the suite sees it move.
		ProgressInterval: 200 * time.Millisecond,
		Progress:         os.Stderr,
		Logger:           textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(logFile))),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: the stack is ready in %.1fs\n", stack.StartedIn().Seconds())
	// A report type that stops part way, so the web page can be watched
	// showing progress between 0 and 100.
	return e2eutil.InstallGatedType(ctx, stack)
}

// kubectl runs kubectl with the stack's kubeconfig, as an operator would,
// and returns its standard output; the test fails when it fails.
func kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlErr(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// kubectlErr runs kubectl and returns its output, or an error carrying
// what it wrote to standard error.
func kubectlErr(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, append([]string{"--kubeconfig", stack.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// applyYAML applies manifests with kubectl.
func applyYAML(t testing.TB, manifests string) {
	t.Helper()
	kubectl(t, manifests, "apply", "-f", "-")
}

// newName returns a name unique in this run, for objects of one test.
func newName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// readAll reads r whole and closes it, failing the test on error.
func readAll(t testing.TB, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
