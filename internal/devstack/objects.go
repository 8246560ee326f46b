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

package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/controllers"
)

// applyOptions: the stack owns what it installs and takes fields over
// from earlier runs of itself (a persistent stack re-applies everything).
var applyOptions = []client.ApplyOption{client.FieldOwner(fieldOwner), client.ForceOwnership}

// installObjects gives the namespace what an installation would: Pod
// Security enforcement, the datasource Secret (the reader role's URL),
// the S3 credentials Secret, the generator's ServiceAccount and Role,
// the requester admission policy, and the sample definitions.
func (s *Stack) installObjects(ctx context.Context) error {
	if err := s.applyNamespace(ctx); err != nil {
		return err
	}
	if err := s.applySecret(ctx, DatasourceSecret, map[string][]byte{"url": []byte(s.Postgres.ReaderURL)}); err != nil {
		return err
	}
	if s.S3 != nil {
		creds := map[string][]byte{
			controllers.S3AccessKeyKey: []byte(s.S3.AccessKey),
			controllers.S3SecretKeyKey: []byte(s.S3.SecretKey),
		}
		if err := s.applySecret(ctx, S3CredentialsSecret, creds); err != nil {
			return err
		}
	}
	config := filepath.Join(s.repoDir, "config")
	for _, files := range [][]string{
		{filepath.Join(config, "rbac", "generator_role.yaml")},
		kustomizationFiles(filepath.Join(config, "policy")),
		kustomizationFiles(filepath.Join(config, "samples")),
	} {
		for _, file := range files {
			if err := s.applyFile(ctx, file); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyNamespace creates the namespace with Pod Security enforced.
func (s *Stack) applyNamespace(ctx context.Context) error {
	ns := corev1ac.Namespace(s.Namespace).WithLabels(map[string]string{
		"pod-security.kubernetes.io/enforce": s.opts.PodSecurity,
		"pod-security.kubernetes.io/warn":    s.opts.PodSecurity,
	})
	if err := s.Client.Apply(ctx, ns, applyOptions...); err != nil {
		return fmt.Errorf("apply namespace %s: %w", s.Namespace, err)
	}
	return nil
}

// applySecret creates or updates a Secret of the namespace.
func (s *Stack) applySecret(ctx context.Context, name string, data map[string][]byte) error {
	secret := corev1ac.Secret(name, s.Namespace).WithData(data)
	if err := s.Client.Apply(ctx, secret, applyOptions...); err != nil {
		return fmt.Errorf("apply Secret %s: %w", name, err)
	}
	return nil
}

// kustomization is the part of a kustomization.yaml the stack reads.
type kustomization struct {
	Resources []string `json:"resources"`
}

// kustomizationFiles lists the resources of dir's kustomization.yaml;
// none when there is no such file (a part not written yet).
func kustomizationFiles(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil
	}
	files := make([]string, 0, len(k.Resources))
	for _, r := range k.Resources {
		files = append(files, filepath.Join(dir, r))
	}
	return files
}

// applyFile applies every object of a YAML file, namespaced ones in the
// stack's namespace (whatever namespace the file names).
func (s *Stack) applyFile(ctx context.Context, path string) error {
	objs, err := readObjects(path)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := s.applyObject(ctx, obj); err != nil {
			return fmt.Errorf("apply %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
	}
	return nil
}

// applyObject applies one object, moved into the stack's namespace.
func (s *Stack) applyObject(ctx context.Context, obj *unstructured.Unstructured) error {
	namespaced, err := s.Client.IsObjectNamespaced(obj)
	if err != nil {
		return err
	}
	if namespaced {
		obj.SetNamespace(s.Namespace)
	}
	if err := moveSubjects(obj, s.Namespace); err != nil {
		return err
	}
	return s.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), applyOptions...)
}

// moveSubjects points a RoleBinding's ServiceAccount subjects at the
// namespace, as the binding itself moved there.
func moveSubjects(obj *unstructured.Unstructured, namespace string) error {
	if obj.GetKind() != "RoleBinding" {
		return nil
	}
	subjects, _, err := unstructured.NestedSlice(obj.Object, "subjects")
	if err != nil {
		return err
	}
	for _, sub := range subjects {
		if m, ok := sub.(map[string]any); ok && m["kind"] == "ServiceAccount" {
			m["namespace"] = namespace
		}
	}
	return unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
}

// readObjects reads the objects of a (multi-document) YAML file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}
