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

package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/internal/testsupport"
)

var (
	// repoRoot is the source tree's root; chartDir the chart in it.
	repoRoot, chartDir string
	// helmBin is bin/helm, built by `make test-servers`.
	helmBin string
	// apiServer is the test API server's configuration (system:masters).
	apiServer *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run finds helm and starts one API server for the package, with no CRDs:
// the dry-run tests install the chart's own.
func run(m *testing.M) int {
	var err error
	if repoRoot, err = testsupport.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chartDir = filepath.Join(repoRoot, "charts", "reportd")
	if helmBin, err = findHelm(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		path := filepath.Join(testsupport.ControlPlaneDir(), name)
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(os.Stderr, "control plane not built: run `make envtest` (%s not found)\n", path)
			return 1
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: testsupport.ControlPlaneDir(), Scheme: testsupport.Scheme()}
	if apiServer, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", errors.Join(err, env.Stop()))
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		}
	}()
	return m.Run()
}

// findHelm returns bin/helm (or $REPORTD_BIN_DIR/helm), or an error that
// names the make target building it.
func findHelm() (string, error) {
	dir, err := testsupport.BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "helm")
	if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("helm not found at %s: run `make test-servers` (it builds helm; or set REPORTD_BIN_DIR)", path)
	}
	return path, nil
}

// helm runs bin/helm with args and a private Helm home, and returns its
// standard output; the error carries standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// release is one way of installing the chart.
type release struct {
	name, namespace string
	// args are more `helm template` arguments (--values, --set).
	args []string
}

var (
	defaultRelease = release{name: "reportd", namespace: "reportd-system"}
	fullRelease    = release{name: "full", namespace: "reportd-full", args: []string{"--values", "charts/reportd/ci/full-values.yaml"}}
)

// fullname is the prefix of the release's object names, as the chart's
// reportd.fullname makes it.
func (r release) fullname() string {
	if strings.Contains(r.name, "reportd") {
		return r.name
	}
	return r.name + "-reportd"
}

// template renders r, failing the test on an error.
func (r release) template(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := r.render(t, extra...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseManifests(out)
	if err != nil {
		t.Fatalf("parsing the rendered chart: %v\n%s", err, out)
	}
	return objs
}

// render runs `helm template` for r and returns the manifests.
func (r release) render(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"template", r.name, chartDir, "--namespace", r.namespace}, r.args...)
	return helm(t, append(args, extra...)...)
}

// parseManifests splits a multi-document YAML stream into objects,
// skipping empty documents.
func parseManifests(manifests string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// ofKind returns the objects of a kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of a kind, namespace and name, failing the test
// when there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	var have []string
	for _, o := range ofKind(objs, kind) {
		have = append(have, o.GetNamespace()+"/"+o.GetName())
	}
	t.Fatalf("no %s %s/%s rendered (have %v)", kind, namespace, name, have)
	return nil
}

// readYAMLDocs reads the objects of a YAML file of the repository.
func readYAMLDocs(t *testing.T, rel string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseManifests(string(data))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return objs
}
