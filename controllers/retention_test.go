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

package controllers

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

func TestExpiresAt(t *testing.T) {
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	completed := created.Add(time.Hour)
	d := Defaults{TTLSecondsAfterFinished: 7 * 24 * 3600}
	cases := map[string]struct {
		ttl       *int32 // spec.ttlSecondsAfterFinished
		completed bool   // status.completedAt set
		want      time.Time
	}{
		"the default":                 {completed: true, want: completed.Add(7 * 24 * time.Hour)},
		"the request's own":           {ttl: ptr.To[int32](60), completed: true, want: completed.Add(time.Minute)},
		"zero: at once":               {ttl: ptr.To[int32](0), completed: true, want: completed},
		"no completedAt: the created": {ttl: ptr.To[int32](60), want: created.Add(time.Minute)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rr := &v1alpha1.ReportRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
			rr.Spec.TTLSecondsAfterFinished = tc.ttl
			if tc.completed {
				rr.Status.CompletedAt = ptr.To(metav1.NewTime(completed))
			}
			if got := expiresAt(rr, d); !got.Equal(tc.want) {
				t.Errorf("expiresAt = %s, want %s", got, tc.want)
			}
		})
	}
}

// hungUpload is an upload in the middle of its way to a store, as a
// generator killed mid-upload leaves it.
type hungUpload struct {
	w    *io.PipeWriter
	done chan error
}

// startHungUpload starts putting key into store and writes a few bytes.
func startHungUpload(t *testing.T, store storage.Store, key string) *hungUpload {
	t.Helper()
	r, w := io.Pipe()
	u := &hungUpload{w: w, done: make(chan error, 1)}
	go func() {
		_, err := store.Put(context.Background(), key, r, storage.PutOptions{})
		u.done <- err
	}()
	if _, err := w.Write([]byte("id\n1\n")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.CloseWithError(errors.New("test over")) })
	return u
}

// finish ends the upload as if the generator went on, and returns Put's error.
func (u *hungUpload) finish(t *testing.T) error {
	t.Helper()
	_ = u.w.Close()
	select {
	case err := <-u.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the upload did not end")
		return nil
	}
}

// partials lists the unfinished uploads (partial files) under dir.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(d.Name(), ".partial") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStaleUploadSweepAbortsOldUploadsOfTheWatchedNamespacesOnly(t *testing.T) {
	dir := t.TempDir()
	store, err := storage.New(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	watched := startHungUpload(t, store, "team-a/sales-1a2b3c4d.csv")
	other := startHungUpload(t, store, "team-b/sales-5e6f7a8b.csv")
	waitFor(t, "both uploads under way", func() bool { return len(partials(t, dir)) == 2 })

	// Two hours later, with a grace of one hour: both are stale, one is ours.
	clock := clocktesting.NewFakeClock(time.Now().Add(2 * time.Hour))
	s := &StaleUploadSweeper{Store: store, Namespaces: []string{"team-a"}, Interval: time.Hour, Grace: time.Hour, Clock: clock}
	n, err := s.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 upload aborted", n, err)
	}
	if got := partials(t, dir); len(got) != 1 || !strings.HasPrefix(got[0], "team-b/") {
		t.Errorf("unfinished uploads left: %v, want team-b's only", got)
	}
	if err := watched.finish(t); err == nil {
		t.Error("an aborted upload completed after all")
	}
	if _, err := store.Head(context.Background(), "team-a/sales-1a2b3c4d.csv"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the aborted upload's object: %v, want not found", err)
	}
	if err := other.finish(t); err != nil {
		t.Errorf("another namespace's upload failed: %v", err)
	}

	fresh := startHungUpload(t, store, "team-a/users-0a0b0c0d.csv")
	waitFor(t, "the fresh upload under way", func() bool { return len(partials(t, dir)) == 1 })
	s.Clock = clocktesting.NewFakeClock(time.Now().Add(30 * time.Minute))
	if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
		t.Errorf("Sweep = %d, %v; an upload younger than the grace was aborted", n, err)
	}
	if err := fresh.finish(t); err != nil {
		t.Errorf("a fresh upload failed: %v", err)
	}
}

func TestStaleUploadSweeperRunsAtOnceThenEveryInterval(t *testing.T) {
	dir := t.TempDir()
	store, err := storage.New(context.Background(), storage.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	startHungUpload(t, store, "team-a/one-00000001.csv")
	waitFor(t, "the first upload under way", func() bool { return len(partials(t, dir)) == 1 })
	clock := clocktesting.NewFakeClock(time.Now().Add(2 * time.Hour))
	s := &StaleUploadSweeper{Store: store, Interval: time.Hour, Grace: time.Hour, Clock: clock}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.Start(ctx) }()
	waitFor(t, "the first sweep, at start", func() bool { return len(partials(t, dir)) == 0 })

	startHungUpload(t, store, "team-a/two-00000002.csv")
	waitFor(t, "the second upload under way", func() bool { return len(partials(t, dir)) == 1 })
	waitFor(t, "the sweeper waiting for its ticker", clock.HasWaiters)
	clock.Step(time.Hour)
	waitFor(t, "the sweep an interval later", func() bool { return len(partials(t, dir)) == 0 })

	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Start returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sweeper did not stop")
	}
	if !s.NeedLeaderElection() {
		t.Error("every replica would sweep")
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
