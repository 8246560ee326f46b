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
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"reportd.io/reportd/api/v1alpha1"
)

// jobNamePrefix starts every report Job's name, so `kubectl get jobs` shows
// at a glance which Jobs are reports.
const jobNamePrefix = "rr-"

// nameHashLength is how many hex characters of a SHA-256 end a shortened
// name: 40 bits, ample against collisions among one namespace's requests.
const nameHashLength = 10

// JobName is the report Job's name: "rr-", the request's name (dots made
// dashes, cut to fit) and a hash of namespace, name and UID. It fits the 63
// characters a label value allows (pods carry it in job-name), is the same
// on every reconcile, and differs for a re-created request of the same name.
func JobName(req *v1alpha1.ReportRequest) string {
	hash := shortHash(req.Namespace + "/" + req.Name + "/" + string(req.UID))
	room := validation.DNS1123LabelMaxLength - len(jobNamePrefix) - 1 - len(hash)
	base := strings.ReplaceAll(req.Name, ".", "-")
	if len(base) > room {
		base = base[:room]
	}
	base = strings.TrimRight(base, "-")
	return jobNamePrefix + base + "-" + hash
}

// RequestLabelValue is the value of LabelRequest for a request: its name
// when that is a valid label value, else a shortened name with a hash.
// Owner references, not this label, map a Job back to its request; the
// label exists so the manager's cache selects only reportd's Jobs.
func RequestLabelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	hash := shortHash(name)
	room := validation.LabelValueMaxLength - 1 - len(hash)
	base := strings.TrimRight(name[:min(room, len(name))], "-.")
	return base + "-" + hash
}

// RequesterHash is the value of LabelRequesterHash for an identity:
// identities such as e-mail addresses do not fit label syntax, and a hash
// keeps them out of label listings too. 32 hex characters (128 bits).
func RequesterHash(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return hex.EncodeToString(sum[:16])
}

// shortHash is the first nameHashLength hex characters of s's SHA-256.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:nameHashLength]
}

// jobLabels are the labels of a report's Job and of its pods.
func jobLabels(req *v1alpha1.ReportRequest) map[string]string {
	return map[string]string{
		v1alpha1.LabelRequest:       RequestLabelValue(req.Name),
		v1alpha1.LabelRequesterHash: RequesterHash(req.Spec.RequestedBy),
		v1alpha1.LabelManagedBy:     v1alpha1.ManagedByValue,
	}
}

// effectiveTimeout is the request's timeout, or the default, capped by the
// definition's timeout.
func effectiveTimeout(req *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition, d Defaults) int64 {
	timeout := d.TimeoutSeconds
	if req.Spec.TimeoutSeconds != nil {
		timeout = *req.Spec.TimeoutSeconds
	}
	if def.Spec.Timeout != nil {
		if limit := int64(def.Spec.Timeout.Seconds()); limit >= 1 && limit < timeout {
			timeout = limit
		}
	}
	return timeout
}

// effectiveRetries is the request's retries, or the default.
func effectiveRetries(req *v1alpha1.ReportRequest, d Defaults) int32 {
	if req.Spec.Retries != nil {
		return *req.Spec.Retries
	}
	return d.Retries
}

// datasourceRef is the Secret key holding the definition's PostgreSQL URL:
// its own spec.datasource, else the manager's default Secret.
func datasourceRef(def *v1alpha1.ReportDefinition, s JobSettings) v1alpha1.SecretKeyRef {
	if def.Spec.Datasource != nil {
		ref := def.Spec.Datasource.SecretRef
		if ref.Key == "" {
			ref.Key = "url"
		}
		return ref
	}
	return v1alpha1.SecretKeyRef{Name: s.DatasourceSecret, Key: s.DatasourceSecretKey}
}

// buildJob returns the Job that generates req's report. It is a pure
// function of its inputs, so every reconcile builds the same Job.
func buildJob(req *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition, s JobSettings, d Defaults) *batchv1.Job {
	labels := jobLabels(req)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      JobName(req),
			Namespace: req.Namespace,
			Labels:    labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha1.GroupVersion.String(),
				Kind:               "ReportRequest",
				Name:               req.Name,
				UID:                req.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: batchv1.JobSpec{
			// Each retry is a new pod; the podFailurePolicy below keeps
			// permanent failures and disruptions from counting as retries.
			BackoffLimit:          ptr.To(effectiveRetries(req, d)),
			ActiveDeadlineSeconds: ptr.To(effectiveTimeout(req, def, d)),
			PodFailurePolicy:      podFailurePolicy(),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyLabels(labels)},
				Spec:       podSpec(req, def, s),
			},
		},
	}
	// Jobs carry no TTL of their own: the request's TTL removes both.
	if s.ManagedBy != "" {
		job.Spec.ManagedBy = ptr.To(s.ManagedBy)
	}
	return job
}

// podFailurePolicy fails the Job at once when the generator exits with the
// permanent-failure code, and ignores pod disruptions (node drains,
// preemption) so they do not use up the request's retries.
func podFailurePolicy() *batchv1.PodFailurePolicy {
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(GeneratorContainer),
				Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
				Values:        []int32{v1alpha1.ExitPermanent},
			},
		},
		{
			Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{
				Type:   corev1.DisruptionTarget,
				Status: corev1.ConditionTrue,
			}},
		},
	}}
}

// podSpec is the generator pod: restricted pod security, its own
// ServiceAccount, a writable /tmp on a read-only root.
func podSpec(req *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition, s JobSettings) corev1.PodSpec {
	return corev1.PodSpec{
		// podFailurePolicy requires Never: each attempt is a new pod.
		RestartPolicy:                corev1.RestartPolicyNever,
		ServiceAccountName:           s.ServiceAccountName,
		AutomountServiceAccountToken: ptr.To(true),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            GeneratorContainer,
			Image:           s.Image,
			ImagePullPolicy: s.ImagePullPolicy,
			Command:         []string{"reportd"},
			Args:            []string{"generate"},
			Env:             generatorEnv(req, def, s),
			Resources:       *s.Resources.DeepCopy(),
			// A panic's stack trace then reaches the pod's status when the
			// generator had no chance to write its termination message.
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
		}},
		Volumes: []corev1.Volume{{
			Name:         "tmp",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		}},
	}
}

// generatorEnv tells `reportd generate` which report it runs (namespace and
// Job name from the downward API), where the rows come from (a secretKeyRef:
// the URL never sits in the Job) and where the file goes.
func generatorEnv(req *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition, s JobSettings) []corev1.EnvVar {
	ds := datasourceRef(def, s)
	env := []corev1.EnvVar{
		fieldEnv(EnvNamespace, "metadata.namespace"),
		{Name: EnvRequest, Value: req.Name},
		fieldEnv(EnvJob, "metadata.labels['"+JobLabelJobName+"']"),
		fieldEnv(EnvPod, "metadata.name"),
		secretEnv(EnvDatasourceURL, ds.Name, ds.Key),
		{Name: EnvStorageURL, Value: s.Storage.URL},
	}
	if s.Storage.Endpoint != "" {
		env = append(env, corev1.EnvVar{Name: EnvS3Endpoint, Value: s.Storage.Endpoint})
	}
	if s.Storage.Region != "" {
		env = append(env, corev1.EnvVar{Name: EnvS3Region, Value: s.Storage.Region})
	}
	if s.Storage.PathStyle {
		env = append(env, corev1.EnvVar{Name: EnvS3PathStyle, Value: strconv.FormatBool(true)})
	}
	if s.Storage.CredentialsSecret != "" {
		env = append(env,
			secretEnv(EnvS3AccessKey, s.Storage.CredentialsSecret, S3AccessKeyKey),
			secretEnv(EnvS3SecretKey, s.Storage.CredentialsSecret, S3SecretKeyKey))
	}
	return env
}

// fieldEnv is an environment variable from the downward API.
func fieldEnv(name, fieldPath string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: fieldPath},
	}}
}

// secretEnv is an environment variable from a Secret key.
func secretEnv(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret},
			Key:                  key,
		},
	}}
}

// copyLabels returns a copy, so the Job's and its template's maps never alias.
func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
