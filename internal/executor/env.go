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
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// configError is why a container cannot be configured: what the kubelet
// reports as CreateContainerConfigError, keeping the pod Pending.
type configError struct{ msg string }

func (e configError) Error() string { return e.msg }

// dataSource reads the Secrets and ConfigMaps a container's environment
// refers to, from the API server (the kubelet does the same).
type dataSource interface {
	secretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
	configMapData(ctx context.Context, namespace, name string) (map[string]string, error)
}

// resolveEnv builds a container's environment as the kubelet does: envFrom
// first, then env in order, each value expanded with $(NAME) from what came
// before. References to missing Secrets, ConfigMaps or keys are a
// configError unless marked optional.
func resolveEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src dataSource) ([]corev1.EnvVar, error) {
	values := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := values[name]; !ok {
			order = append(order, name)
		}
		values[name] = value
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(ctx, pod.Namespace, from, src)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(data) {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, values))
			continue
		}
		v, ok, err := envValueFrom(ctx, pod, e.ValueFrom, src)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]corev1.EnvVar, 0, len(order))
	for _, name := range order {
		out = append(out, corev1.EnvVar{Name: name, Value: values[name]})
	}
	return out, nil
}

// envFromData reads a whole Secret or ConfigMap for envFrom.
func envFromData(ctx context.Context, namespace string, from corev1.EnvFromSource, src dataSource) (map[string]string, error) {
	switch {
	case from.SecretRef != nil:
		data, err := src.secretData(ctx, namespace, from.SecretRef.Name)
		if err != nil {
			return nil, missing(err, "secret", from.SecretRef.Name, isOptional(from.SecretRef.Optional))
		}
		out := map[string]string{}
		for k, v := range data {
			out[k] = string(v)
		}
		return out, nil
	case from.ConfigMapRef != nil:
		data, err := src.configMapData(ctx, namespace, from.ConfigMapRef.Name)
		if err != nil {
			return nil, missing(err, "configmap", from.ConfigMapRef.Name, isOptional(from.ConfigMapRef.Optional))
		}
		return data, nil
	}
	return nil, nil
}

// envValueFrom resolves one valueFrom. ok is false for an optional
// reference that is absent: the variable is then not set at all.
func envValueFrom(ctx context.Context, pod *corev1.Pod, from *corev1.EnvVarSource, src dataSource) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := podField(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := src.secretData(ctx, pod.Namespace, ref.Name)
		if err != nil {
			return "", false, missing(err, "secret", ref.Name, isOptional(ref.Optional))
		}
		v, ok := data[ref.Key]
		if !ok && !isOptional(ref.Optional) {
			return "", false, configError{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return string(v), ok, nil
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := src.configMapData(ctx, pod.Namespace, ref.Name)
		if err != nil {
			return "", false, missing(err, "configmap", ref.Name, isOptional(ref.Optional))
		}
		v, ok := data[ref.Key]
		if !ok && !isOptional(ref.Optional) {
			return "", false, configError{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return v, ok, nil
	}
	return "", false, configError{"the local executor does not support this kind of valueFrom"}
}

// missing turns a failed read into a configError worded as the kubelet's,
// or nil when the reference is optional and the object does not exist.
// Other errors (the API server unreachable) are returned as they are.
func missing(err error, kind, name string, optional bool) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	if optional {
		return nil
	}
	return configError{fmt.Sprintf("%s %q not found", kind, name)}
}

// fieldLabel matches metadata.labels['key'] and metadata.annotations['key'].
var fieldLabel = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

// podField is the downward API: a field of the pod the process stands for.
func podField(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.hostIP", "status.podIPs", "status.hostIPs":
		return "127.0.0.1", nil
	}
	if m := fieldLabel.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", configError{fmt.Sprintf("the local executor does not support the field path %q", path)}
}

// expand replaces $(NAME) with NAME's value when it is defined and $$ with
// $, leaving anything else as written, as Kubernetes expands env values,
// commands and arguments.
func expand(s string, values map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := values[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// isOptional reads an optional flag.
func isOptional(p *bool) bool { return p != nil && *p }

// sortedKeys returns a map's keys in order, so envFrom is deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
