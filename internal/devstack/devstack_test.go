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
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Unit tests of the stack's pure parts; test/e2e runs the stack itself.

func TestDemoUsersKeepTheirTokensInAPersistentStack(t *testing.T) {
	s := &Stack{dataDir: t.TempDir()}
	path, err := s.prepareUsers()
	if err != nil {
		t.Fatal(err)
	}
	first := s.Users
	if len(first) != 2 || first[0].Name != "alice" || first[1].Name != "bob" || first[0].Token == first[1].Token || len(first[0].Token) != 64 {
		t.Fatalf("users = %+v", first)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the token file: %v, mode %v; want 0600", err, info.Mode())
	}
	again := &Stack{dataDir: s.dataDir}
	if _, err := again.prepareUsers(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Users, first) {
		t.Errorf("a restart gave %+v, want the same users and tokens %+v", again.Users, first)
	}
}

func TestATokenFileNotOursIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tokenFileName), []byte("short,alice,a@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Stack{dataDir: dir}
	if _, err := s.prepareUsers(); err != nil {
		t.Fatal(err)
	}
	if s.Users[0].Token == "short" || len(s.Users) != 2 {
		t.Errorf("users = %+v, want fresh tokens for alice and bob", s.Users)
	}
}

func TestRoleBindingSubjectsMoveWithTheBinding(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"kind": "RoleBinding",
		"subjects": []any{
			map[string]any{"kind": "ServiceAccount", "name": "reportd-generator", "namespace": "reports"},
			map[string]any{"kind": "User", "name": "alice"},
		},
	}}
	if err := moveSubjects(obj, "team-a"); err != nil {
		t.Fatal(err)
	}
	subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
	if ns := subjects[0].(map[string]any)["namespace"]; ns != "team-a" {
		t.Errorf("the ServiceAccount subject is in %v, want team-a", ns)
	}
	if _, has := subjects[1].(map[string]any)["namespace"]; has {
		t.Error("a User subject got a namespace")
	}
}

func TestKustomizationFilesListsResourcesInOrder(t *testing.T) {
	dir := t.TempDir()
	k := "# comment\nresources:\n- b.yaml\n- a.yaml\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "b.yaml"), filepath.Join(dir, "a.yaml")}
	if got := kustomizationFiles(dir); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := kustomizationFiles(t.TempDir()); len(got) != 0 {
		t.Errorf("a directory without kustomization.yaml gave %v", got)
	}
}

func TestRepoConfigParsesIntoObjects(t *testing.T) {
	root, err := findRepoDir("")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := readObjects(filepath.Join(root, "config", "rbac", "generator_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if want := []string{"Role", "ServiceAccount", "RoleBinding"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("generator_role.yaml holds %v, want %v", kinds, want)
	}
	if files := kustomizationFiles(filepath.Join(root, "config", "samples")); len(files) < 3 {
		t.Errorf("the samples' kustomization lists %v, want the three definitions", files)
	}
}

func TestControllersStartOnlyWhenTheirLinesAreLogged(t *testing.T) {
	log := []byte(`I1129 garbagecollector.go:169] "Proceeding to collect garbage"` + "\n")
	if got := notStarted(log, []string{ControllerGarbageCollector, ControllerJob}); !reflect.DeepEqual(got, []string{ControllerJob}) {
		t.Errorf("notStarted = %v, want [job]", got)
	}
	log = append(log, `I1129 job_controller.go:334] "Starting job controller"`...)
	if got := notStarted(log, []string{ControllerGarbageCollector, ControllerJob}); len(got) != 0 {
		t.Errorf("notStarted = %v, want none", got)
	}
}
