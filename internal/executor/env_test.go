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

package executor

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// fakeData serves Secrets and ConfigMaps from maps; decisions about what
// a kubelet does with them are pure, so no API server is needed here.
type fakeData struct {
	secrets    map[string]map[string][]byte
	configMaps map[string]map[string]string
	err        error // returned for every read when set
}

func (f fakeData) secretData(_ context.Context, _, name string) (map[string][]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if d, ok := f.secrets[name]; ok {
		return d, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (f fakeData) configMapData(_ context.Context, _, name string) (map[string]string, error) {
	if d, ok := f.configMaps[name]; ok {
		return d, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func secretRef(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
}

func TestResolveEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "rr-x-1-abcde", Namespace: "team-a", UID: "pod-uid",
		Labels: map[string]string{"batch.kubernetes.io/job-name": "rr-x"},
	}}
	data := fakeData{
		secrets:    map[string]map[string][]byte{"db": {"url": []byte("postgres://db/app")}},
		configMaps: map[string]map[string]string{"settings": {"A": "1", "B": "2"}},
	}
	cases := map[string]struct {
		env       []corev1.EnvVar
		envFrom   []corev1.EnvFromSource
		data      dataSource
		want      []corev1.EnvVar
		wantError string // the configError's message; "" for success
	}{
		"downward API and plain values": {
			env: []corev1.EnvVar{
				{Name: "NS", ValueFrom: fieldRef("metadata.namespace")},
				{Name: "POD", ValueFrom: fieldRef("metadata.name")},
				{Name: "JOB", ValueFrom: fieldRef("metadata.labels['batch.kubernetes.io/job-name']")},
				{Name: "UID", ValueFrom: fieldRef("metadata.uid")},
				{Name: "PLAIN", Value: "v"},
			},
			want: []corev1.EnvVar{{Name: "NS", Value: "team-a"}, {Name: "POD", Value: "rr-x-1-abcde"}, {Name: "JOB", Value: "rr-x"}, {Name: "UID", Value: "pod-uid"}, {Name: "PLAIN", Value: "v"}},
		},
		"a Secret key": {
			env:  []corev1.EnvVar{{Name: "URL", ValueFrom: secretRef("db", "url", false)}},
			want: []corev1.EnvVar{{Name: "URL", Value: "postgres://db/app"}},
		},
		"a missing Secret is the kubelet's config error": {
			env:       []corev1.EnvVar{{Name: "URL", ValueFrom: secretRef("nope", "url", false)}},
			wantError: `secret "nope" not found`,
		},
		"a missing key is a config error": {
			env:       []corev1.EnvVar{{Name: "URL", ValueFrom: secretRef("db", "dsn", false)}},
			wantError: "couldn't find key dsn in Secret team-a/db",
		},
		"an optional missing Secret leaves the variable unset": {
			env:  []corev1.EnvVar{{Name: "URL", ValueFrom: secretRef("nope", "url", true)}, {Name: "X", Value: "1"}},
			want: []corev1.EnvVar{{Name: "X", Value: "1"}},
		},
		"envFrom comes first, sorted, with its prefix; env overrides": {
			envFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
			env:     []corev1.EnvVar{{Name: "CFG_B", Value: "override"}},
			want:    []corev1.EnvVar{{Name: "CFG_A", Value: "1"}, {Name: "CFG_B", Value: "override"}},
		},
		"$(NAME) expands from earlier variables only": {
			env: []corev1.EnvVar{
				{Name: "A", Value: "x"},
				{Name: "B", Value: "$(A)-$(C)-$$(A)"},
				{Name: "C", Value: "late"},
			},
			want: []corev1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "x-$(C)-$(A)"}, {Name: "C", Value: "late"}},
		},
		"an unsupported field path is a config error": {
			env:       []corev1.EnvVar{{Name: "X", ValueFrom: fieldRef("status.phase")}},
			wantError: `the local executor does not support the field path "status.phase"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src := tc.data
			if src == nil {
				src = data
			}
			c := &corev1.Container{Env: tc.env, EnvFrom: tc.envFrom}
			got, err := resolveEnv(context.Background(), pod, c, src)
			if tc.wantError != "" {
				var cfg configError
				if !errors.As(err, &cfg) || cfg.msg != tc.wantError {
					t.Fatalf("error = %v, want config error %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveEnvAPIErrorIsNotAConfigError(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: "URL", ValueFrom: secretRef("db", "url", false)}}}
	_, err := resolveEnv(context.Background(), pod, c, fakeData{err: errors.New("connection refused")})
	var cfg configError
	if err == nil || errors.As(err, &cfg) {
		t.Errorf("error = %v, want a plain error to retry (the API server is down, the Secret is not missing)", err)
	}
}
