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

package facade_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/facade"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// The facade's tests run it in-process on loopback against a real
// kube-apiserver (envtest) with the CRDs and the admission policy of
// config/policy installed, and a real S3 server (versitygw) or a real
// directory. The facade talks to the API server as its ServiceAccount,
// with only the RBAC it needs. No manager runs: the tests play the
// manager's part by writing ReportRequest status themselves.

// facadeUser is the facade's ServiceAccount identity, trusted by the policy.
const facadeUser = "system:serviceaccount:reportd-system:reportd-facade"

var (
	env      *envtest.Environment
	admin    client.Client
	adminCfg *rest.Config
	// facadeCfg authenticates as facadeUser.
	facadeCfg *rest.Config
	s3srv     *testsupport.S3
	tokens    *auth.TokenFile
)

// Tokens of the token file every harness uses.
const (
	aliceToken   = "alice-token-0123456789"
	bobToken     = "bob-token-0123456789"
	carolToken   = "carol-token-0123456789"
	malloryToken = "mallory-token-0123456789"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// A fuzzing worker runs only the fuzz target it is given, and the fuzz
	// targets here need no cluster: do not start one per worker.
	if worker := flag.Lookup("test.fuzzworker"); worker != nil && worker.Value.String() == "true" {
		os.Exit(m.Run())
	}
	os.Exit(runSuite(m))
}

// runSuite starts the API server and the S3 server once for the package.
func runSuite(m *testing.M) int {
	// controller-runtime's own logs are not what these tests read.
	log.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	env, adminCfg, err = testsupport.StartEnvtest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if err := setUpCluster(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s3srv, err = testsupport.StartS3(ctx, testsupport.S3Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the S3 server:", err)
		return 1
	}
	defer func() { _ = s3srv.Stop() }()
	if tokens, err = writeTokenFile(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// setUpCluster makes the admin client, installs the admission policy and
// gives the facade's identity its RBAC.
func setUpCluster(ctx context.Context) error {
	adminCfg.QPS, adminCfg.Burst = 500, 1000
	var err error
	if admin, err = client.New(adminCfg, client.Options{Scheme: testsupport.Scheme()}); err != nil {
		return err
	}
	if err := applyYAML(ctx, filepath.Join(repoRoot(), "config", "policy", "requester_policy.yaml")); err != nil {
		return fmt.Errorf("installing the admission policy: %w", err)
	}
	if err := grant(ctx, "reportd-facade", facadeUser, facadeRules()); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: facadeUser, Groups: []string{"system:serviceaccounts"}}, adminCfg)
	if err != nil {
		return err
	}
	facadeCfg = user.Config()
	facadeCfg.QPS, facadeCfg.Burst = 500, 1000
	return nil
}

// facadeRules is the least RBAC the facade needs in its namespace.
func facadeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"reportrequests"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"reportdefinitions"}, Verbs: []string{"get", "list", "watch"}},
	}
}

// grant gives user the rules cluster-wide through a ClusterRole of name.
func grant(ctx context.Context, name, user string, rules []rbacv1.PolicyRule) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("granting %s: %w", name, err)
		}
	}
	return nil
}

// applyYAML creates every object of a multi-document YAML file.
func applyYAML(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := admin.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
}

// repoRoot finds the source tree's root.
func repoRoot() string {
	root, err := testsupport.RepoRoot()
	if err != nil {
		panic(err)
	}
	return root
}

// writeTokenFile writes and loads the users' token file.
func writeTokenFile() (*auth.TokenFile, error) {
	dir, err := os.MkdirTemp("", "reportd-facade-tokens-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "tokens.csv")
	content := "# token,user,email\n" +
		aliceToken + ",alice,alice@example.com\n" +
		bobToken + ",bob,bob@example.com\n" +
		carolToken + ",carol,\n" +
		malloryToken + ",mallory,mallory@example.com\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return nil, err
	}
	return auth.LoadTokenFile(path)
}

// harness is one facade serving one namespace over loopback HTTP.
type harness struct {
	t        *testing.T
	ns       string
	url      string
	store    storage.Store
	reg      *prometheus.Registry
	logs     *logBuffer
	liveGets *atomic.Int64
	clock    *testClock
	srv      *facade.Server
}

// harnessOptions vary a harness.
type harnessOptions struct {
	// ns is an existing namespace to serve (a second replica); a new one
	// with the report types when empty.
	ns string
	// fileStore uses file storage instead of S3.
	fileStore bool
	// store is a store to share with another replica.
	store storage.Store
	// auth replaces the token file.
	auth auth.Authenticator
	// limits, heartbeat and writeTimeout go to the facade and its server.
	limits       facade.Limits
	heartbeat    time.Duration
	writeTimeout time.Duration
	// emptyCache makes the cache hold no ReportRequests, so every read
	// misses it.
	emptyCache bool
	publicURL  string
}

// newHarness starts a facade for a test; everything stops when it ends.
func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, ns: o.ns, reg: prometheus.NewRegistry(), logs: &logBuffer{}, liveGets: &atomic.Int64{}, clock: &testClock{}}
	if h.ns == "" {
		h.ns = newNamespace(t)
		h.createDefinitions()
	}
	h.store = o.store
	if h.store == nil {
		h.store = newStore(t, o.fileStore)
	}
	reader, c, err := h.startCache(ctx, o.emptyCache)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	authn := o.auth
	if authn == nil {
		authn = &auth.Bearer{Tokens: tokens}
	}
	srv, err := facade.New(ctx, facade.Options{
		Client: c, APIReader: h.liveReader(t), Informers: reader, Namespace: h.ns,
		Store: h.store, Authenticator: authn, PublicURL: o.publicURL, Limits: o.limits,
		Registerer: h.reg, Logger: funcr.NewJSON(h.logs.write, funcr.Options{}),
		Heartbeat: o.heartbeat, Now: h.clock.now,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h.srv = srv
	h.serve(ctx, cancel, srv.Handler(), o.writeTimeout)
	return h
}

// startCache starts a controller-runtime cache of the namespace with the
// facade's indexes, and a client reading from it, as the manager has.
func (h *harness) startCache(ctx context.Context, empty bool) (cache.Cache, client.Client, error) {
	opts := cache.Options{Scheme: testsupport.Scheme(), DefaultNamespaces: map[string]cache.Config{h.ns: {}}}
	if empty {
		opts.ByObject = map[client.Object]cache.ByObject{
			&v1alpha1.ReportRequest{}: {Label: labels.SelectorFromSet(labels.Set{"reportd.test/never": "true"})},
		}
	}
	c, err := cache.New(facadeCfg, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := facade.IndexFields(ctx, c); err != nil {
		return nil, nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, nil, fmt.Errorf("the cache did not sync")
	}
	cl, err := client.New(facadeCfg, client.Options{Scheme: testsupport.Scheme(), Cache: &client.CacheOptions{Reader: c}})
	return c, cl, err
}

// liveReader reads from the API server directly and counts its GETs of
// ReportRequests, so tests can tell cache hits from live reads.
func (h *harness) liveReader(t *testing.T) client.Reader {
	cfg := rest.CopyConfig(facadeCfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/reportrequests/") {
				h.liveGets.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	c, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip implements http.RoundTripper.
func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// serve runs the facade's HTTP server on a loopback port until the test ends.
func (h *harness) serve(ctx context.Context, cancel context.CancelFunc, handler http.Handler, writeTimeout time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		done <- (&facade.HTTPServer{Handler: handler, Listener: ln, WriteTimeout: writeTimeout, ShutdownTimeout: 5 * time.Second}).Start(ctx)
	}()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("facade server: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Error("the facade server did not stop within 10 s")
		}
	})
}

// newNamespace creates a namespace for one test (envtest cannot delete
// namespaces; they go with the API server).
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "facade-"}}
	if err := admin.Create(testContext(t), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newStore returns an S3 store with a prefix of its own, or file storage.
func newStore(t *testing.T, file bool) storage.Store {
	t.Helper()
	cfg := storage.Config{URL: "file://" + t.TempDir()}
	if !file {
		cfg = storage.Config{
			URL:      "s3://" + s3srv.Bucket + "/" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")),
			Endpoint: s3srv.Endpoint, Region: s3srv.Region, PathStyle: true,
			AccessKey: s3srv.AccessKey, SecretKey: s3srv.SecretKey,
		}
	}
	store, err := storage.New(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// testContext is a context bounded to 30 s, cancelled when the test ends.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testClock is the facade's clock, which tests may move forward.
type testClock struct{ offset atomic.Int64 }

// now returns the real time plus the offset.
func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock forward.
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// logBuffer collects the facade's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

// write is a funcr JSON output function: one JSON object per line.
func (b *logBuffer) write(obj string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, obj)
}

// all returns the lines so far.
func (b *logBuffer) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request sends an HTTP request to the facade. headers are name, value pairs.
func (h *harness) request(method, path, token, body string, headers ...string) *response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testContext(h.t), method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(h.t, noRedirects, req)
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends req and reads the whole answer.
func do(t *testing.T, c *http.Client, req *http.Request) *response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}
}

// decode reads the JSON body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// expect fails the test unless the status is want.
func (r *response) expect(t *testing.T, want int) *response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

// report decodes a Report.
func (r *response) report(t *testing.T) facade.Report {
	t.Helper()
	var rep facade.Report
	r.decode(t, &rep)
	return rep
}

// salesBody is a valid request for the sales report.
const salesBody = `{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}}`

// create requests a report and expects 202.
func (h *harness) create(token, body string, headers ...string) facade.Report {
	h.t.Helper()
	return h.request(http.MethodPost, "/api/v1/reports", token, body, headers...).expect(h.t, http.StatusAccepted).report(h.t)
}

// createDefinitions installs the report types the tests request.
func (h *harness) createDefinitions() {
	h.t.Helper()
	ctx := testContext(h.t)
	for _, def := range []*v1alpha1.ReportDefinition{salesDefinition(h.ns), inventoryDefinition(h.ns)} {
		if err := admin.Create(ctx, def); err != nil {
			h.t.Fatal(err)
		}
	}
}

// salesQuery is the sales type's SQL, which the API must never show.
const salesQuery = `SELECT created_at AS "Date", id AS "OrderId" FROM orders WHERE created_at >= @startDate AND created_at < @endDate + interval '1 day' ORDER BY created_at`

// salesDefinition: two required dates, a rule, csv and jsonl only.
func salesDefinition(ns string) *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales"},
		Spec: v1alpha1.ReportDefinitionSpec{
			Description: "Orders between two days",
			Query:       salesQuery,
			Parameters: []v1alpha1.ReportParameter{
				{Name: "startDate", Type: v1alpha1.ParameterDate, Required: true, Description: "first day"},
				{Name: "endDate", Type: v1alpha1.ParameterDate, Required: true, Description: "last day"},
			},
			Rules:   []v1alpha1.ReportRule{{Expression: "params.startDate <= params.endDate", Message: "startDate must not be after endDate"}},
			Formats: []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatJSONL},
		},
	}
}

// inventoryDefinition: one optional boolean, every format.
func inventoryDefinition(ns string) *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inventory"},
		Spec: v1alpha1.ReportDefinitionSpec{
			Query:      "SELECT id, sku FROM products WHERE NOT @onlyBelowReorder OR stock < reorder_level",
			Parameters: []v1alpha1.ReportParameter{{Name: "onlyBelowReorder", Type: v1alpha1.ParameterBoolean, Default: ptr("false")}},
		},
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// get reads a ReportRequest as the admin.
func (h *harness) get(name string) *v1alpha1.ReportRequest {
	h.t.Helper()
	rr := &v1alpha1.ReportRequest{}
	if err := admin.Get(testContext(h.t), client.ObjectKey{Namespace: h.ns, Name: name}, rr); err != nil {
		h.t.Fatal(err)
	}
	return rr
}

// count is how many ReportRequests the namespace has, read live.
func (h *harness) count() int {
	h.t.Helper()
	var list v1alpha1.ReportRequestList
	if err := admin.List(testContext(h.t), &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	return len(list.Items)
}

// setStatus plays the manager: it patches a report's status.
func (h *harness) setStatus(name string, edit func(*v1alpha1.ReportRequestStatus)) {
	h.t.Helper()
	rr := h.get(name)
	patch := client.MergeFrom(rr.DeepCopy())
	edit(&rr.Status)
	if err := admin.Status().Patch(testContext(h.t), rr, patch); err != nil {
		h.t.Fatal(err)
	}
}

// complete stores content as the report's file and marks it Completed,
// as the generator and the manager would.
func (h *harness) complete(name, content string) {
	h.t.Helper()
	rr := h.get(name)
	format := rr.Spec.Format
	key := storage.ReportKey(h.ns, name, rr.UID, format)
	info, err := h.store.Put(testContext(h.t), key, strings.NewReader(content), storage.PutOptions{ContentType: "text/csv; charset=utf-8"})
	if err != nil {
		h.t.Fatal(err)
	}
	now := metav1.Now()
	h.setStatus(name, func(st *v1alpha1.ReportRequestStatus) {
		st.Phase, st.Progress, st.Rows, st.CompletedAt = v1alpha1.PhaseCompleted, 100, 2, &now
		st.Result = &v1alpha1.ReportResult{URL: h.store.URI(key), Size: info.Size, Rows: 2, SHA256: "abc123", ContentType: "text/csv; charset=utf-8"}
	})
}

// eventually polls cond every 50 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseEvent is one server-sent event, or a comment (a heartbeat).
type sseEvent struct {
	name    string
	data    string
	comment bool
}

// eventStream reads a server-sent event stream in the background.
type eventStream struct {
	resp   *http.Response
	events chan sseEvent
}

// openEvents opens an event stream and checks its headers.
func (h *harness) openEvents(path, token string) *eventStream {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("event stream %s: status %d: %s", path, resp.StatusCode, body)
	}
	s := &eventStream{resp: resp, events: make(chan sseEvent, 100)}
	go s.read()
	return s
}

// read parses the stream into events until it ends.
func (s *eventStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.comment {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.comment = true
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// next returns the next event that is not a heartbeat.
func (s *eventStream) next(t *testing.T) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if !ev.comment {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

// nextReport returns the next event, which must be a report.
func (s *eventStream) nextReport(t *testing.T) facade.Report {
	t.Helper()
	ev := s.next(t)
	if ev.name != facade.EventReport {
		t.Fatalf("got event %q (%s), want %q", ev.name, ev.data, facade.EventReport)
	}
	var rep facade.Report
	if err := json.Unmarshal([]byte(ev.data), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}
