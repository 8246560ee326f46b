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
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

// TestFacadeCommandServesTheAPI runs `reportd facade` against a real API
// server, with one flag taken from the environment, and stops it.
func TestFacadeCommandServesTheAPI(t *testing.T) {
	env, cfg := testsupport.NewEnvtest(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := testsupport.WriteKubeconfig(env, "facade-admin", kubeconfig); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
		t.Fatal(err)
	}
	def := &v1alpha1.ReportDefinition{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "inventory"}, Spec: v1alpha1.ReportDefinitionSpec{Query: "SELECT 1"}}
	if err := admin.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte("alice-token-0123456789,alice,alice@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiPort, probePort := freePort(t), freePort(t)
	t.Setenv("REPORTD_MAX_ACTIVE", "1")

	root := NewRootCommand()
	root.SetArgs([]string{"facade", "--kubeconfig", kubeconfig, "--namespace", "team-a",
		"--storage", "file://" + filepath.Join(dir, "files"), "--token-file", tokenFile,
		"--bind-address", fmt.Sprintf("127.0.0.1:%d", apiPort), "--metrics-bind-address", "0",
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort)})
	root.SetOut(io.Discard)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("reportd facade: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("reportd facade did not stop within 30 s")
		}
	}()

	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	waitFor(t, done, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
	if got := call(t, http.MethodPost, api+"/api/v1/reports", `{"reportType": "inventory"}`); got != http.StatusAccepted {
		t.Fatalf("create: %d", got)
	}
	// REPORTD_MAX_ACTIVE=1 came from the environment.
	if got := call(t, http.MethodPost, api+"/api/v1/reports", `{"reportType": "inventory"}`); got != http.StatusTooManyRequests {
		t.Errorf("second create with --max-active 1 from the environment: %d, want 429", got)
	}
	if got := call(t, http.MethodGet, api+"/api/v1/reports", ""); got != http.StatusOK {
		t.Errorf("list: %d", got)
	}
}

// call sends a request as alice and returns the status.
func call(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer alice-token-0123456789")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitFor polls url until it answers 200, failing if the command exits.
func waitFor(t *testing.T, done <-chan error, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("reportd facade exited: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 60 s", url)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testsupport.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
