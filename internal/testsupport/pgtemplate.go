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

package testsupport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// initdbArgs are the initdb flags after -D. Fresh clusters made with them
// are identical, so one is kept in the machine cache and copied: a copy
// takes a tenth of initdb's time, and seconds less on a busy machine.
var initdbArgs = []string{"-U", PostgresSuperuser, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"}

// templateDir returns where the pristine cluster for this PostgreSQL build
// and these initdb flags is cached.
func templateDir(initdb string) (string, error) {
	version, err := exec.Command(initdb, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", initdb, err)
	}
	key := sha256.Sum256([]byte(initdb + "\n" + string(version) + strings.Join(initdbArgs, " ")))
	return filepath.Join(CacheDir(), "postgres-templates", hex.EncodeToString(key[:8])), nil
}

// initCluster fills dataDir with a fresh cluster: a copy of the cached
// template if there is one, else by initdb, whose result is then cached.
func initCluster(ctx context.Context, initdb, workDir, dataDir string, cred *syscall.Credential) error {
	template, err := templateDir(initdb)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(template, "PG_VERSION")); err == nil {
		if err := copyTree(template, dataDir, cred); err == nil {
			return nil
		}
		// A broken cache must not break tests: fall back to initdb.
		_ = os.RemoveAll(dataDir)
	}
	cmd := exec.CommandContext(ctx, initdb, append([]string{"-D", dataDir}, initdbArgs...)...)
	cmd.Dir, cmd.Env = workDir, serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if cred != nil {
			hint = " (running as root: the postgres user must be able to reach " + workDir + ")"
		}
		return fmt.Errorf("initdb in %s failed%s: %w\n%s", dataDir, hint, err, out)
	}
	cacheTemplate(dataDir, template)
	return nil
}

// cacheTemplate copies a fresh cluster into the cache, best effort: into a
// temporary sibling first and renamed, so concurrent test binaries never
// see half a template (the loser of a race drops its copy).
func cacheTemplate(dataDir, template string) {
	if err := os.MkdirAll(filepath.Dir(template), 0o755); err != nil {
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(template), ".tmp-")
	if err != nil {
		return
	}
	if err := copyTree(dataDir, tmp, nil); err != nil || os.Rename(tmp, template) != nil {
		_ = os.RemoveAll(tmp)
	}
}

// copyTree copies the directories and regular files under src to dst,
// keeping modes, owned by cred's user if given (else by us).
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.MkdirAll(target, info.Mode().Perm())
			if err == nil {
				err = os.Chmod(target, info.Mode().Perm())
			}
		case info.Mode().IsRegular():
			err = copyFile(path, target, info.Mode().Perm())
		default:
			return fmt.Errorf("copy %s: not a regular file or directory", path)
		}
		if err == nil && cred != nil {
			err = os.Chown(target, int(cred.Uid), int(cred.Gid))
		}
		return err
	})
}

// copyFile copies one regular file with the given mode.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
