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

package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"reportd.io/reportd/controllers"
)

// parseManagerFlags parses args (and REPORTD_* from the environment) as
// `reportd manager` does, and resolves them.
func parseManagerFlags(t *testing.T, args ...string) (*managerFlags, error) {
	t.Helper()
	f := &managerFlags{}
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	addManagerFlags(fs, f)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnvironment(fs); err != nil {
		t.Fatal(err)
	}
	_, err := f.resolve()
	return f, err
}

func TestManagerFlags(t *testing.T) {
	t.Setenv("REPORTD_S3_SECRET_KEY", "from-the-environment")
	t.Setenv("REPORTD_MAX_RUNNING_PER_REQUESTER", "3")
	f, err := parseManagerFlags(t,
		"--namespaces=team-a", "--storage=s3://reports/prod", "--s3-endpoint=http://s3:7070", "--s3-path-style",
		"--s3-credentials-secret=reportd-s3", "--generator-image=registry.example/reportd:v1",
		"--generator-image-pull-policy=Always", "--job-cpu-limit=2", "--default-retries=4", "--default-timeout=30m",
		"--max-running-jobs=20", "--stale-upload-grace=12h")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.resolve()
	want := controllers.JobSettings{
		Image: "registry.example/reportd:v1", ImagePullPolicy: corev1.PullAlways, ServiceAccountName: "reportd-generator",
		DatasourceSecret: "reportd-datasource", DatasourceSecretKey: "url",
		Storage: controllers.StorageSettings{URL: "s3://reports/prod", Endpoint: "http://s3:7070", PathStyle: true, CredentialsSecret: "reportd-s3"},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
	}
	if diff := cmp.Diff(want, c.Jobs); diff != "" {
		t.Errorf("Job settings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(controllers.Defaults{TTLSecondsAfterFinished: 7 * 24 * 3600, TimeoutSeconds: 1800, Retries: 4}, c.Defaults); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(controllers.Limits{MaxRunningJobs: 20, MaxRunningPerRequester: 3}, c.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	if c.StaleUploadInterval != time.Hour || c.StaleUploadGrace != 12*time.Hour {
		t.Errorf("stale upload sweep every %s after %s, want every hour after 12h", c.StaleUploadInterval, c.StaleUploadGrace)
	}
	if f.facade.namespace != "team-a" {
		t.Errorf("the facade serves %q, want the one watched namespace", f.facade.namespace)
	}
	if f.facade.storage.SecretKey != "from-the-environment" {
		t.Error("REPORTD_S3_SECRET_KEY did not reach the manager's storage settings")
	}
	if c.Jobs.ManagedBy != "" || c.LocalExecutor {
		t.Error("a production configuration runs the local executor")
	}
}

func TestManagerFlagErrors(t *testing.T) {
	cases := map[string]struct {
		args    []string
		wantErr string
	}{
		"no storage":          {args: []string{"--disable-facade", "--generator-image=x"}, wantErr: "--storage"},
		"bad pull policy":     {args: []string{"--disable-facade", "--storage=file:///r", "--generator-image=x", "--generator-image-pull-policy=Sometimes"}, wantErr: "Always, IfNotPresent or Never"},
		"bad quantity":        {args: []string{"--disable-facade", "--storage=file:///r", "--generator-image=x", "--job-memory-limit=lots"}, wantErr: "--job-memory-limit"},
		"facade without ns":   {args: []string{"--storage=file:///r", "--generator-image=x"}, wantErr: "--namespace"},
		"facade ns unwatched": {args: []string{"--namespaces=a,b", "--namespace=c", "--storage=file:///r", "--generator-image=x"}, wantErr: `"c" is not among --namespaces`},
		"executor kubeconfig": {args: []string{"--disable-facade", "--storage=file:///r", "--local-executor", "--local-executor-binary=/bin/true"}, wantErr: "--local-executor-kubeconfig"},
		"negative limit":      {args: []string{"--disable-facade", "--storage=file:///r", "--generator-image=x", "--max-running-jobs=-1"}, wantErr: "--max-running-jobs"},
		"grace under timeout": {args: []string{"--disable-facade", "--storage=file:///r", "--generator-image=x", "--stale-upload-grace=30m"}, wantErr: "--stale-upload-grace (30m0s) must be longer than --default-timeout (1h0m0s)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", "")
			_, err := parseManagerFlags(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestManagerFlagsLocalExecutor(t *testing.T) {
	f, err := parseManagerFlags(t, "--disable-facade", "--storage=file:///r", "--local-executor", "--kubeconfig=/etc/kube.conf")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.resolve()
	if c.Executor.Binary == "" || c.Executor.Kubeconfig != "/etc/kube.conf" {
		t.Errorf("executor binary %q kubeconfig %q: want this binary and the manager's kubeconfig", c.Executor.Binary, c.Executor.Kubeconfig)
	}
}
