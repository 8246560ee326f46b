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
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
)

// ControlPlaneVersion names the control-plane build (kube-apiserver,
// kube-controller-manager, kubectl and etcd) that `make envtest` makes; it
// must match K8S_VERSION and ETCD_VERSION in the Makefile.
const ControlPlaneVersion = "k8s-v1.37.2-etcd-v3.7.3"

// CacheDir returns the machine-level cache the Makefile builds tools into:
// $REPORTD_CACHE_DIR, else $XDG_CACHE_HOME/reportd, else ~/.cache/reportd.
func CacheDir() string {
	if dir := os.Getenv("REPORTD_CACHE_DIR"); dir != "" {
		return dir
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "reportd")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "reportd")
}

// ControlPlaneDir returns the directory of the control-plane binaries:
// $KUBEBUILDER_ASSETS, else <CacheDir>/<ControlPlaneVersion>.
func ControlPlaneDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(CacheDir(), ControlPlaneVersion)
}

// controlPlaneBinary returns the path of a control-plane binary, or the
// error that tells how to build it.
func controlPlaneBinary(name string) (string, error) {
	path := filepath.Join(ControlPlaneDir(), name)
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("control plane not built: run `make envtest` (%s not found)", path)
	}
	return path, nil
}

// KubectlPath returns the kubectl built with the control plane (of the
// API server's version), else the one on PATH.
func KubectlPath() (string, error) {
	path, err := controlPlaneBinary("kubectl")
	if err == nil {
		return path, nil
	}
	if onPath, lookErr := exec.LookPath("kubectl"); lookErr == nil {
		return onPath, nil
	}
	return "", fmt.Errorf("kubectl not found on PATH or with the control plane: %w", err)
}

// Scheme returns a scheme with the Kubernetes built-in types and reportd's
// API registered, for clients of the test API server.
func Scheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(reportsv1alpha1.AddToScheme(scheme))
	return scheme
}

// StartEnvtest starts etcd and kube-apiserver (envtest, on free loopback
// ports) with reportd's CRDs from config/crd/bases installed. Start it once
// per test package (TestMain or BeforeSuite): the API server waits 2 s
// before the first create of a new CRD's objects. Call Stop on the
// environment when done.
func StartEnvtest() (*envtest.Environment, *rest.Config, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := controlPlaneBinary(name); err != nil {
			return nil, nil, err
		}
	}
	return StartEnvironment(func() (*envtest.Environment, error) {
		return &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			BinaryAssetsDirectory: ControlPlaneDir(),
			Scheme:                Scheme(),
		}, nil
	})
}

// envtestStartAttempts bounds StartEnvironment's retries.
const envtestStartAttempts = 3

// StartEnvironment starts an environment made by newEnv, retrying with a
// fresh one when envtest gives up waiting for the default namespace:
// envtest allows a fixed 5 s for it, which a loaded 2-core machine can
// exceed while the API server is otherwise fine. What a failed attempt
// started is stopped before the next.
func StartEnvironment(newEnv func() (*envtest.Environment, error)) (*envtest.Environment, *rest.Config, error) {
	var errs []error
	for attempt := 1; attempt <= envtestStartAttempts; attempt++ {
		env, err := newEnv()
		if err != nil {
			return nil, nil, err
		}
		cfg, err := env.Start()
		if err == nil {
			return env, cfg, nil
		}
		errs = append(errs, fmt.Errorf("start envtest (attempt %d): %w", attempt, err), env.Stop())
		if !strings.Contains(err.Error(), "default namespace didn't register") {
			break
		}
	}
	return nil, nil, errors.Join(errs...)
}

// NewEnvtest starts envtest for a test and stops it when the test ends;
// it fails the test if it cannot start. Prefer one per package (see
// StartEnvtest).
func NewEnvtest(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env, cfg, err := StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return env, cfg
}

// WriteKubeconfig adds a user in system:masters to the running envtest
// and writes a kubeconfig for it to path (mode 0600), so tests and `reportd
// dev` users can run kubectl against the test API server.
func WriteKubeconfig(env *envtest.Environment, userName, path string) error {
	user, err := env.AddUser(envtest.User{Name: userName, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add envtest user %s: %w", userName, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("make a kubeconfig for %s: %w", userName, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
