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

package testsupport_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

// TestEnvtest starts one control plane (seconds, on a busy machine tens of
// seconds) for the checks that need it.
func TestEnvtest(t *testing.T) {
	env, cfg := testsupport.NewEnvtest(t)
	t.Run("serves reportd's CRDs to clients and kubectl", func(t *testing.T) { checkCRDsServed(t, env, cfg) })
	t.Run("garbage collector deletes orphans", func(t *testing.T) { checkGarbageCollected(t, env, cfg) })
}

func checkCRDsServed(t *testing.T, env *envtest.Environment, cfg *rest.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	lists := []client.ObjectList{
		&reportsv1alpha1.ReportDefinitionList{}, &reportsv1alpha1.ReportRequestList{}, &reportsv1alpha1.ReportScheduleList{},
	}
	for _, list := range lists {
		if err := c.List(ctx, list, client.InNamespace("default")); err != nil {
			t.Errorf("list %T: %v", list, err)
		}
	}

	kubectl, err := testsupport.KubectlPath()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testsupport.WriteKubeconfig(env, "admin", kubeconfig); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "get", "crd", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get crd: %v\n%s", err, out)
	}
	for _, crd := range []string{"reportdefinitions", "reportrequests", "reportschedules"} {
		if !strings.Contains(string(out), crd+".reports.reportd.io") {
			t.Errorf("kubectl does not list the %s CRD:\n%s", crd, out)
		}
	}
}

func TestEnvtestWithoutControlPlaneSaysHowToBuildIt(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", t.TempDir())
	_, _, err := testsupport.StartEnvtest()
	if err == nil || !strings.Contains(err.Error(), "make envtest") {
		t.Errorf("got %v, want an error telling to run make envtest", err)
	}
}

func checkGarbageCollected(t *testing.T, env *envtest.Environment, cfg *rest.Config) {
	gc := testsupport.NewGarbageCollector(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: "default"}}
	if err := c.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	child := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "child", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}}}
	if err := c.Create(ctx, child); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	for {
		err := c.Get(ctx, client.ObjectKeyFromObject(child), &corev1.ConfigMap{})
		if apierrors.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the child of a deleted owner was not collected (last get: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid := gc.PID()
	if err := gc.Stop(); err != nil {
		t.Fatal(err)
	}
	if testsupport.Alive(pid) {
		t.Errorf("kube-controller-manager (pid %d) still runs after Stop", pid)
	}
}
