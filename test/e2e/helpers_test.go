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

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// requestWatch records every state of the namespace's ReportRequests a
// watch delivers, as `kubectl get reportrequests -w` would show them.
type requestWatch struct {
	w    watch.Interface
	mu   sync.Mutex
	seen map[string][]v1alpha1.ReportRequestStatus
	done chan struct{}
}

// watchRequests starts recording; it stops when the test ends.
func watchRequests(t testing.TB) *requestWatch {
	t.Helper()
	wc, err := client.NewWithWatch(stack.Config, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), &v1alpha1.ReportRequestList{}, client.InNamespace(stack.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	rw := &requestWatch{w: w, seen: map[string][]v1alpha1.ReportRequestStatus{}, done: make(chan struct{})}
	go rw.record()
	t.Cleanup(func() {
		w.Stop()
		<-rw.done
	})
	return rw
}

// record keeps each delivered status, in order.
func (rw *requestWatch) record() {
	defer close(rw.done)
	for ev := range rw.w.ResultChan() {
		rr, ok := ev.Object.(*v1alpha1.ReportRequest)
		if !ok {
			continue
		}
		rw.mu.Lock()
		rw.seen[rr.Name] = append(rw.seen[rr.Name], *rr.Status.DeepCopy())
		rw.mu.Unlock()
	}
}

// history returns the statuses seen of one request.
func (rw *requestWatch) history(name string) []v1alpha1.ReportRequestStatus {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]v1alpha1.ReportRequestStatus(nil), rw.seen[name]...)
}

// waitFinished waits until every named request is Completed or Failed and
// returns them; it fails the test, naming the stragglers, at the timeout.
func waitFinished(t testing.TB, timeout time.Duration, names ...string) map[string]*v1alpha1.ReportRequest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, waiting := map[string]*v1alpha1.ReportRequest{}, []string{}
		for _, name := range names {
			rr := &v1alpha1.ReportRequest{}
			err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: stack.Namespace, Name: name}, rr)
			switch {
			case err != nil:
				waiting = append(waiting, fmt.Sprintf("%s (%v)", name, err))
			case rr.Status.Phase == v1alpha1.PhaseCompleted || rr.Status.Phase == v1alpha1.PhaseFailed:
				done[name] = rr
			default:
				waiting = append(waiting, fmt.Sprintf("%s (%s %d%%)", name, rr.Status.Phase, rr.Status.Progress))
			}
		}
		if len(waiting) == 0 {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished after %s: %s", timeout, strings.Join(waiting, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkProgress asserts what an operator watching a report expects: the
// progress never goes back within an attempt, and it ends at 100.
func checkProgress(t testing.TB, history []v1alpha1.ReportRequestStatus) {
	t.Helper()
	if len(history) == 0 {
		t.Fatal("the watch saw no state of the report")
	}
	last := map[int32]int32{} // attempt -> progress
	for _, st := range history {
		if prev, ok := last[st.Attempts]; ok && st.Progress < prev {
			t.Errorf("progress went back from %d to %d within attempt %d", prev, st.Progress, st.Attempts)
		}
		last[st.Attempts] = st.Progress
	}
	final := history[len(history)-1]
	if final.Phase != v1alpha1.PhaseCompleted || final.Progress != 100 {
		t.Errorf("the last state watched is %s at %d%%, want Completed at 100%%", final.Phase, final.Progress)
	}
}

// fetchResult reads a finished report's file from storage, where the
// manager says it is, and checks it against the recorded size and checksum.
func fetchResult(t testing.TB, rr *v1alpha1.ReportRequest) []byte {
	t.Helper()
	if rr.Status.Result == nil {
		t.Fatalf("%s is %s without a result (error: %q)", rr.Name, rr.Status.Phase, rr.Status.ErrorMessage)
	}
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
	if got, want := rr.Status.Result.URL, stack.Store.URI(key); got != want {
		t.Errorf("result URL = %q, want %q", got, want)
	}
	r, _, err := stack.Store.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	data := readAll(t, r)
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != rr.Status.Result.SHA256 {
		t.Errorf("the file's SHA-256 is %s, the status says %s", got, rr.Status.Result.SHA256)
	}
	if int64(len(data)) != rr.Status.Result.Size {
		t.Errorf("the file has %d bytes, the status says %d", len(data), rr.Status.Result.Size)
	}
	return data
}

// fileExists reports whether a report's file is in storage.
func fileExists(t testing.TB, rr *v1alpha1.ReportRequest) bool {
	t.Helper()
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
	_, err := stack.Store.Head(context.Background(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return true
}

// gone reports whether a Get answered NotFound.
func gone(err error) (bool, string) {
	if apierrors.IsNotFound(err) {
		return true, ""
	}
	if err != nil {
		return false, err.Error()
	}
	return false, "still there"
}

// paramPattern finds a definition's named parameters in its query.
var paramPattern = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

// referenceQuery is the definition's query with each parameter written
// as a literal, as psql runs it: the values the request gave, else the
// definition's defaults.
func referenceQuery(t testing.TB, def *v1alpha1.ReportDefinition, values map[string]string) string {
	t.Helper()
	known := map[string]string{}
	for _, p := range def.Spec.Parameters {
		if p.Default != nil {
			known[p.Name] = *p.Default
		}
	}
	for k, v := range values {
		known[k] = v
	}
	var missing []string
	query := paramPattern.ReplaceAllStringFunc(def.Spec.Query, func(m string) string {
		v, ok := known[m[1:]]
		if !ok {
			missing = append(missing, m)
			return m
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	})
	if len(missing) > 0 {
		t.Fatalf("no value for %s in the reference query", strings.Join(missing, ", "))
	}
	return query
}

// psqlCopy runs `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)` with
// the psql program against the stack's database as the datasource role,
// with the session in UTC as the samples' definitions ask.
func psqlCopy(t testing.TB, query string) []byte {
	t.Helper()
	return e2eutil.PsqlCopy(t, stack.Postgres.ReaderURL, query)
}

// neutralised wraps a query so that its text columns start with a quote
// where a spreadsheet would run them as a formula, as reportd's CSV does
// (DESIGN.md: =, +, -, @, tab, CR); numbers and other types are left
// alone.
func neutralised(query string, columns []string, text map[string]bool) string {
	cols := make([]string, len(columns))
	for i, c := range columns {
		ident := `"` + c + `"`
		if text[c] {
			cols[i] = fmt.Sprintf(`CASE WHEN left(%[1]s, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || %[1]s ELSE %[1]s END AS %[1]s`, ident)
		} else {
			cols[i] = ident
		}
	}
	// A projection keeps the order of the rows the inner query sorted.
	return "SELECT " + strings.Join(cols, ", ") + " FROM (" + strings.TrimRight(strings.TrimSpace(query), ";") + ") AS q"
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
