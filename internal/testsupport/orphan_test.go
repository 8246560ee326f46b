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

package testsupport_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"reportd.io/reportd/internal/testsupport"
)

// helperEnv marks the copy of this test binary that TestServersDieWithTheirParent
// starts (see TestMain) to play a test binary that crashes.
const helperEnv = "REPORTD_TESTSUPPORT_CRASHING_PARENT"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		startServersAndHang()
		return
	}
	// envtest logs through controller-runtime; without a logger it prints
	// a warning with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// startServersAndHang starts the three servers, prints their PIDs and
// directories on one line, and waits to be killed.
func startServersAndHang() {
	line, err := startServers()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(line)
	select {}
}

// startServers starts the three servers and returns their PIDs and
// directories on one line.
func startServers() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testsupport.StartPostgres(ctx, testsupport.PostgresOptions{})
	if err != nil {
		return "", err
	}
	store, err := testsupport.StartS3(ctx, testsupport.S3Options{})
	if err != nil {
		return "", err
	}
	mail, err := testsupport.StartSMTP(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %d %d %s %s %s", pg.PID(), store.PID(), mail.PID(), pg.Dir, store.Dir, mail.Dir), nil
}

// TestServersDieWithTheirParent kills a process that started servers, as
// a test binary hitting its -timeout or `reportd dev` killed with -9 would
// die, and checks that the servers do not outlive it.
func TestServersDieWithTheirParent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error:") {
		_ = helper.Process.Kill()
		t.Fatalf("helper did not start the servers: %q %v", line, err)
	}
	fields := strings.Fields(line)
	pids := make([]int, 3)
	for i := range pids {
		pids[i], _ = strconv.Atoi(fields[i])
	}
	// The helper cannot clean up after itself once killed.
	t.Cleanup(func() {
		for _, dir := range fields[3:] {
			os.RemoveAll(dir)
		}
	})

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for i, pid := range pids {
		for testsupport.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if testsupport.Alive(pid) {
			t.Errorf("server %d (pid %d) outlived its killed parent", i, pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}
