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

package controllers

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"reportd.io/reportd/internal/testsupport"
)

// The envtest suite: one API server (kube-apiserver and etcd) for the
// package, started once; each spec works in a namespace of its own and
// starts the managers it needs, restricted to that namespace, so specs
// (and other controllers' specs in this package) never see each other.
var (
	// cfg is the API server's admin configuration.
	cfg *rest.Config
	// k8sClient talks to the API server directly (no cache) as the tests.
	k8sClient client.WithWatch
	// testEnv is the running control plane.
	testEnv *envtest.Environment
	// fakegenPath is the test stand-in for `reportd generate` (testdata/fakegen).
	fakegenPath string
	// processKubeconfig is what the local executor gives its processes.
	processKubeconfig string
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	ctrl.SetLogger(GinkgoLogr)
	var err error
	testEnv, cfg, err = testsupport.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: testsupport.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	dir, err := os.MkdirTemp("", "reportd-controllers-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	processKubeconfig = filepath.Join(dir, "kubeconfig")
	Expect(testsupport.WriteKubeconfig(testEnv, "generator", processKubeconfig)).To(Succeed())

	fakegenPath = filepath.Join(dir, "fakegen")
	build := exec.CommandContext(ctx, "go", "build", "-o", fakegenPath, "./testdata/fakegen")
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "building testdata/fakegen")
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
