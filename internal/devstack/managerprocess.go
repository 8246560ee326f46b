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
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/notify"
	"reportd.io/reportd/internal/testsupport"
)

// managerReadyWait bounds the wait for a manager process to answer /readyz.
const managerReadyWait = 2 * time.Minute

// ManagerProcess is the manager running as a child process (with
// Options.ManagerBinary): `reportd manager` with the local executor and
// the facade, as a Deployment's pod runs it. Fault tests kill it as a
// crash would and start it again with the same flags and ports.
type ManagerProcess struct {
	bin      string
	args     []string
	env      []string
	logPath  string
	probeURL string

	mu      sync.Mutex
	proc    *process
	stopped bool
}

// launchManager starts the manager in this process, or as a child
// process when Options.ManagerBinary is set.
func (s *Stack) launchManager(ctx context.Context) error {
	if s.opts.ManagerBinary == "" {
		return s.startManager(ctx)
	}
	return s.startManagerProcess(ctx)
}

// startManagerProcess runs `reportd manager` as a child process and
// waits until its facade is ready.
func (s *Stack) startManagerProcess(ctx context.Context) error {
	m, err := s.newManagerProcess()
	if err != nil {
		return err
	}
	s.Manager = m
	s.onStop("the manager process", m.stop)
	return m.start(ctx)
}

// newManagerProcess builds the manager's command line: the stack's
// kubeconfig, namespace, storage, demo users and executor; fixed ports
// for the facade and the health probes, so a restart serves the same URL.
func (s *Stack) newManagerProcess() (*ManagerProcess, error) {
	facadeAddr, err := fixedAddress(s.opts.FacadeAddress)
	if err != nil {
		return nil, err
	}
	probeAddr, err := fixedAddress("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tokenFile, err := s.prepareUsers()
	if err != nil {
		return nil, err
	}
	s.FacadeURL = "http://" + facadeAddr
	args := []string{"manager",
		"--kubeconfig", s.Kubeconfig,
		"--namespaces", s.Namespace, "--namespace", s.Namespace,
		// One manager runs at a time; a restarted one need not wait for
		// the killed one's Lease to expire.
		"--leader-elect=false",
		"--metrics-bind-address", "0", "--health-probe-bind-address", probeAddr,
		"--bind-address", facadeAddr, "--public-url", s.FacadeURL, "--token-file", tokenFile,
		"--generator-image", s.opts.GeneratorImage, "--generator-service-account", GeneratorAccount,
		"--datasource-secret", DatasourceSecret, "--datasource-secret-key", "url",
		"--storage", s.storageCfg.URL,
	}
	// Credentials go through the environment: command lines are public.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.runDir}
	if s.S3 != nil {
		args = append(args, "--s3-endpoint", s.storageCfg.Endpoint, "--s3-region", s.storageCfg.Region,
			"--s3-path-style", "--s3-credentials-secret", S3CredentialsSecret)
		env = append(env, "REPORTD_S3_ACCESS_KEY="+s.storageCfg.AccessKey, "REPORTD_S3_SECRET_KEY="+s.storageCfg.SecretKey)
	}
	if s.opts.ProgressInterval > 0 {
		args = append(args, "--progress-interval", s.opts.ProgressInterval.String())
	}
	args = append(args, notifyArgs(s.notifyConfig())...)
	if !s.opts.JobController {
		if s.opts.GeneratorBinary == "" {
			s.opts.GeneratorBinary = s.opts.ManagerBinary
		}
		ex, err := s.executorOptions()
		if err != nil {
			return nil, err
		}
		args = append(args, "--local-executor", "--local-executor-binary", ex.Binary,
			"--local-executor-kubeconfig", ex.Kubeconfig, "--local-executor-work-dir", ex.WorkDir)
	}
	return &ManagerProcess{
		bin: s.opts.ManagerBinary, args: args, env: append(env, s.opts.ManagerEnv...),
		logPath: filepath.Join(s.LogDir, "manager.log"), probeURL: "http://" + probeAddr + "/readyz",
	}, nil
}

// notifyArgs are the manager's flags for the stack's notification
// settings, the ones the in-process manager gets.
func notifyArgs(c manager.NotifyConfig) []string {
	d := c.Delivery
	return []string{
		"--smtp-host", c.SMTP.Host, "--smtp-port", strconv.Itoa(c.SMTP.Port),
		"--smtp-from", c.SMTP.From, "--smtp-tls", string(c.SMTP.TLS),
		notify.AllowCIDRsFlag, strings.Join(c.WebhookAllowCIDRs, ","),
		"--notify-max-attempts", strconv.Itoa(int(d.MaxAttempts)),
		"--notify-backoff", d.Backoff.String(), "--notify-max-backoff", d.MaxBackoff.String(),
		"--notify-timeout", d.AttemptTimeout.String(),
	}
}

// fixedAddress turns an address with port 0 into one with a port that
// is free now, so the manager keeps it across restarts.
func fixedAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	free, err := testsupport.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(free)), nil
}

// start starts the process and waits until /readyz answers 200 (caches
// synced, facade serving).
func (m *ManagerProcess) start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return errors.New("the stack was stopped")
	}
	if err := appendLine(m.logPath, "--- reportd manager starting at "+time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Env = m.env
	p, err := startProcess("reportd manager", cmd, m.logPath)
	if err != nil {
		return err
	}
	m.proc = p
	return m.waitReady(ctx, p)
}

// waitReady polls the health probe until it says ready, the process
// exits, or the wait runs out.
func (m *ManagerProcess) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, managerReadyWait)
	defer cancel()
	for {
		err := probe(ctx, m.probeURL)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("the manager exited while starting (%w); see %s", p.waitErr, m.logPath)
		case <-ctx.Done():
			return fmt.Errorf("the manager was not ready in time (%w); see %s", err, m.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PID is the manager's process id (of its latest start).
func (m *ManagerProcess) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc.pid()
}

// Kill kills the manager with SIGKILL, as the kernel's OOM killer or a
// lost node would, and waits until it is gone. The report processes of
// its local executor die with it.
func (m *ManagerProcess) Kill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill the manager: %w", err)
	}
	<-m.proc.done
	return nil
}

// Restart starts the manager again with the same flags and ports after
// Kill (a running one is stopped first) and waits until it is ready.
func (m *ManagerProcess) Restart(ctx context.Context) error {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if err := p.stop(); err != nil {
		return err
	}
	return m.start(ctx)
}

// stop stops the manager gracefully (SIGTERM; its executor kills its
// report processes) when the stack stops.
func (m *ManagerProcess) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	if m.proc == nil {
		return nil
	}
	return m.proc.stop()
}

// appendLine appends one line to a log file.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the manager's log: %w", err)
	}
	_, err = fmt.Fprintln(f, line)
	return errors.Join(err, f.Close())
}
