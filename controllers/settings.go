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
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Environment variables the Job passes to `reportd generate`. The generate
// command reads each of its flags from REPORTD_<FLAG>, so these are its
// flags' names; keep them in step with internal/cli/generate.go.
const (
	EnvNamespace     = "REPORTD_NAMESPACE"
	EnvRequest       = "REPORTD_REQUEST"
	EnvJob           = "REPORTD_JOB"
	EnvPod           = "REPORTD_POD"
	EnvDatasourceURL = "REPORTD_DATASOURCE_URL"
	EnvStorageURL    = "REPORTD_STORAGE_URL"
	EnvS3Endpoint    = "REPORTD_S3_ENDPOINT"
	EnvS3Region      = "REPORTD_S3_REGION"
	EnvS3PathStyle   = "REPORTD_S3_PATH_STYLE"
	EnvS3AccessKey   = "REPORTD_S3_ACCESS_KEY"
	EnvS3SecretKey   = "REPORTD_S3_SECRET_KEY"
)

// Keys of the storage credentials Secret named by StorageSettings.CredentialsSecret.
const (
	S3AccessKeyKey = "access-key"
	S3SecretKeyKey = "secret-key"
)

// GeneratorContainer is the name of the Job's only container; the
// podFailurePolicy's exit-code rule names it.
const GeneratorContainer = "generate"

// JobLabelJobName is the label the API server puts on a Job's pod template
// (and so on its pods) naming the Job. The Job reads its own name from it
// through the downward API.
const JobLabelJobName = "batch.kubernetes.io/job-name"

// StorageSettings is where finished files go, passed to every Job.
type StorageSettings struct {
	// URL is "s3://bucket/prefix" or "file:///dir".
	URL string
	// Endpoint is the S3 endpoint the generator reaches; AWS when empty.
	Endpoint string
	// Region of the bucket.
	Region string
	// PathStyle addresses the bucket in the URL path.
	PathStyle bool
	// CredentialsSecret names a Secret in each report namespace holding the
	// keys access-key and secret-key; the SDK's default chain when empty.
	CredentialsSecret string
}

// JobSettings is the manager's configuration that shapes every report Job.
type JobSettings struct {
	// Image is the reportd image the Job runs.
	Image string
	// ImagePullPolicy of the generator container.
	ImagePullPolicy corev1.PullPolicy
	// ServiceAccountName is the generator's ServiceAccount in each namespace.
	ServiceAccountName string
	// Resources of the generator container.
	Resources corev1.ResourceRequirements
	// DatasourceSecret names the Secret, in the request's namespace, that
	// holds the PostgreSQL URL of definitions without spec.datasource.
	DatasourceSecret string
	// DatasourceSecretKey is the key of DatasourceSecret holding the URL.
	DatasourceSecretKey string
	// Storage is where the generator puts the file.
	Storage StorageSettings
	// ManagedBy is set as the Job's spec.managedBy when not empty: the local
	// executor's value in development and tests, never in production.
	ManagedBy string
}

// Defaults fill in what a ReportRequest leaves out.
type Defaults struct {
	// TTLSecondsAfterFinished is how long a finished report is kept.
	TTLSecondsAfterFinished int32
	// TimeoutSeconds bounds a run.
	TimeoutSeconds int64
	// Retries is how often a failed run is retried.
	Retries int32
}

// DefaultDefaults are the documented defaults: 7 days, 1 hour, 2 retries.
func DefaultDefaults() Defaults {
	return Defaults{
		TTLSecondsAfterFinished: int32((7 * 24 * time.Hour).Seconds()),
		TimeoutSeconds:          int64(time.Hour.Seconds()),
		Retries:                 2,
	}
}
