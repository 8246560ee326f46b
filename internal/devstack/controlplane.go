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
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"reportd.io/reportd/internal/testsupport"
)

// modulePath is reportd's Go module, which marks the source tree.
const modulePath = "reportd.io/reportd"

// UserKubeconfig is the name of the administrator's kubeconfig in the
// state directory.
const UserKubeconfig = "kubeconfig"

// findRepoDir returns dir when set, else the reportd source tree holding
// the working directory, else the one this package was compiled from.
func findRepoDir(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if isReportdModule(filepath.Join(d, "go.mod")) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	root, err := testsupport.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("the local stack installs config/ from a reportd source tree; run it from one: %w", err)
	}
	return root, nil
}

// isReportdModule reports whether the go.mod at path is reportd's.
func isReportdModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return strings.TrimSpace(line) == "module "+modulePath
}

// controlPlaneBinaries checks that `make envtest` has built the control
// plane, naming the target when it has not.
func controlPlaneBinaries() (string, error) {
	dir := testsupport.ControlPlaneDir()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not built in %s: run `make envtest` (it builds the control plane from source once per machine)", name, dir)
		}
	}
	return dir, nil
}

// startControlPlane starts etcd and kube-apiserver with reportd's CRDs
// and writes the administrator's kubeconfig.
func (s *Stack) startControlPlane(_ context.Context) error {
	assets, err := controlPlaneBinaries()
	if err != nil {
		return err
	}
	env, cfg, err := testsupport.StartEnvironment(func() (*envtest.Environment, error) {
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(s.repoDir, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			BinaryAssetsDirectory: assets,
			Scheme:                testsupport.Scheme(),
		}
		return env, s.configureControlPlane(env)
	})
	if err != nil {
		return err
	}
	s.onStop("the control plane", env.Stop)
	s.Env, s.Config = env, cfg
	if s.Client, err = client.New(cfg, client.Options{Scheme: testsupport.Scheme()}); err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(s.StateDir, UserKubeconfig)
	if err := testsupport.WriteKubeconfig(env, "reportd-dev", s.Kubeconfig); err != nil {
		return err
	}
	s.onStop("the kubeconfig", func() error { return removeIfExists(s.Kubeconfig) })
	return nil
}

// configureControlPlane keeps etcd's data when persistent, sends the
// servers' output to log files, and admits pods through the
// ServiceAccount plugin on the production path.
func (s *Stack) configureControlPlane(env *envtest.Environment) error {
	etcd := &envtest.Etcd{}
	if s.opts.Persist {
		etcd.DataDir = filepath.Join(s.dataDir, "etcd")
		if err := os.MkdirAll(etcd.DataDir, 0o700); err != nil {
			return err
		}
	}
	etcdLog, err := s.openLog("etcd.log")
	if err != nil {
		return err
	}
	etcd.Out, etcd.Err = etcdLog, etcdLog
	env.ControlPlane.Etcd = etcd
	api := env.ControlPlane.GetAPIServer()
	apiLog, err := s.openLog("kube-apiserver.log")
	if err != nil {
		return err
	}
	api.Out, api.Err = apiLog, apiLog
	if s.opts.JobController {
		// envtest disables the plugin because nothing creates the default
		// ServiceAccount; reportd's pods name their own, which must exist.
		api.Configure().Disable("disable-admission-plugins")
	}
	return nil
}

// openLog creates (truncates) a log file in LogDir, closed at Stop.
func (s *Stack) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.LogDir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open a log: %w", err)
	}
	s.onStop(name, f.Close)
	return f, nil
}

// writeUserKubeconfig writes a kubeconfig for a new client-certificate
// user of the API server.
func (s *Stack) writeUserKubeconfig(user envtest.User, path string) error {
	u, err := s.Env.AddUser(user, nil)
	if err != nil {
		return fmt.Errorf("add user %s: %w", user.Name, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// startControllerManager starts kube-controller-manager's garbage
// collector (and the job controller on the production path).
func (s *Stack) startControllerManager(ctx context.Context) error {
	controllers := []string{ControllerGarbageCollector}
	if s.opts.JobController {
		controllers = append(controllers, ControllerJob)
	}
	kubeconfig := filepath.Join(s.runDir, "kube-controller-manager.kubeconfig")
	if err := s.writeUserKubeconfig(envtest.User{Name: "reportd-dev:kube-controller-manager", Groups: []string{"system:masters"}}, kubeconfig); err != nil {
		return err
	}
	bin := filepath.Join(testsupport.ControlPlaneDir(), "kube-controller-manager")
	// A previous run's log would show controllers as started already.
	logPath := filepath.Join(s.LogDir, "kube-controller-manager.log")
	if err := removeIfExists(logPath); err != nil {
		return err
	}
	cm, err := startControllerManager(ctx, bin, kubeconfig, logPath, controllers)
	if err != nil {
		return err
	}
	s.onStop("kube-controller-manager", cm.stop)
	return nil
}

// removeIfExists removes a file; one already gone is fine.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
