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

// Package testsupport starts the real servers reportd's tests, the e2e
// stack, benchmarks and `reportd dev` run against: a throwaway PostgreSQL
// cluster, an S3-compatible server (versitygw), an SMTP server with an HTTP
// API (mailpit) and a Kubernetes control plane (envtest). Each server has
// a Start function returning an error, for programs, and a New function
// taking a testing.TB that fails the test with a clear message and stops
// the server in t.Cleanup. Every server listens on loopback only, runs in
// its own process group, and Stop waits until it has exited and removes
// its temporary directory.
package testsupport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot returns the root of the reportd source tree (the directory
// holding go.mod), found from this source file's location, so tests and
// tools work from any package directory.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the testsupport source file to find the repository root")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			return "", fmt.Errorf("no go.mod above %s: testsupport must run from a reportd source tree", file)
		}
	}
}

// BinDir returns where the Go-built test servers are: $REPORTD_BIN_DIR,
// else <repo root>/bin.
func BinDir() (string, error) {
	if dir := os.Getenv("REPORTD_BIN_DIR"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// serverBinary returns the path of a server built into BinDir by
// `make <target>`, or an error naming the binary and that target.
func serverBinary(name, makeTarget string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found at %s: run `make %s` (or set REPORTD_BIN_DIR)", name, path, makeTarget)
	}
	return path, nil
}

// postgresBinary returns the path of a PostgreSQL server program (initdb,
// postgres), from `pg_config --bindir` first, since Debian keeps them off
// PATH, then from PATH.
func postgresBinary(name string) (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		path := filepath.Join(strings.TrimSpace(string(out)), name)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("PostgreSQL program %s not found (neither in `pg_config --bindir` nor on PATH): run `apt-get install -y postgresql`", name)
}
