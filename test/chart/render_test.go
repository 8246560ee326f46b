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
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestLint(t *testing.T) {
	for _, values := range []string{"", "charts/reportd/ci/full-values.yaml"} {
		args := []string{"lint", "--strict", chartDir}
		if values != "" {
			args = append(args, "--values", values)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

// deployment returns the manager Deployment of a rendering as its type.
func deployment(t *testing.T, objs []*unstructured.Unstructured, r release) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Deployment", r.namespace, r.fullname()+"-manager").Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// envOf returns the plain (value, not valueFrom) environment of a container.
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else {
			env[e.Name] = "<from>"
		}
	}
	return env
}

// hasKeepAnnotation tells whether Helm keeps o on uninstall.
func hasKeepAnnotation(o *unstructured.Unstructured) bool {
	return o.GetAnnotations()["helm.sh/resource-policy"] == "keep"
}

func TestDefaultValues(t *testing.T) {
	objs := defaultRelease.template(t)

	crds := ofKind(objs, "CustomResourceDefinition")
	if len(crds) != 3 {
		t.Errorf("%d CRDs rendered, want 3", len(crds))
	}
	for _, crd := range crds {
		if !hasKeepAnnotation(crd) {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep (crds.keep defaults to true)", crd.GetName())
		}
	}
	for _, kind := range []string{"Namespace", "Secret", "Ingress", "ServiceMonitor", "PodDisruptionBudget", "ClusterRoleBinding"} {
		if got := ofKind(objs, kind); len(got) != 0 {
			t.Errorf("default values render a %s (%s); want none", kind, got[0].GetName())
		}
	}

	d := deployment(t, objs, defaultRelease)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "reportd:0.1.0" {
		t.Errorf("image %q, want reportd:0.1.0 (repository without a registry host, the appVersion as tag)", c.Image)
	}
	if len(c.Args) != 1 || c.Args[0] != "manager" {
		t.Errorf("args %v, want [manager]", c.Args)
	}
	checkRestricted(t, pod, c)

	env := envOf(c)
	for name, want := range map[string]string{
		"REPORTD_NAMESPACES":                "reports",
		"REPORTD_LEADER_ELECT":              "true",
		"REPORTD_METRICS_BIND_ADDRESS":      ":8080",
		"REPORTD_HEALTH_PROBE_BIND_ADDRESS": ":8081",
		"REPORTD_BIND_ADDRESS":              ":8090",
		"REPORTD_NAMESPACE":                 "reports",
		"REPORTD_DATASOURCE_SECRET":         "reportd-datasource",
		"REPORTD_GENERATOR_IMAGE":           "reportd:0.1.0",
		"REPORTD_GENERATOR_SERVICE_ACCOUNT": "reportd-generator",
		"REPORTD_DEFAULT_TTL":               "168h",
		"REPORTD_DEFAULT_TIMEOUT":           "1h",
		"REPORTD_DEFAULT_RETRIES":           "2",
	} {
		if env[name] != want {
			t.Errorf("env %s = %q, want %q", name, env[name], want)
		}
	}
	for _, name := range []string{"REPORTD_STORAGE", "REPORTD_S3_ACCESS_KEY", "REPORTD_SMTP_HOST", "REPORTD_TOKEN_FILE"} {
		if _, ok := env[name]; ok {
			t.Errorf("env %s is set by default; want it only when configured", name)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8090 || ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("container ports %v, want http 8090, metrics 8080, health 8081", ports)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("liveness probe %+v, want GET /healthz on port health", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("readiness probe %+v, want GET /readyz on port health", p)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}

	var svc corev1.Service
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Service", "reportd-system", "reportd").Object, &svc); err != nil {
		t.Fatal(err)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Port != 80 || p[0].TargetPort.String() != "http" {
		t.Errorf("facade Service ports %+v, want 80 -> http", p)
	}
	find(t, objs, "Service", "reportd-system", "reportd-metrics")

	// The generator's identity in the report namespace, and the manager's
	// access there.
	find(t, objs, "ServiceAccount", "reports", "reportd-generator")
	find(t, objs, "Role", "reports", "reportd-generator")
	find(t, objs, "RoleBinding", "reports", "reportd-generator")
	find(t, objs, "RoleBinding", "reports", "reportd-manager")
	find(t, objs, "ClusterRole", "", "reportd-manager")
	find(t, objs, "Role", "reportd-system", "reportd-leader-election")
	find(t, objs, "ServiceAccount", "reportd-system", "reportd-manager")
	find(t, objs, "ValidatingAdmissionPolicy", "", "reportd-requested-by")
	find(t, objs, "ValidatingAdmissionPolicyBinding", "", "reportd-requested-by")
}

// checkRestricted checks the manager pod against the restricted Pod
// Security Standard and the chart's promises: non-root, RuntimeDefault
// seccomp, no capabilities, no privilege escalation, a read-only root
// filesystem with an emptyDir at /tmp.
func checkRestricted(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
	}
	var tmpMounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/tmp" {
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil {
					tmpMounted = true
				}
			}
		}
	}
	if !tmpMounted {
		t.Error("no emptyDir mounted at /tmp")
	}
}

func TestFullValues(t *testing.T) {
	objs := fullRelease.template(t)
	reportNamespaces := []string{"reports", "reports-finance"}

	for _, crd := range ofKind(objs, "CustomResourceDefinition") {
		if hasKeepAnnotation(crd) {
			t.Errorf("CRD %s keeps helm.sh/resource-policy: keep with crds.keep=false", crd.GetName())
		}
	}
	for _, ns := range reportNamespaces {
		n := find(t, objs, "Namespace", "", ns)
		if !hasKeepAnnotation(n) {
			t.Errorf("Namespace %s is not kept on uninstall", ns)
		}
		if n.GetLabels()["tenant"] != "finance" {
			t.Errorf("Namespace %s labels %v lack reportNamespaces.labels", ns, n.GetLabels())
		}
		find(t, objs, "ServiceAccount", ns, "reportd-generator")
		find(t, objs, "Role", ns, "full-reportd-generator")
		find(t, objs, "RoleBinding", ns, "full-reportd-generator")
		find(t, objs, "RoleBinding", ns, "full-reportd-manager")
		find(t, objs, "Secret", ns, "full-reportd-s3")
		find(t, objs, "Secret", ns, "reportd-datasource")
	}
	find(t, objs, "Secret", "reportd-full", "full-reportd-s3")
	find(t, objs, "Ingress", "reportd-full", "full-reportd")
	find(t, objs, "ServiceMonitor", "reportd-full", "full-reportd")
	find(t, objs, "PodDisruptionBudget", "reportd-full", "full-reportd-manager")
	find(t, objs, "ServiceAccount", "reportd-full", "reportd-full-manager")

	d := deployment(t, objs, fullRelease)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	checkRestricted(t, d.Spec.Template.Spec, c)
	env := envOf(c)
	for name, want := range map[string]string{
		"REPORTD_NAMESPACES":                  "reports,reports-finance",
		"REPORTD_LEADER_ELECTION_ID":          "reportd-full-leader",
		"REPORTD_STORAGE":                     "s3://reports/prod",
		"REPORTD_S3_ENDPOINT":                 "http://seaweedfs.storage:8333",
		"REPORTD_S3_PUBLIC_ENDPOINT":          "https://s3.example.com",
		"REPORTD_S3_PATH_STYLE":               "true",
		"REPORTD_S3_CREDENTIALS_SECRET":       "full-reportd-s3",
		"REPORTD_S3_ACCESS_KEY":               "<from>",
		"REPORTD_S3_SECRET_KEY":               "<from>",
		"REPORTD_GENERATOR_IMAGE":             "registry.example.com/reportd-generator:v0.1.0",
		"REPORTD_JOB_CPU_LIMIT":               "2",
		"REPORTD_JOB_MEMORY_LIMIT":            "2Gi",
		"REPORTD_SMTP_HOST":                   "smtp.example.com",
		"REPORTD_SMTP_PORT":                   "587",
		"REPORTD_SMTP_PASSWORD":               "<from>",
		"REPORTD_WEBHOOK_ALLOW_CIDRS":         "10.20.0.0/16",
		"REPORTD_EMAIL_ALLOWED_DOMAINS":       "example.com,*.example.com",
		"REPORTD_NOTIFY_MAX_ATTEMPTS":         "8",
		"REPORTD_NOTIFY_BACKOFF":              "30s",
		"REPORTD_NOTIFY_TIMEOUT":              "20s",
		"REPORTD_MAX_RUNNING_JOBS":            "20",
		"REPORTD_MAX_RUNNING_PER_REQUESTER":   "3",
		"REPORTD_REQUEST_WORKERS":             "6",
		"REPORTD_NAMESPACE":                   "reports-finance",
		"REPORTD_PUBLIC_URL":                  "https://reports.example.com",
		"REPORTD_MAX_ACTIVE":                  "5",
		"REPORTD_TOKEN_FILE":                  "/etc/reportd/auth/tokens.csv",
		"REPORTD_LINK_KEY_FILE":               "/etc/reportd/link-key/link-key",
		"REPORTD_OIDC_ISSUER_URL":             "https://login.example.com",
		"REPORTD_TRUSTED_SOURCES":             "10.0.0.0/8,192.168.1.10",
		"REPORTD_DEFAULT_TTL":                 "72h",
		"REPORTD_DEFAULT_RETRIES":             "1",
		"REPORTD_GENERATOR_IMAGE_PULL_POLICY": "IfNotPresent",
	} {
		if env[name] != want {
			t.Errorf("env %s = %q, want %q", name, env[name], want)
		}
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.ReadOnly
	}
	if ro, ok := mounts["/etc/reportd/auth"]; !ok || !ro {
		t.Error("the token file Secret is not mounted read-only at /etc/reportd/auth")
	}
	if _, ok := d.Spec.Template.Annotations["checksum/secrets"]; !ok {
		t.Error("no checksum/secrets annotation: the manager would not restart when the chart's Secrets change")
	}
}

func TestCRDsDisabled(t *testing.T) {
	objs := defaultRelease.template(t, "--set", "crds.enabled=false")
	if crds := ofKind(objs, "CustomResourceDefinition"); len(crds) != 0 {
		t.Errorf("crds.enabled=false renders %d CRDs", len(crds))
	}
}

func TestFacadeDisabled(t *testing.T) {
	objs := defaultRelease.template(t, "--set", "facade.enabled=false")
	if svc := ofKind(objs, "Service"); len(svc) != 1 || svc[0].GetName() != "reportd-metrics" {
		t.Errorf("facade.enabled=false renders Services %v, want the metrics Service only", svc)
	}
	env := envOf(deployment(t, objs, defaultRelease).Spec.Template.Spec.Containers[0])
	if env["REPORTD_DISABLE_FACADE"] != "true" {
		t.Errorf("REPORTD_DISABLE_FACADE = %q with the facade disabled, want \"true\"", env["REPORTD_DISABLE_FACADE"])
	}
	for _, name := range []string{"REPORTD_BIND_ADDRESS", "REPORTD_NAMESPACE", "REPORTD_TOKEN_FILE"} {
		if _, ok := env[name]; ok {
			t.Errorf("%s is set with the facade disabled", name)
		}
	}
}

// TestRejectsBadValues checks that the schema and the chart's own checks
// refuse values that cannot work, naming the problem.
func TestRejectsBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // in helm's error
	}{
		"unknown key (a typo)":         {[]string{"--set", "manager.replica=2"}, "replica"},
		"no report namespace":          {[]string{"--set-json", "reportNamespaces.names=[]"}, "names"},
		"bad namespace name":           {[]string{"--set-json", `reportNamespaces.names=["Reports"]`}, "names"},
		"duplicate namespace":          {[]string{"--set-json", `reportNamespaces.names=["a","a"]`}, "names"},
		"unknown SMTP TLS mode":        {[]string{"--set", "smtp.tls=ssl"}, "tls"},
		"bad storage URL":              {[]string{"--set", "storage.url=http://bucket"}, "url"},
		"bad duration":                 {[]string{"--set", "defaults.ttl=7 days"}, "ttl"},
		"negative retries":             {[]string{"--set", "defaults.retries=-1"}, "retries"},
		"facade outside namespaces":    {[]string{"--set", "facade.namespace=elsewhere"}, "must be one of reportNamespaces.names"},
		"SMTP without host":            {[]string{"--set", "smtp.enabled=true"}, "smtp.enabled needs smtp.host"},
		"S3 secret without keys":       {[]string{"--set", "storage.s3.credentials.create=true"}, "needs storage.s3.credentials.accessKey"},
		"datasource without URL":       {[]string{"--set", "datasource.create=true"}, "datasource.create needs datasource.url"},
		"trusted header without proxy": {[]string{"--set", "auth.trustedHeader.userHeader=X-User"}, "needs auth.trustedHeader.trustedSources"},
		"replicas without election":    {[]string{"--set", "manager.replicas=2", "--set", "manager.leaderElection.enabled=false"}, "needs manager.leaderElection.enabled"},
		"bad pull policy":              {[]string{"--set", "image.pullPolicy=Sometimes"}, "pullPolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := defaultRelease.render(t, tc.args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want it refused", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}
