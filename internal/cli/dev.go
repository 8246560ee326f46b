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

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2/textlogger"

	"reportd.io/reportd/internal/devstack"
	"reportd.io/reportd/internal/sampledata"
)

func init() { addCommand(newDevCommand) }

// devFlags are the flags of `reportd dev`.
type devFlags struct {
	stateDir string
	persist  bool
	address  string
	opts     devstack.Options
}

// newDevCommand returns `reportd dev`.
func newDevCommand() *cobra.Command {
	f := &devFlags{opts: devstack.Options{Sizes: sampledata.DefaultSizes()}}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole stack on this machine: control plane, PostgreSQL, storage, manager, facade",
		Long: `Run reportd's whole stack on this machine, with no cluster and no Docker:
etcd, kube-apiserver and kube-controller-manager's garbage collector (built
by "make envtest"), PostgreSQL with the sample data and a read-only
datasource role, file storage (or an S3 server with --s3), mailpit (where
notification e-mails go; its web UI shows them), and reportd's manager with
the local Job executor and the facade.

When it is ready it prints the web page's URL, a user's token, a curl
command that requests a report and a kubectl command that watches them,
and writes the same to <state dir>/dev.json for scripts. Ctrl-C stops
everything and removes dev.json and every temporary directory. Without
--persist the cluster, the database and the files are thrown away on exit;
with it they stay in <state dir>/data for the next run. Logs stay in
<state dir>/logs.`,
		Example: `  make dev
  reportd dev --persist --s3
  reportd dev --address 127.0.0.1:9000 --orders 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, cmd.OutOrStdout(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.stateDir, "state-dir", ".reportd-dev", "directory of dev.json, the kubeconfig, the logs and (with --persist) the data")
	fs.BoolVar(&f.persist, "persist", false, "keep the cluster's objects, the database and the report files in <state-dir>/data across restarts")
	fs.StringVar(&f.address, "address", "127.0.0.1:8082", "address the facade (API and web page) listens on")
	fs.StringVar(&f.opts.Namespace, "namespace", devstack.DefaultNamespace, "namespace of the reports, definitions and Secrets")
	fs.BoolVar(&f.opts.S3, "s3", false, "store reports in a local S3 server (versitygw, built by make test-servers) instead of files")
	fs.IntVar(&f.opts.Sizes.Orders, "orders", f.opts.Sizes.Orders, "sample orders to load")
	fs.IntVar(&f.opts.Sizes.Users, "users", f.opts.Sizes.Users, "sample users to load")
	fs.IntVar(&f.opts.Sizes.Products, "products", f.opts.Sizes.Products, "sample products to load")
	return cmd
}

// runDev starts the stack, prints how to use it, writes dev.json, and
// stops everything when ctx ends or the manager fails.
func runDev(ctx context.Context, out io.Writer, f *devFlags) error {
	opts := f.opts
	opts.StateDir, opts.Persist, opts.FacadeAddress = f.stateDir, f.persist, f.address
	logFile, err := openDevLog(f.stateDir)
	if err != nil {
		return err
	}
	defer logFile.Close()
	opts.Logger = textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(logFile)))
	opts.Progress = out
	fmt.Fprintf(out, "Starting reportd's local stack (state in %s)\n", f.stateDir)
	stack, err := devstack.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("the local stack did not start: %w (logs in %s)", err, filepath.Join(f.stateDir, "logs"))
	}
	infoPath, err := stack.WriteInfo()
	if err == nil {
		printReady(out, stack, infoPath)
		err = waitForEnd(ctx, stack)
	}
	fmt.Fprintln(out, "\nStopping ...")
	began := time.Now()
	err = errors.Join(err, stack.Stop())
	if err == nil {
		fmt.Fprintf(out, "Stopped in %.1fs; nothing is left running.\n", time.Since(began).Seconds())
	}
	return err
}

// waitForEnd waits for Ctrl-C (or SIGTERM), or for the manager to fail.
func waitForEnd(ctx context.Context, stack *devstack.Stack) error {
	select {
	case <-ctx.Done():
		return nil
	case <-stack.Done():
		return fmt.Errorf("the manager stopped: %w", stack.Err())
	}
}

// openDevLog creates the manager's log file in the state directory.
func openDevLog(stateDir string) (*os.File, error) {
	dir := filepath.Join(stateDir, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the log directory: %w", err)
	}
	return os.OpenFile(filepath.Join(dir, "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
}

// printReady prints what a person needs to use the stack. The tokens are
// printed on purpose: they are the local stack's demo tokens, and this
// terminal is their only reader (logs never carry them).
func printReady(out io.Writer, s *devstack.Stack, infoPath string) {
	alice, bob := s.Users[0], s.Users[1]
	fmt.Fprintf(out, `
reportd dev is ready in %.1fs.

  Web page      %s/
  Token         %s  (user %s; a second user, %s: %s)

  Request a sales report:
    curl -H "Authorization: Bearer %s" -H 'Content-Type: application/json' \
      -d '{"reportType":"sales","parameters":{"startDate":"2024-01-01","endDate":"2024-01-31"}}' \
      %s/api/v1/reports
  then follow it with GET %s/api/v1/reports/<id> and fetch it from .../<id>/download.

  Watch the reports as an operator:
    KUBECONFIG=%s kubectl get reportrequests -n %s -w

  Database      psql '%s'
  Storage       %s
  Mail          %s/  (mailpit: the notification e-mails)
  Logs          %s
  For scripts   %s

Press Ctrl-C to stop.
`, s.StartedIn().Seconds(), s.FacadeURL, alice.Token, alice.Name, bob.Name, bob.Token,
		alice.Token, s.FacadeURL, s.FacadeURL, s.Kubeconfig, s.Namespace,
		s.Postgres.URL, s.StorageURL, s.Mail.APIURL, s.LogDir, infoPath)
}
