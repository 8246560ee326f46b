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

package chart

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

const fieldOwner = client.FieldOwner("reportd-chart-test")

// newClient returns a client of the test API server as cfg's user.
func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// installCRDs installs, for real, the CRDs a rendering holds, and waits
// until they are served, so its custom resources can be dry-run.
func installCRDs(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, o := range ofKind(objs, "CustomResourceDefinition") {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, crd); err != nil {
			t.Fatal(err)
		}
		crds = append(crds, crd)
	}
	if _, err := envtest.InstallCRDs(apiServer, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
		t.Fatalf("installing the chart's CRDs: %v", err)
	}
}

// serviceMonitorCRD stands in for the Prometheus Operator's CRD, so the
// chart's ServiceMonitor can be dry-run: it checks kind and metadata only.
func serviceMonitorCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptrTo(true),
				}},
			}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// ensureNamespaces creates namespaces that do not exist yet.
func ensureNamespaces(t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// TestServerSideDryRun applies every object of each rendering to a real
// kube-apiserver with a server-side dry run: the API server validates
// them as `helm install` would have them applied (schemas, CEL of the
// admission policy, RBAC rule shapes, Ingress and PDB rules). The CRDs are
// installed for real first, and the namespaces created.
func TestServerSideDryRun(t *testing.T) {
	admin := newClient(t, apiServer)
	if _, err := envtest.InstallCRDs(apiServer, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{serviceMonitorCRD()}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r          release
		namespaces []string
		extra      []string
	}{
		{defaultRelease, []string{"reports"}, nil},
		{fullRelease, []string{"reports", "reports-finance"}, nil},
		{release{name: "bare", namespace: "reportd-bare"}, []string{"bare-reports"}, []string{
			"--set", "crds.enabled=false", "--set", "facade.enabled=false", "--set", "metrics.enabled=false",
			"--set", "admissionPolicy.enabled=false", "--set-json", `reportNamespaces.names=["bare-reports"]`,
			"--set", "manager.serviceAccount.create=false", "--set", "manager.serviceAccount.name=existing",
		}},
	} {
		t.Run(tc.r.name, func(t *testing.T) {
			objs := tc.r.template(t, tc.extra...)
			installCRDs(t, objs)
			ensureNamespaces(t, admin, append([]string{tc.r.namespace}, tc.namespaces...)...)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
				err := admin.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					fieldOwner, client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("dry run of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			t.Logf("dry-run %d objects: %v", len(objs), kinds)
		})
	}
}

// TestAdmissionPolicyEnforced installs the full values' admission policy
// for real and checks what the API server then lets users create.
func TestAdmissionPolicyEnforced(t *testing.T) {
	ctx := context.Background()
	admin := newClient(t, apiServer)
	objs := fullRelease.template(t)
	installCRDs(t, objs)
	ensureNamespaces(t, admin, "reports", "reports-finance", "elsewhere")
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		o := ofKind(objs, kind)[0]
		if err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), fieldOwner, client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(ctx, o) })
	}
	// Every authenticated user may create ReportRequests, as far as RBAC
	// goes: the policy alone decides.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test-requesters"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"reports.reportd.io"}, Resources: []string{"reportrequests"}, Verbs: []string{"create"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test-requesters"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:authenticated"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(ctx, o) })
	}

	// create dry-runs a ReportRequest as user (in groups) for requestedBy.
	create := func(user string, groups []string, namespace, requestedBy string) error {
		cfg := rest.CopyConfig(apiServer)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
		rr := &reportsv1alpha1.ReportRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-", Namespace: namespace},
			Spec:       reportsv1alpha1.ReportRequestSpec{Type: "sales", RequestedBy: requestedBy},
		}
		return newClient(t, cfg).Create(ctx, rr, client.DryRunAll)
	}

	// The policy takes effect once the API server's informers have it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := create("alice", nil, "reports", "bob")
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice may still request reports as bob 30 s after the policy was installed (last answer: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for name, tc := range map[string]struct {
		user, namespace, requestedBy string
		groups                       []string
		allowed                      bool
	}{
		"a user as herself":                         {user: "alice", namespace: "reports", requestedBy: "alice", allowed: true},
		"a user as someone else":                    {user: "alice", namespace: "reports", requestedBy: "bob"},
		"a user as someone else, second namespace":  {user: "alice", namespace: "reports-finance", requestedBy: "bob"},
		"the release's manager (serves the facade)": {user: "system:serviceaccount:reportd-full:reportd-full-manager", groups: []string{"system:serviceaccounts"}, namespace: "reports", requestedBy: "bob", allowed: true},
		"another release's manager":                 {user: "system:serviceaccount:other:reportd-manager", groups: []string{"system:serviceaccounts"}, namespace: "reports", requestedBy: "bob"},
		"a configured trusted user":                 {user: "system:serviceaccount:argocd:argocd-application-controller", namespace: "reports", requestedBy: "bob", allowed: true},
		"a member of a configured admin group":      {user: "carol", groups: []string{"platform-team"}, namespace: "reports", requestedBy: "bob", allowed: true},
		"a member of the default admin group":       {user: "carol", groups: []string{"reportd:admins"}, namespace: "reports", requestedBy: "bob", allowed: true},
		"outside the release's report namespaces":   {user: "alice", namespace: "elsewhere", requestedBy: "bob", allowed: true},
	} {
		t.Run(name, func(t *testing.T) {
			err := create(tc.user, tc.groups, tc.namespace, tc.requestedBy)
			switch {
			case tc.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.allowed && err == nil:
				t.Errorf("%s could request a report as %s", tc.user, tc.requestedBy)
			case !tc.allowed:
				want := fmt.Sprintf(`spec.requestedBy must be your own user name %q, not %q`, tc.user, tc.requestedBy)
				if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "reportd:admins, platform-team, system:masters") {
					t.Errorf("refused with %v; want a message saying %s and naming the admin groups", err, want)
				}
			}
		})
	}
}
