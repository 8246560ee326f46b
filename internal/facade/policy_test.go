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

package facade_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

// policyMessage is what the admission policy says when it refuses.
const policyMessage = "spec.requestedBy must be your own user name"

// userClient returns a client authenticating as name in groups.
func userClient(t *testing.T, name string, groups ...string) (client.Client, *envtest.AuthenticatedUser) {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: name, Groups: groups}, adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(user.Config(), client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, user
}

// request builds a ReportRequest of type sales owned by owner.
func reportRequest(ns, name, owner string) *v1alpha1.ReportRequest {
	return &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.ReportRequestSpec{Type: "sales", RequestedBy: owner},
	}
}

func TestAdmissionPolicyKeepsRequestedByHonest(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	if err := grant(ctx, "reportd-test-users", "mallory", []rbacv1.PolicyRule{{
		APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"reportrequests", "reportschedules"},
		Verbs: []string{"create", "get", "delete"},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"ops", facadeUser} {
		if err := grant(ctx, "reportd-test-"+strings.ReplaceAll(subject, ":", "-"), subject, facadeRules()); err != nil {
			t.Fatal(err)
		}
	}
	mallory, malloryUser := userClient(t, "mallory", "reportd:users")

	// Policies take a moment to be enforced: retry until a forged create is
	// refused, deleting what got through before.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		forged := reportRequest(ns, "forged", "alice")
		err = mallory.Create(ctx, forged)
		if err != nil || time.Now().After(deadline) {
			break
		}
		_ = admin.Delete(ctx, forged)
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), policyMessage) || !strings.Contains(err.Error(), `"mallory"`) {
		t.Fatalf("mallory creating a report as alice: %v; want the policy's refusal", err)
	}
	if err := mallory.Create(ctx, reportRequest(ns, "own", "mallory")); err != nil {
		t.Errorf("mallory creating her own report: %v", err)
	}

	// The same refusal through kubectl, as a user would see it.
	out, kubectlErr := kubectlAs(t, malloryUser, "create", "-n", ns, "-f", "-", `apiVersion: reports.reportd.io/v1alpha1
kind: ReportRequest
metadata:
  name: forged-by-kubectl
spec:
  type: sales
  requestedBy: alice
`)
	if kubectlErr == nil || !strings.Contains(out, policyMessage) {
		t.Errorf("kubectl create as someone else: %v\n%s", kubectlErr, out)
	}

	// A schedule would create reports as its template's requester.
	schedule := &v1alpha1.ReportSchedule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "forged-schedule"},
		Spec: v1alpha1.ReportScheduleSpec{Schedule: "0 6 * * *",
			Template: v1alpha1.ReportRequestTemplate{Spec: v1alpha1.ReportRequestSpec{Type: "sales", RequestedBy: "alice"}}},
	}
	if err := mallory.Create(ctx, schedule); err == nil || !strings.Contains(err.Error(), policyMessage) {
		t.Errorf("mallory creating a schedule as alice: %v", err)
	}

	// The facade's ServiceAccount and the admin group may name anyone.
	facadeClient, _ := userClient(t, facadeUser, "system:serviceaccounts")
	if err := facadeClient.Create(ctx, reportRequest(ns, "by-facade", "alice")); err != nil {
		t.Errorf("the facade creating alice's report: %v", err)
	}
	opsClient, _ := userClient(t, "ops", "reportd:admins")
	if err := opsClient.Create(ctx, reportRequest(ns, "by-ops", "alice")); err != nil {
		t.Errorf("an admin creating alice's report: %v", err)
	}
	var list v1alpha1.ReportRequestList
	if err := admin.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, rr := range list.Items {
		owners[rr.Name] = rr.Spec.RequestedBy
	}
	want := map[string]string{"own": "mallory", "by-facade": "alice", "by-ops": "alice"}
	if len(owners) != len(want) {
		t.Errorf("reports %v, want %v", owners, want)
	}
	for name, owner := range want {
		if owners[name] != owner {
			t.Errorf("report %s owned by %q, want %q", name, owners[name], owner)
		}
	}
}

// kubectlAs runs kubectl with user's kubeconfig, stdin as input.
func kubectlAs(t *testing.T, user *envtest.AuthenticatedUser, args ...string) (string, error) {
	t.Helper()
	stdin := args[len(args)-1]
	args = args[:len(args)-1]
	bin, err := testsupport.KubectlPath()
	if err != nil {
		if bin, err = exec.LookPath("kubectl"); err != nil {
			t.Fatalf("kubectl not found with the control plane or on PATH: run `make envtest`")
		}
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", path}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
