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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"reportd.io/reportd/api/v1alpha1"
)

// testRequest is a minimal valid ReportRequest; mutate it per case.
func testRequest(name string) *v1alpha1.ReportRequest {
	return &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", UID: types.UID("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"), Generation: 1},
		Spec: v1alpha1.ReportRequestSpec{
			Type:        "sales",
			Format:      v1alpha1.FormatCSV,
			RequestedBy: "alice@example.com",
		},
	}
}

// testDefinition is a minimal ReportDefinition; mutate it per case.
func testDefinition() *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "sales", Namespace: "team-a", Generation: 1},
		Spec:       v1alpha1.ReportDefinitionSpec{Query: "select 1"},
	}
}

// testSettings is the manager configuration the Job tests build with.
func testSettings() JobSettings {
	return JobSettings{
		Image:               "registry.example/reportd:v1",
		ImagePullPolicy:     corev1.PullIfNotPresent,
		ServiceAccountName:  "reportd-generator",
		DatasourceSecret:    "reportd-datasource",
		DatasourceSecretKey: "url",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		Storage: StorageSettings{URL: "s3://reports/prod", Endpoint: "http://s3.local:7070", Region: "eu-west-1", PathStyle: true, CredentialsSecret: "reportd-s3"},
	}
}

func TestJobName(t *testing.T) {
	long := strings.Repeat("a", 120) + ".b." + strings.Repeat("c", 120)
	cases := map[string]struct {
		name string // the request's name
		uid  types.UID
		// wantPrefix is how the Job name starts.
		wantPrefix string
	}{
		"short name is kept":          {name: "q3-sales", uid: "u1", wantPrefix: "rr-q3-sales-"},
		"dots become dashes":          {name: "sales.2026.q3", uid: "u1", wantPrefix: "rr-sales-2026-q3-"},
		"a 245-character name is cut": {name: long, uid: "u1", wantPrefix: "rr-" + strings.Repeat("a", 49) + "-"},
		"a cut ending in a dash":      {name: strings.Repeat("a", 48) + "--b", uid: "u1", wantPrefix: "rr-" + strings.Repeat("a", 48) + "-"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := testRequest(tc.name)
			req.UID = tc.uid
			got := JobName(req)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("JobName = %q, want prefix %q", got, tc.wantPrefix)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("JobName %q is not a DNS label (and so not a job-name label value): %v", got, errs)
			}
			if again := JobName(req.DeepCopy()); again != got {
				t.Errorf("JobName is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestJobNameDiffersForARecreatedRequest(t *testing.T) {
	first, second := testRequest("weekly"), testRequest("weekly")
	second.UID = "another-uid"
	if JobName(first) == JobName(second) {
		t.Errorf("a re-created request of the same name got the same Job name %q", JobName(first))
	}
	other := testRequest("weekly")
	other.Namespace = "team-b"
	if JobName(first) == JobName(other) {
		t.Errorf("requests in two namespaces got the same Job name %q", JobName(first))
	}
}

func TestRequestLabelValue(t *testing.T) {
	cases := map[string]struct {
		name     string
		wantSame bool // the name itself is a valid label value
	}{
		"plain name":          {name: "q3-sales", wantSame: true},
		"dotted name":         {name: "sales.2026", wantSame: true},
		"longer than 63":      {name: strings.Repeat("x", 62) + ".-y" + strings.Repeat("z", 40)},
		"exactly 63 is valid": {name: strings.Repeat("x", 63), wantSame: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := RequestLabelValue(tc.name)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("RequestLabelValue(%q) = %q, not a label value: %v", tc.name, got, errs)
			}
			if (got == tc.name) != tc.wantSame {
				t.Errorf("RequestLabelValue(%q) = %q, want unchanged: %v", tc.name, got, tc.wantSame)
			}
		})
	}
}

func TestRequesterHashFitsALabel(t *testing.T) {
	for _, identity := range []string{"alice@example.com", "system:serviceaccount:ns:name", strings.Repeat("é", 200)} {
		got := RequesterHash(identity)
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("RequesterHash(%q) = %q: %v", identity, got, errs)
		}
	}
	if RequesterHash("alice@example.com") == RequesterHash("bob@example.com") {
		t.Error("two identities share a hash")
	}
}

func TestBuildJobLimits(t *testing.T) {
	defaults := DefaultDefaults()
	cases := map[string]struct {
		retries        *int32           // the request's spec.retries
		timeoutSeconds *int64           // the request's spec.timeoutSeconds
		defTimeout     *metav1.Duration // the definition's spec.timeout
		wantBackoff    int32
		wantDeadline   int64
	}{
		"manager defaults":               {wantBackoff: 2, wantDeadline: 3600},
		"request's own values":           {retries: ptr.To[int32](0), timeoutSeconds: ptr.To[int64](120), wantBackoff: 0, wantDeadline: 120},
		"definition caps the request":    {timeoutSeconds: ptr.To[int64](7200), defTimeout: &metav1.Duration{Duration: 30 * time.Minute}, wantBackoff: 2, wantDeadline: 1800},
		"definition caps the default":    {defTimeout: &metav1.Duration{Duration: 10 * time.Minute}, wantBackoff: 2, wantDeadline: 600},
		"a looser cap changes nothing":   {timeoutSeconds: ptr.To[int64](60), defTimeout: &metav1.Duration{Duration: time.Hour}, wantBackoff: 2, wantDeadline: 60},
		"a sub-second cap is not a zero": {defTimeout: &metav1.Duration{Duration: 100 * time.Millisecond}, wantBackoff: 2, wantDeadline: 3600},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, def := testRequest("r"), testDefinition()
			req.Spec.Retries, req.Spec.TimeoutSeconds, def.Spec.Timeout = tc.retries, tc.timeoutSeconds, tc.defTimeout
			job := buildJob(req, def, testSettings(), defaults)
			if got := *job.Spec.BackoffLimit; got != tc.wantBackoff {
				t.Errorf("backoffLimit = %d, want %d", got, tc.wantBackoff)
			}
			if got := *job.Spec.ActiveDeadlineSeconds; got != tc.wantDeadline {
				t.Errorf("activeDeadlineSeconds = %d, want %d", got, tc.wantDeadline)
			}
		})
	}
}

func TestBuildJobEnvironment(t *testing.T) {
	field, secret := fieldEnv, secretEnv
	cases := map[string]struct {
		datasource *v1alpha1.Datasource // the definition's spec.datasource
		storage    StorageSettings      // the manager's storage settings
		want       []corev1.EnvVar      // the container's env, in order
	}{
		"default datasource, file storage": {
			storage: StorageSettings{URL: "file:///var/reports"},
			want: []corev1.EnvVar{
				field(EnvNamespace, "metadata.namespace"),
				{Name: EnvRequest, Value: "r"},
				field(EnvJob, "metadata.labels['batch.kubernetes.io/job-name']"),
				field(EnvPod, "metadata.name"),
				secret(EnvDatasourceURL, "reportd-datasource", "url"),
				{Name: EnvStorageURL, Value: "file:///var/reports"},
			},
		},
		"definition's datasource, S3 with credentials": {
			datasource: &v1alpha1.Datasource{SecretRef: v1alpha1.SecretKeyRef{Name: "replica", Key: "dsn"}},
			storage:    testSettings().Storage,
			want: []corev1.EnvVar{
				field(EnvNamespace, "metadata.namespace"),
				{Name: EnvRequest, Value: "r"},
				field(EnvJob, "metadata.labels['batch.kubernetes.io/job-name']"),
				field(EnvPod, "metadata.name"),
				secret(EnvDatasourceURL, "replica", "dsn"),
				{Name: EnvStorageURL, Value: "s3://reports/prod"},
				{Name: EnvS3Endpoint, Value: "http://s3.local:7070"},
				{Name: EnvS3Region, Value: "eu-west-1"},
				{Name: EnvS3PathStyle, Value: "true"},
				secret(EnvS3AccessKey, "reportd-s3", "access-key"),
				secret(EnvS3SecretKey, "reportd-s3", "secret-key"),
			},
		},
		"datasource key left empty reads url": {
			datasource: &v1alpha1.Datasource{SecretRef: v1alpha1.SecretKeyRef{Name: "replica"}},
			storage:    StorageSettings{URL: "s3://b"},
			want: []corev1.EnvVar{
				field(EnvNamespace, "metadata.namespace"),
				{Name: EnvRequest, Value: "r"},
				field(EnvJob, "metadata.labels['batch.kubernetes.io/job-name']"),
				field(EnvPod, "metadata.name"),
				secret(EnvDatasourceURL, "replica", "url"),
				{Name: EnvStorageURL, Value: "s3://b"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, def, s := testRequest("r"), testDefinition(), testSettings()
			def.Spec.Datasource, s.Storage = tc.datasource, tc.storage
			job := buildJob(req, def, s, DefaultDefaults())
			if diff := cmp.Diff(tc.want, job.Spec.Template.Spec.Containers[0].Env); diff != "" {
				t.Errorf("env mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildJobShape(t *testing.T) {
	req, def, s := testRequest("q3-sales"), testDefinition(), testSettings()
	job := buildJob(req, def, s, DefaultDefaults())

	wantLabels := map[string]string{
		v1alpha1.LabelRequest:       "q3-sales",
		v1alpha1.LabelRequesterHash: RequesterHash("alice@example.com"),
		v1alpha1.LabelManagedBy:     "reportd",
	}
	if diff := cmp.Diff(wantLabels, job.Labels); diff != "" {
		t.Errorf("Job labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels, job.Spec.Template.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	for _, v := range job.Labels {
		if strings.Contains(v, "alice") {
			t.Errorf("a label carries the requester's identity: %q", v)
		}
	}
	wantOwner := []metav1.OwnerReference{{
		APIVersion: "reports.reportd.io/v1alpha1", Kind: "ReportRequest", Name: "q3-sales",
		UID: req.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	if diff := cmp.Diff(wantOwner, job.OwnerReferences); diff != "" {
		t.Errorf("ownerReferences (-want +got):\n%s", diff)
	}
	if job.Spec.ManagedBy != nil {
		t.Errorf("a production Job carries spec.managedBy %q", *job.Spec.ManagedBy)
	}
	if job.Spec.TTLSecondsAfterFinished != nil {
		t.Error("the Job carries its own TTL; the request's TTL removes it")
	}

	wantPolicy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To("generate"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
	}}
	if diff := cmp.Diff(wantPolicy, job.Spec.PodFailurePolicy); diff != "" {
		t.Errorf("podFailurePolicy (-want +got):\n%s", diff)
	}

	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q; a podFailurePolicy needs Never", pod.RestartPolicy)
	}
	if pod.ServiceAccountName != "reportd-generator" {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	c := pod.Containers[0]
	if diff := cmp.Diff([]string{"reportd", "generate"}, append(c.Command, c.Args...)); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if c.Image != s.Image || c.ImagePullPolicy != s.ImagePullPolicy {
		t.Errorf("image %q %q, want %q %q", c.Image, c.ImagePullPolicy, s.Image, s.ImagePullPolicy)
	}
	if diff := cmp.Diff(s.Resources, c.Resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	// The restricted Pod Security Standard.
	if !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext is not restricted: %+v", pod.SecurityContext)
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext is not restricted: %+v", sc)
	}
}

func TestBuildJobForTheLocalExecutor(t *testing.T) {
	s := testSettings()
	s.ManagedBy = v1alpha1.ExecutorManagedBy
	job := buildJob(testRequest("r"), testDefinition(), s, DefaultDefaults())
	if job.Spec.ManagedBy == nil || *job.Spec.ManagedBy != v1alpha1.ExecutorManagedBy {
		t.Errorf("spec.managedBy = %v, want %q", job.Spec.ManagedBy, v1alpha1.ExecutorManagedBy)
	}
}
