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

// Package production checks reportd's production path, which the local
// stack's executor bypasses: the manager creates a report's Job without
// spec.managedBy, and kube-controller-manager's real job controller
// creates the pod from reportd's template in a namespace that enforces
// the restricted Pod Security level, with the API server's
// ServiceAccount admission on. No kubelet runs, so the pod stays Pending:
// what is checked is that the API server admitted it and that every
// reference in it resolves.
package production

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/textlogger"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/devstack"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// The stack of this package: the job controller instead of the executor.
var stack *devstack.Stack

// generatorImage is the image production Jobs name (never pulled here).
const generatorImage = "registry.example/reportd:test"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run starts the stack, runs the tests and stops the stack.
func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	logs, err := os.CreateTemp("", "reportd-production-*.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.Remove(logs.Name())
	defer logs.Close()
	stack, err = devstack.Start(ctx, devstack.Options{
		Namespace:      "prod-reports",
		JobController:  true,
		GeneratorImage: generatorImage,
		PodSecurity:    "restricted",
		Sizes:          sampledata.Sizes{Orders: 500, Users: 50, Products: 20},
		Progress:       os.Stderr,
		Logger:         textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(logs))),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "production: the stack did not start:", err)
		return 1
	}
	code := m.Run()
	if err := stack.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "production: stopping the stack:", err)
		code = 1
	}
	return code
}

// TestJobControllerCreatesTheReportPodUnderRestrictedPodSecurity creates
// a report the production way and follows it to the pod the job
// controller makes.
func TestJobControllerCreatesTheReportPodUnderRestrictedPodSecurity(t *testing.T) {
	ctx := context.Background()
	rr := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "sales-production", Namespace: stack.Namespace},
		Spec: v1alpha1.ReportRequestSpec{
			Type: "sales", Format: v1alpha1.FormatCSV, RequestedBy: "alice",
			Parameters: map[string]v1alpha1.ParameterValue{"startDate": "2024-01-01", "endDate": "2024-01-31"},
		},
	}
	if err := stack.Client.Create(ctx, rr); err != nil {
		t.Fatal(err)
	}
	job := waitJob(t, client.ObjectKey{Namespace: rr.Namespace, Name: controllers.JobName(rr)})
	if job.Spec.ManagedBy != nil {
		t.Fatalf("a production Job carries spec.managedBy %q: the job controller would ignore it", *job.Spec.ManagedBy)
	}
	pod := waitPod(t, job)
	t.Run("the job controller made it", func(t *testing.T) { checkMadeByJobController(t, pod, job) })
	t.Run("restricted security context", func(t *testing.T) { checkRestricted(t, pod) })
	t.Run("ServiceAccount resolves", func(t *testing.T) { checkServiceAccount(t, pod) })
	t.Run("environment resolves", func(t *testing.T) { checkEnvResolves(t, pod, job) })
	t.Run("runs reportd generate", func(t *testing.T) {
		c := pod.Spec.Containers[0]
		if c.Image != generatorImage || strings.Join(append(c.Command, c.Args...), " ") != "reportd generate" {
			t.Errorf("the container runs %s %v %v", c.Image, c.Command, c.Args)
		}
	})
}

// TestRestrictedNamespaceRefusesWhatItShould shows the two admission
// checks above are live: in the same namespace the job controller cannot
// create a pod that breaks the restricted level, nor one naming a
// ServiceAccount that does not exist.
func TestRestrictedNamespaceRefusesWhatItShould(t *testing.T) {
	cases := map[string]struct {
		spec corev1.PodSpec
		want string
	}{
		"a root-capable pod": {spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: devstack.GeneratorAccount,
			Containers:         []corev1.Container{{Name: "main", Image: generatorImage}},
		}, want: "violates PodSecurity"},
		"a missing ServiceAccount": {spec: restrictedSpec("no-such-account"), want: "no-such-account"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "control-", Namespace: stack.Namespace},
				Spec:       batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: tc.spec}},
			}
			if err := stack.Client.Create(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			msg := waitFailedCreate(t, job)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("the job controller's FailedCreate says %q, want it to mention %q", msg, tc.want)
			}
			if pods := jobPods(t, job); len(pods) > 0 {
				t.Errorf("%d pods exist for a Job whose pods must be refused", len(pods))
			}
		})
	}
}

// restrictedSpec is a pod that passes the restricted level.
func restrictedSpec(serviceAccount string) corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: serviceAccount,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{Name: "main", Image: generatorImage, SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}}},
	}
}

// waitJob waits for the manager to create the report's Job.
func waitJob(t *testing.T, key client.ObjectKey) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	e2eutil.Eventually(t, time.Minute, "the manager creates the report's Job", func() (bool, string) {
		err := stack.Client.Get(context.Background(), key, job)
		return err == nil, fmt.Sprint(err)
	})
	return job
}

// waitPod waits for the job controller to create the Job's pod.
func waitPod(t *testing.T, job *batchv1.Job) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	e2eutil.Eventually(t, time.Minute, "the job controller creates the Job's pod", func() (bool, string) {
		pods := jobPods(t, job)
		if len(pods) == 0 {
			return false, "no pod; job controller events: " + jobEvents(t, job)
		}
		pod = &pods[0]
		return true, ""
	})
	return pod
}

// jobPods lists the pods the job controller labelled with the Job's name.
func jobPods(t *testing.T, job *batchv1.Job) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := stack.Client.List(context.Background(), &pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{controllers.JobLabelJobName: job.Name}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// jobEvents joins the reasons and messages of a Job's events.
func jobEvents(t *testing.T, job *batchv1.Job) string {
	t.Helper()
	var events corev1.EventList
	if err := stack.Client.List(context.Background(), &events, client.InNamespace(job.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Job" && e.InvolvedObject.Name == job.Name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return strings.Join(out, "; ")
}

// waitFailedCreate waits for the job controller's FailedCreate event.
func waitFailedCreate(t *testing.T, job *batchv1.Job) string {
	t.Helper()
	var msg string
	e2eutil.Eventually(t, time.Minute, "the job controller reports FailedCreate", func() (bool, string) {
		msg = jobEvents(t, job)
		return strings.Contains(msg, "FailedCreate"), msg
	})
	return msg
}

// checkMadeByJobController: the pod is the Job's, written by
// kube-controller-manager, not by a stand-in.
func checkMadeByJobController(t *testing.T, pod *corev1.Pod, job *batchv1.Job) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != job.UID {
		t.Errorf("the pod's controller is %v, want the Job %s", ref, job.UID)
	}
	var managers []string
	for _, mf := range pod.ManagedFields {
		managers = append(managers, mf.Manager)
	}
	if len(managers) == 0 || !strings.HasPrefix(managers[0], "kube-controller-manager") {
		t.Errorf("the pod was written by %v, want kube-controller-manager", managers)
	}
	if pod.Spec.NodeName != "" {
		t.Errorf("the pod is bound to node %q, yet nothing schedules here", pod.Spec.NodeName)
	}
}

// checkRestricted checks the fields the restricted level requires (the
// API server admitted the pod; this says why it could).
func checkRestricted(t *testing.T, pod *corev1.Pod) {
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	for _, c := range pod.Spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
	}
	ns := &corev1.Namespace{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Name: pod.Namespace}, ns); err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("the namespace enforces %q, want restricted", got)
	}
}

// checkServiceAccount: the pod runs as the generator's ServiceAccount,
// which exists, and the ServiceAccount admission plugin mounted its token.
func checkServiceAccount(t *testing.T, pod *corev1.Pod) {
	if pod.Spec.ServiceAccountName != devstack.GeneratorAccount {
		t.Errorf("the pod runs as ServiceAccount %q, want %q", pod.Spec.ServiceAccountName, devstack.GeneratorAccount)
	}
	sa := &corev1.ServiceAccount{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: pod.Namespace, Name: pod.Spec.ServiceAccountName}, sa); err != nil {
		t.Errorf("ServiceAccount %s: %v", pod.Spec.ServiceAccountName, err)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil && strings.HasPrefix(v.Name, "kube-api-access-") {
			return
		}
	}
	t.Error("no kube-api-access token volume: the ServiceAccount admission plugin did not run")
}

// checkEnvResolves resolves every environment variable of the pod as the
// kubelet would: Secret keys must exist, downward API fields must be
// set on the pod. The variables the generator needs must be there.
func checkEnvResolves(t *testing.T, pod *corev1.Pod, job *batchv1.Job) {
	env := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		value, err := resolveEnv(pod, e)
		if err != nil {
			t.Errorf("%s: %v", e.Name, err)
			continue
		}
		env[e.Name] = value
	}
	want := map[string]string{
		controllers.EnvNamespace: pod.Namespace,
		controllers.EnvJob:       job.Name,
		controllers.EnvPod:       pod.Name,
		controllers.EnvRequest:   "sales-production",
	}
	for name, value := range want {
		if env[name] != value {
			t.Errorf("%s resolves to %q, want %q", name, env[name], value)
		}
	}
	if env[controllers.EnvDatasourceURL] != stack.Postgres.ReaderURL {
		t.Errorf("%s does not resolve to the datasource Secret's URL", controllers.EnvDatasourceURL)
	}
}

// resolveEnv is one variable's value as the kubelet would compute it.
func resolveEnv(pod *corev1.Pod, e corev1.EnvVar) (string, error) {
	switch {
	case e.ValueFrom == nil:
		return e.Value, nil
	case e.ValueFrom.SecretKeyRef != nil:
		ref := e.ValueFrom.SecretKeyRef
		secret := &corev1.Secret{}
		err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, secret)
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("Secret %s does not exist", ref.Name)
		}
		if err != nil {
			return "", err
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return "", fmt.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
		}
		return string(v), nil
	case e.ValueFrom.FieldRef != nil:
		return fieldValue(pod, e.ValueFrom.FieldRef.FieldPath)
	default:
		return "", fmt.Errorf("a source the test does not resolve: %+v", e.ValueFrom)
	}
}

// fieldValue reads a downward API field of the pod; it fails for a field
// that is empty, as a pod would start with an empty variable.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	var v string
	switch {
	case path == "metadata.namespace":
		v = pod.Namespace
	case path == "metadata.name":
		v = pod.Name
	case strings.HasPrefix(path, "metadata.labels['") && strings.HasSuffix(path, "']"):
		v = pod.Labels[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.labels['"), "']")]
	default:
		return "", fmt.Errorf("downward API field %s not known to the test", path)
	}
	if v == "" {
		return "", fmt.Errorf("downward API field %s is empty on the pod", path)
	}
	return v, nil
}
