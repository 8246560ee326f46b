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

package manager

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
)

// validConfig is a production-like configuration.
func validConfig() Config {
	return Config{
		Jobs:     controllers.JobSettings{Image: "registry.example/reportd:v1", Storage: controllers.StorageSettings{URL: "s3://reports"}},
		Defaults: controllers.DefaultDefaults(),
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		change  func(*Config)
		wantErr string // a substring; "" for valid
	}{
		"production":                     {change: func(*Config) {}},
		"no storage":                     {change: func(c *Config) { c.Jobs.Storage.URL = "" }, wantErr: "--storage"},
		"no image":                       {change: func(c *Config) { c.Jobs.Image = "" }, wantErr: "--generator-image"},
		"local executor needs no image":  {change: func(c *Config) { c.Jobs.Image, c.LocalExecutor, c.Executor.Binary = "", true, "/bin/reportd" }},
		"local executor needs a binary":  {change: func(c *Config) { c.LocalExecutor = true }, wantErr: "--local-executor-binary"},
		"retries beyond the API's limit": {change: func(c *Config) { c.Defaults.Retries = 11 }, wantErr: "0 to 10 retries"},
		"a zero timeout":                 {change: func(c *Config) { c.Defaults.TimeoutSeconds = 0 }, wantErr: "timeout of at least 1s"},
		"limits":                         {change: func(c *Config) { c.Limits = controllers.Limits{MaxRunningJobs: 10, MaxRunningPerRequester: 2} }},
		"a negative limit":               {change: func(c *Config) { c.Limits.MaxRunningPerRequester = -1 }, wantErr: "--max-running-per-requester"},
		"negative workers":               {change: func(c *Config) { c.RequestWorkers = -1 }, wantErr: "--request-workers"},
		"a sweep":                        {change: func(c *Config) { c.StaleUploadInterval, c.StaleUploadGrace = time.Hour, 24*time.Hour }},
		"no sweep, no grace":             {change: func(c *Config) { c.StaleUploadInterval, c.StaleUploadGrace = 0, 0 }},
		"a grace shorter than a report":  {change: func(c *Config) { c.StaleUploadInterval, c.StaleUploadGrace = time.Hour, time.Minute }, wantErr: "--stale-upload-grace"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestOptionsRestrictTheCache(t *testing.T) {
	c := validConfig()
	c.Namespaces = []string{"team-a", "team-b"}
	c.LeaderElection = true
	opts := c.Options()

	if got := len(opts.Cache.DefaultNamespaces); got != 2 {
		t.Errorf("the cache watches %d namespaces, want team-a and team-b", got)
	}
	for _, obj := range []client.Object{&batchv1.Job{}, &corev1.Pod{}} {
		sel := selectorFor(opts.Cache.ByObject, obj)
		if sel == nil {
			t.Fatalf("%T is cached without a label selector", obj)
		}
		if !sel.Matches(labels.Set{v1alpha1.LabelRequest: "q1"}) || sel.Matches(labels.Set{"app": "other"}) {
			t.Errorf("%T selector %q does not select exactly reportd's objects", obj, sel)
		}
	}
	if !opts.LeaderElection || opts.LeaderElectionID != DefaultLeaderElectionID || !opts.LeaderElectionReleaseOnCancel {
		t.Errorf("leader election %v %q %v", opts.LeaderElection, opts.LeaderElectionID, opts.LeaderElectionReleaseOnCancel)
	}
	if opts.Scheme == nil || !opts.Scheme.IsGroupRegistered(v1alpha1.GroupVersion.Group) {
		t.Error("the scheme does not know reportd's types")
	}
}

func TestSetupNeedsItsDependencies(t *testing.T) {
	if err := Setup(context.Background(), nil, validConfig(), Deps{}); err == nil {
		t.Error("Setup without a checker and a store succeeded")
	}
}

// selectorFor finds the cache's label selector for obj's type.
func selectorFor(byObject map[client.Object]cache.ByObject, obj client.Object) labels.Selector {
	for k, v := range byObject {
		if reflect.TypeOf(k) == reflect.TypeOf(obj) {
			return v.Label
		}
	}
	return nil
}
