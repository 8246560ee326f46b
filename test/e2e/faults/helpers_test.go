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

package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// request is a ReportRequest the way a test asks for it.
type request struct {
	typ     string
	params  map[string]string
	retries *int32
	notify  []string
	labels  map[string]string
}

// create creates the request as alice (an administrator may name any
// requester), named prefix-<unique>, and returns its name.
func (r request) create(t testing.TB, prefix string) string {
	t.Helper()
	params := map[string]v1alpha1.ParameterValue{}
	for k, v := range r.params {
		params[k] = v1alpha1.ParameterValue(v)
	}
	rr := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: newName(prefix), Namespace: stack.Namespace, Labels: r.labels},
		Spec: v1alpha1.ReportRequestSpec{
			Type: r.typ, Parameters: params, Format: v1alpha1.FormatCSV,
			RequestedBy: stack.Users[0].Name, Retries: r.retries,
		},
	}
	if len(r.notify) > 0 {
		rr.Spec.Notify = &v1alpha1.NotifySpec{Email: r.notify}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stack.Client.Create(ctx, rr); err != nil {
		t.Fatalf("create report %s: %v", rr.Name, err)
	}
	return rr.Name
}

// gated is a request of the gated type: rows 1..last, each with a pad of
// width md5s, stopping at row gateRow until g opens.
func gated(g *e2eutil.Gate, last, gateRow, width int, retries int32) request {
	return request{typ: e2eutil.GatedType, retries: &retries, params: map[string]string{
		"first": "1", "last": strconv.Itoa(last), "width": strconv.Itoa(width),
		"gateRow": strconv.Itoa(gateRow), "gateKey": strconv.FormatInt(g.Key, 10),
	}}
}

// names are unique within a run; the counter keeps those made within
// one clock tick apart.
var (
	nameMu  sync.Mutex
	nameSeq int
)

// newName returns prefix-<unique>.
func newName(prefix string) string {
	nameMu.Lock()
	defer nameMu.Unlock()
	nameSeq++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().Unix()%100000, nameSeq)
}

// get reads a request; the test fails if it cannot.
func get(t testing.TB, name string) *v1alpha1.ReportRequest {
	t.Helper()
	rr, err := tryGet(name)
	if err != nil {
		t.Fatalf("read report %s: %v", name, err)
	}
	return rr
}

// tryGet reads a request.
func tryGet(name string) (*v1alpha1.ReportRequest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rr := &v1alpha1.ReportRequest{}
	return rr, stack.Client.Get(ctx, client.ObjectKey{Namespace: stack.Namespace, Name: name}, rr)
}

// describe says where a report stands, for failure messages.
func describe(rr *v1alpha1.ReportRequest) string {
	s := fmt.Sprintf("%s: %s %d%%, %d rows, attempt %d", rr.Name, rr.Status.Phase, rr.Status.Progress, rr.Status.Rows, rr.Status.Attempts)
	if rr.Status.ErrorMessage != "" {
		s += fmt.Sprintf(", error %q", rr.Status.ErrorMessage)
	}
	return s
}

// waitAtGate waits until each gated report is Processing and its
// generator has read rows (the rows annotation on its Job): it stands at
// its gate, in the middle of its rows. The rows annotation says rows came
// as soon as the generator's first progress tick after them, without
// waiting for the manager to copy it into the status.
func waitAtGate(t testing.TB, names ...string) {
	t.Helper()
	var states []string
	e2eutil.Eventually(t, 90*time.Second, "reports in the middle of their rows", func() (bool, string) {
		states = states[:0]
		ok := true
		for _, n := range names {
			rr, err := tryGet(n)
			if err != nil {
				return false, err.Error()
			}
			if rr.Status.Phase.IsTerminal() {
				t.Fatalf("the report ended at its gate: %s", describe(rr))
			}
			rows := int64(0)
			if rr.Status.Phase == v1alpha1.PhaseProcessing {
				var read v1alpha1.ProgressAnnotation
				if _, err := v1alpha1.DecodeAnnotation(job(t, rr).Annotations, v1alpha1.AnnotationRows, &read); err == nil {
					rows = read.Value
				}
			}
			states = append(states, fmt.Sprintf("%s, %d rows read", describe(rr), rows))
			ok = ok && rows > 0
		}
		return ok, strings.Join(states, "; ")
	})
	t.Logf("at the gate: %s", strings.Join(states, "; "))
}

// waitFinished waits until the report is Completed or Failed.
func waitFinished(t testing.TB, timeout time.Duration, name string) *v1alpha1.ReportRequest {
	t.Helper()
	var rr *v1alpha1.ReportRequest
	e2eutil.Eventually(t, timeout, "report "+name+" finished", func() (bool, string) {
		var err error
		if rr, err = tryGet(name); err != nil {
			return false, err.Error()
		}
		return rr.Status.Phase.IsTerminal(), describe(rr)
	})
	return rr
}

// job reads the report's Job.
func job(t testing.TB, rr *v1alpha1.ReportRequest) *batchv1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := &batchv1.Job{}
	if err := stack.Client.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: controllers.JobName(rr)}, j); err != nil {
		t.Fatalf("read the Job of %s: %v", rr.Name, err)
	}
	return j
}

// waitJobFailures waits until the report's Job has counted n failed attempts.
func waitJobFailures(t testing.TB, name string, n int32) {
	t.Helper()
	rr := get(t, name)
	e2eutil.Eventually(t, 90*time.Second, fmt.Sprintf("%d failed attempts of %s", n, name), func() (bool, string) {
		j := job(t, rr)
		if r, err := tryGet(name); err == nil && r.Status.Phase.IsTerminal() {
			t.Fatalf("the report ended before its attempts failed: %s", describe(r))
		}
		return j.Status.Failed >= n, fmt.Sprintf("the Job counts %d failed, %d active", j.Status.Failed, j.Status.Active)
	})
}

// pods lists the attempts' pods of a report's Job.
func pods(t testing.TB, rr *v1alpha1.ReportRequest) []corev1.Pod {
	t.Helper()
	j := job(t, rr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list corev1.PodList
	if err := stack.Client.List(ctx, &list, client.InNamespace(rr.Namespace),
		client.MatchingLabels{"batch.kubernetes.io/controller-uid": string(j.UID)}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// exitCodes are the attempts' exit codes by pod name (-1: not ended).
func exitCodes(t testing.TB, rr *v1alpha1.ReportRequest) map[string]int32 {
	t.Helper()
	out := map[string]int32{}
	for _, p := range pods(t, rr) {
		out[p.Name] = -1
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated != nil {
			out[p.Name] = p.Status.ContainerStatuses[0].State.Terminated.ExitCode
		}
	}
	return out
}

// storedFile reads a Completed report's file and checks it against the
// size and checksum its status records.
func storedFile(t testing.TB, rr *v1alpha1.ReportRequest) []byte {
	t.Helper()
	if rr.Status.Phase != v1alpha1.PhaseCompleted || rr.Status.Result == nil {
		t.Fatalf("want a Completed report with a result, got %s", describe(rr))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, _, err := stack.Store.Open(ctx, resultKey(rr))
	if err != nil {
		t.Fatalf("open the file of %s: %v", rr.Name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read the file of %s: %v", rr.Name, err)
	}
	if got := sha(data); got != rr.Status.Result.SHA256 {
		t.Errorf("%s: the file's SHA-256 is %s, the status says %s", rr.Name, got, rr.Status.Result.SHA256)
	}
	if int64(len(data)) != rr.Status.Result.Size {
		t.Errorf("%s: the file has %d bytes, the status says %d", rr.Name, len(data), rr.Status.Result.Size)
	}
	return data
}

// resultKey is where a report's file is stored.
func resultKey(rr *v1alpha1.ReportRequest) string {
	return storage.ReportKey(rr.Namespace, rr.Name, rr.UID, rr.Spec.Format)
}

// fileStored reports whether a report's file exists in storage.
func fileStored(t testing.TB, rr *v1alpha1.ReportRequest) bool {
	t.Helper()
	return keyStored(t, resultKey(rr))
}

// keyStored reports whether the store holds an object under key; any
// answer but "not found" fails the test.
func keyStored(t testing.TB, key string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := stack.Store.Head(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return true
}

// sha is a SHA-256 in hex.
func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// checkAgainstPsql asserts that a Completed gated report's file is what
// psql's COPY exports for the same query and parameters (without the
// gate, which lets every row through): same rows, same bytes.
func checkAgainstPsql(t testing.TB, rr *v1alpha1.ReportRequest) {
	t.Helper()
	data := storedFile(t, rr)
	want := psqlCopy(t, gatedReference(rr))
	rows := int64(bytes.Count(want, []byte("\n")) - 1)
	if rr.Status.Rows != rows || rr.Status.Result.Rows != rows {
		t.Errorf("%s: status rows = %d (result %d), psql exported %d", rr.Name, rr.Status.Rows, rr.Status.Result.Rows, rows)
	}
	if got, exp := sha(data), sha(want); got != exp {
		t.Errorf("%s: the file (%d bytes, SHA-256 %s) differs from psql's export (%d bytes, %s)", rr.Name, len(data), got, len(want), exp)
	}
}

// gatedReference is the gated type's query for a request's parameters,
// as psql runs it: literals instead of bound parameters, and no gate.
func gatedReference(rr *v1alpha1.ReportRequest) string {
	p := func(name, def string) string {
		if v, ok := rr.Spec.Parameters[name]; ok {
			return string(v)
		}
		return def
	}
	for _, v := range rr.Spec.Parameters {
		if _, err := strconv.Atoi(string(v)); err != nil {
			panic("gated parameters are integers, got " + string(v))
		}
	}
	return fmt.Sprintf(`SELECT g AS "N", md5(g::text) AS "Hash", repeat(md5(g::text), %s) AS "Pad" FROM generate_series(%s, %s) AS g`,
		p("width", "1"), p("first", ""), p("last", ""))
}

// psqlCopy runs `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)` with
// psql as the datasource role.
func psqlCopy(t testing.TB, query string) []byte {
	t.Helper()
	return e2eutil.PsqlCopy(t, stack.Postgres.ReaderURL, query)
}

// neverCompletedPartially asserts what a watch saw of a report: no state
// Completed without a result, and no Completed before its last state.
func neverCompletedPartially(t testing.TB, history []v1alpha1.ReportRequestStatus) {
	t.Helper()
	for i, st := range history {
		if st.Phase == v1alpha1.PhaseCompleted && (st.Result == nil || i != len(history)-1 && history[i+1].Phase != v1alpha1.PhaseCompleted) {
			t.Errorf("state %d of %d was Completed (result %+v) before the report ended", i+1, len(history), st.Result)
		}
	}
}

// requestWatch records every state of the namespace's ReportRequests
// and every Job created, as a `kubectl get -w` would show them.
type requestWatch struct {
	mu       sync.Mutex
	states   map[string][]v1alpha1.ReportRequestStatus
	jobs     map[string]map[types.UID]string // owner name -> Job UIDs -> Job names
	finished sync.WaitGroup
}

// watchAll starts recording; it stops when the test ends.
func watchAll(t testing.TB) *requestWatch {
	t.Helper()
	wc, err := client.NewWithWatch(stack.Config, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	rw := &requestWatch{states: map[string][]v1alpha1.ReportRequestStatus{}, jobs: map[string]map[types.UID]string{}}
	ctx := context.Background()
	requests, err := wc.Watch(ctx, &v1alpha1.ReportRequestList{}, client.InNamespace(stack.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := wc.Watch(ctx, &batchv1.JobList{}, client.InNamespace(stack.Namespace))
	if err != nil {
		requests.Stop()
		t.Fatal(err)
	}
	rw.consume(requests, rw.recordRequest)
	rw.consume(jobs, rw.recordJob)
	t.Cleanup(func() {
		requests.Stop()
		jobs.Stop()
		rw.finished.Wait()
	})
	return rw
}

// consume hands each event of w to record until w stops.
func (rw *requestWatch) consume(w watch.Interface, record func(watch.Event)) {
	rw.finished.Add(1)
	go func() {
		defer rw.finished.Done()
		for ev := range w.ResultChan() {
			record(ev)
		}
	}()
}

func (rw *requestWatch) recordRequest(ev watch.Event) {
	rr, ok := ev.Object.(*v1alpha1.ReportRequest)
	if !ok {
		return
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.states[rr.Name] = append(rw.states[rr.Name], *rr.Status.DeepCopy())
}

func (rw *requestWatch) recordJob(ev watch.Event) {
	j, ok := ev.Object.(*batchv1.Job)
	if !ok {
		return
	}
	owner := metav1.GetControllerOf(j)
	if owner == nil || owner.Kind != "ReportRequest" {
		return
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.jobs[owner.Name] == nil {
		rw.jobs[owner.Name] = map[types.UID]string{}
	}
	rw.jobs[owner.Name][j.UID] = j.Name
}

// history returns the states seen of one request.
func (rw *requestWatch) history(name string) []v1alpha1.ReportRequestStatus {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]v1alpha1.ReportRequestStatus(nil), rw.states[name]...)
}

// jobsOf returns the Jobs (UID -> name) ever seen for a request.
func (rw *requestWatch) jobsOf(name string) map[types.UID]string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	out := map[types.UID]string{}
	for k, v := range rw.jobs[name] {
		out[k] = v
	}
	return out
}

// checkOneJob asserts that the watch saw exactly one Job for the report,
// with its deterministic name.
func (rw *requestWatch) checkOneJob(t testing.TB, rr *v1alpha1.ReportRequest) {
	t.Helper()
	jobs := rw.jobsOf(rr.Name)
	if len(jobs) != 1 {
		t.Errorf("%s: %d Jobs were created, want 1: %v", rr.Name, len(jobs), jobs)
		return
	}
	for _, name := range jobs {
		if name != controllers.JobName(rr) {
			t.Errorf("%s: its Job is %s, want %s", rr.Name, name, controllers.JobName(rr))
		}
	}
}

// Processes (Linux /proc).

// environ reads a process's environment; nil when it is gone or unreadable.
func environ(pid int) []string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

// running reports whether a process exists and is not a zombie.
func running(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(data[i+1:])), "Z")
}

// processesRunning lists the live processes whose executable is bin.
func processesRunning(bin string) []int {
	var out []int
	for _, pid := range e2eutil.AllPIDs() {
		exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
		if err == nil && exe == bin && running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// generatorsOf lists the live report processes (`reportd generate`) of
// the named requests, by the environment the Job gives them.
func generatorsOf(names ...string) map[int]string {
	want := map[string]bool{}
	for _, n := range names {
		want[controllers.EnvRequest+"="+n] = true
	}
	out := map[int]string{}
	for _, pid := range processesRunning(reportdBinary) {
		var request, pod string
		for _, kv := range environ(pid) {
			if want[kv] {
				request = strings.TrimPrefix(kv, controllers.EnvRequest+"=")
			}
			if v, ok := strings.CutPrefix(kv, controllers.EnvPod+"="); ok {
				pod = v
			}
		}
		if request != "" {
			out[pid] = request + " (pod " + pod + ")"
		}
	}
	return out
}

// emailRecord is a report's e-mail delivery record; nil before it is claimed.
func emailRecord(t testing.TB, name string) *v1alpha1.NotificationStatus {
	t.Helper()
	rr, err := tryGet(name)
	if err != nil {
		return nil
	}
	for i := range rr.Status.Notifications {
		if n := &rr.Status.Notifications[i]; n.Channel == v1alpha1.ChannelEmail {
			return n
		}
	}
	return nil
}

// mailsTo lists the mails mailpit received for addr.
func mailsTo(t testing.TB, addr string) []testsupport.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := stack.Mail.Messages(ctx)
	if err != nil {
		t.Fatalf("read the mails: %v", err)
	}
	var out []testsupport.Message
	for _, m := range all {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// restartOnce returns a function that restarts a server the test stopped,
// the first time it is called; it also runs at cleanup, so whatever
// happens the next test finds the server up.
func restartOnce(t *testing.T, what string, restart func(context.Context) error) func() {
	var once sync.Once
	f := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := restart(ctx); err != nil {
				t.Fatalf("restart %s: %v", what, err)
			}
		})
	}
	t.Cleanup(f)
	return f
}

// checkGivesUp checks a report that ran out of retries while outage (the
// server the test stopped) was down: Failed, its message mentioning
// mention, no result, never Completed on the way. It returns the report.
func checkGivesUp(t *testing.T, watched *requestWatch, name string, timeout time.Duration, outage, mention string) *v1alpha1.ReportRequest {
	t.Helper()
	rr := waitFinished(t, timeout, name)
	if rr.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("want Failed while %s is down, got %s", outage, describe(rr))
	}
	t.Logf("error message: %s", rr.Status.ErrorMessage)
	if msg := rr.Status.ErrorMessage; !strings.Contains(msg, mention) {
		t.Errorf("the error message %q does not mention %q, the trouble with %s", msg, mention, outage)
	}
	if rr.Status.Result != nil {
		t.Errorf("a failed report has a result: %+v", rr.Status.Result)
	}
	neverCompletedPartially(t, watched.history(name))
	return rr
}

// checkCompletedLikePsql checks a report that outlived a fault, Completed
// after what (the retry, the server's return): equal to psql's export,
// one Job, never Completed early. It returns the report.
func checkCompletedLikePsql(t *testing.T, watched *requestWatch, name, after string) *v1alpha1.ReportRequest {
	t.Helper()
	rr := waitFinished(t, 2*time.Minute, name)
	if rr.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("want Completed after %s, got %s", after, describe(rr))
	}
	checkAgainstPsql(t, rr)
	watched.checkOneJob(t, rr)
	neverCompletedPartially(t, watched.history(name))
	return rr
}
