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

package generator_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// wideQuery returns 20,000 rows of about 1 KB, with no parameters.
const wideQuery = `SELECT i AS "N", repeat('x', 1000) AS "Pad" FROM generate_series(1, 20000) i`

// salesStart and salesEnd are the dates the tests ask for: about a quarter
// of the sample orders, hard customer names included.
const (
	salesStart = "2024-03-01"
	salesEnd   = "2024-08-31"
)

// harness holds the servers every test shares: starting the API server
// and installing CRDs costs seconds, so TestRun starts them once.
type harness struct {
	env     *envtest.Environment
	rest    *rest.Config
	k8s     client.WithWatch
	pg      *testsupport.Postgres
	s3      *testsupport.S3
	s3Store storage.Store
}

func TestRun(t *testing.T) {
	h := newHarness(t)
	t.Run("csv on S3 equals COPY, with a matching result and rising progress", h.testCSVOnS3)
	t.Run("a retry aborts the upload its killed attempt left", h.testRetryAbortsKilledAttemptsUpload)
	t.Run("KeyRange progress and file storage", h.testKeyRangeOnFileStorage)
	t.Run("KeyRange without its key column still completes", h.testKeyRangeFallback)
	t.Run("csv.gz is the gzip of the CSV", h.testCSVGzip)
	t.Run("bad parameters fail permanently and name the parameter", h.testBadParameters)
	t.Run("more rows than maxRows fail permanently and store nothing", h.testMaxRows)
	t.Run("an unknown report type fails permanently", h.testUnknownType)
	t.Run("a query the database refuses fails permanently", h.testRefusedQuery)
	t.Run("an unreachable database is worth a retry", h.testUnreachableDatabase)
	t.Run("a format the definition does not allow fails permanently", h.testFormatNotAllowed)
	t.Run("a SQL-looking parameter is bound, not spliced", h.testSQLLookingParameter)
	t.Run("the reportd generate process", h.testProcess)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{}
	h.env, h.rest = testsupport.NewEnvtest(t)
	var err error
	if h.k8s, err = client.NewWithWatch(h.rest, client.Options{Scheme: testsupport.Scheme()}); err != nil {
		t.Fatal(err)
	}
	h.pg = testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &sampledata.Sizes{Orders: 40_000}})
	h.s3 = testsupport.NewS3(t, testsupport.S3Options{})
	h.s3Store = h.newS3Store(t)
	return h
}

// newS3Store opens the S3 server as the generator would.
func (h *harness) newS3Store(t *testing.T) storage.Store {
	t.Helper()
	store, err := storage.New(context.Background(), h.s3Config())
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// s3Config is the storage configuration of the test S3 server.
func (h *harness) s3Config() storage.Config {
	return storage.Config{
		URL: "s3://" + h.s3.Bucket + "/reports", Endpoint: h.s3.Endpoint, Region: h.s3.Region,
		PathStyle: true, AccessKey: h.s3.AccessKey, SecretKey: h.s3.SecretKey, PartSize: 5 << 20,
	}
}

// report is one scenario: the objects created and what Run did.
type report struct {
	namespace  string
	definition *v1alpha1.ReportDefinition
	request    *v1alpha1.ReportRequest
	job        *batchv1.Job
	pod        string
	key        string
	termLog    string
}

// newReport creates a namespace, the definition, the request and a Job.
func (h *harness) newReport(t *testing.T, def *v1alpha1.ReportDefinition, req *v1alpha1.ReportRequest) *report {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
	if err := h.k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	r := &report{namespace: ns.Name, definition: def, request: req, pod: req.Name + "-job-pod1",
		termLog: filepath.Join(t.TempDir(), "termination-log")}
	def.Namespace, req.Namespace = ns.Name, ns.Name
	for _, obj := range []client.Object{def, req} {
		if err := h.k8s.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}
	r.job = minimalJob(ns.Name, req.Name+"-job")
	if err := h.k8s.Create(ctx, r.job); err != nil {
		t.Fatalf("creating the Job: %v", err)
	}
	r.key = storage.ReportKey(ns.Name, req.Name, req.UID, req.Spec.Format)
	return r
}

// config is the generator's configuration for r.
func (h *harness) config(r *report, store storage.Store) generator.Config {
	return generator.Config{
		Client: h.k8s, Namespace: r.namespace, RequestName: r.request.Name, JobName: r.job.Name,
		PodName: r.pod, Store: store, DatasourceURL: h.pg.ReaderURL,
		ProgressInterval: 20 * time.Millisecond, TerminationLog: r.termLog,
	}
}

// run runs the generator in-process while recording the Job's annotations.
func (h *harness) run(t *testing.T, r *report, cfg generator.Config) (*jobHistory, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	history := h.watchJob(t, r)
	err := generator.Run(ctx, cfg)
	history.stop(t, h, r)
	return history, err
}

func (h *harness) testCSVOnS3(t *testing.T) {
	def := salesDefinition(t)
	def.Spec.Progress = &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressCount}
	r := h.newReport(t, def, salesRequest("sales-csv", v1alpha1.FormatCSV))
	history, err := h.run(t, r, h.config(r, h.s3Store))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := h.object(t, h.s3Store, r.key)
	want, rows := h.copyCSV(t)
	if !bytes.Equal(got, want) {
		t.Errorf("the stored CSV (%d bytes) differs from COPY's (%d bytes):\n%s", len(got), len(want), firstDifference(got, want))
	}
	h.checkResult(t, r, history, h.s3Store, got, rows, "text/csv; charset=utf-8")
	history.checkProgress(t, r.pod, rows)
	if left := h.openUploads(t); len(left) != 0 {
		t.Errorf("unfinished uploads after success: %v", left)
	}
}

func (h *harness) testRetryAbortsKilledAttemptsUpload(t *testing.T) {
	r := h.newReport(t, salesDefinition(t), salesRequest("sales-retried", v1alpha1.FormatCSV))
	// What attempt 1, killed mid-upload, left: an open multipart upload of
	// the report's key, with a part in it (the process subtest's
	// testKilledMidUpload shows a SIGKILLed generator leaves one).
	ctx := context.Background()
	fullKey := "reports/" + r.key
	left, err := h.s3.Client().CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &h.s3.Bucket, Key: &fullKey})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	if _, err := h.s3.Client().UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &h.s3.Bucket, Key: &fullKey, UploadId: left.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(bytes.Repeat([]byte("x"), 5<<20)),
	}); err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	r.pod = r.request.Name + "-job-pod2"
	if _, err := h.run(t, r, h.config(r, h.s3Store)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want, _ := h.copyCSV(t)
	if got := h.object(t, h.s3Store, r.key); !bytes.Equal(got, want) {
		t.Errorf("the retry's CSV (%d bytes) differs from COPY's (%d bytes)", len(got), len(want))
	}
	if uploads := h.openUploads(t); len(uploads) != 0 {
		t.Errorf("unfinished uploads after the retry: %v; want the killed attempt's aborted", uploads)
	}
}

func (h *harness) testKeyRangeOnFileStorage(t *testing.T) {
	store, err := storage.New(context.Background(), storage.Config{URL: "file://" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	def := salesDefinition(t)
	if def.Spec.Progress == nil || def.Spec.Progress.Mode != v1alpha1.ProgressKeyRange {
		t.Fatalf("the sales sample's progress is %+v; this test wants its KeyRange", def.Spec.Progress)
	}
	r := h.newReport(t, def, salesRequest("sales-keyrange", v1alpha1.FormatCSV))
	cfg := h.config(r, store)
	cfg.ProgressInterval = 5 * time.Millisecond
	history, err := h.run(t, r, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := h.object(t, store, r.key)
	want, rows := h.copyCSV(t)
	if !bytes.Equal(got, want) {
		t.Errorf("the stored CSV differs from COPY's:\n%s", firstDifference(got, want))
	}
	h.checkResult(t, r, history, store, got, rows, "text/csv; charset=utf-8")
	history.checkProgress(t, r.pod, rows)
}

func (h *harness) testKeyRangeFallback(t *testing.T) {
	def := salesDefinition(t)
	def.Spec.Progress.KeyColumn = "NoSuchColumn"
	r := h.newReport(t, def, salesRequest("sales-no-key", v1alpha1.FormatJSONL))
	history, err := h.run(t, r, h.config(r, h.s3Store))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored := h.object(t, h.s3Store, r.key)
	_, rows := h.copyCSV(t)
	if lines := int64(bytes.Count(stored, []byte("\n"))); lines != rows {
		t.Errorf("the JSON Lines file has %d lines; want %d", lines, rows)
	}
	h.checkResult(t, r, history, h.s3Store, stored, rows, "application/jsonl; charset=utf-8")
	history.checkProgress(t, r.pod, rows)
	for _, p := range history.progress {
		if p.Value != 0 && p.Value != 100 {
			t.Errorf("progress %d without a key column to measure it", p.Value)
		}
	}
}

func (h *harness) testCSVGzip(t *testing.T) {
	r := h.newReport(t, salesDefinition(t), salesRequest("sales-gz", v1alpha1.FormatCSVGz))
	history, err := h.run(t, r, h.config(r, h.s3Store))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored := h.object(t, h.s3Store, r.key)
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		t.Fatalf("the stored file is not gzip: %v", err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	want, rows := h.copyCSV(t)
	if !bytes.Equal(got, want) {
		t.Errorf("the gunzipped CSV differs from COPY's:\n%s", firstDifference(got, want))
	}
	h.checkResult(t, r, history, h.s3Store, stored, rows, "application/gzip")
}

func (h *harness) testBadParameters(t *testing.T) {
	req := salesRequest("sales-bad-params", v1alpha1.FormatCSV)
	req.Spec.Parameters["startDate"] = "2024-02-30"
	r := h.newReport(t, salesDefinition(t), req)
	history, err := h.run(t, r, h.config(r, h.s3Store))
	msg := h.checkFailure(t, r, history, err, true)
	if !strings.Contains(msg, `"startDate"`) {
		t.Errorf("the error %q does not name the parameter startDate", msg)
	}
}

func (h *harness) testMaxRows(t *testing.T) {
	cases := map[string]struct {
		mode    v1alpha1.ProgressMode
		query   string // the sales query when empty
		maxRows int64
	}{
		// The count, in the same snapshot, fails the report before any row is written.
		"counted first": {v1alpha1.ProgressCount, "", 100},
		// Without a count the limit strikes while streaming, after about
		// 10 MB went into a multipart upload, which must then be aborted.
		"while uploading": {v1alpha1.ProgressNone, wideQuery, 10_000},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			def := salesDefinition(t)
			if c.query != "" {
				def.Spec.Query, def.Spec.Parameters, def.Spec.Rules = c.query, nil, nil
			}
			def.Spec.MaxRows = ptr.To(c.maxRows)
			def.Spec.Progress = &v1alpha1.ProgressEstimate{Mode: c.mode}
			req := salesRequest("maxrows-"+strings.ReplaceAll(name, " ", "-"), v1alpha1.FormatCSV)
			if c.query != "" {
				req.Spec.Parameters = nil
			}
			r := h.newReport(t, def, req)
			history, err := h.run(t, r, h.config(r, h.s3Store))
			msg := h.checkFailure(t, r, history, err, true)
			if want := fmt.Sprintf("more than %d rows (maxRows)", c.maxRows); !strings.Contains(msg, want) {
				t.Errorf("the error %q does not say the report has %s", msg, want)
			}
		})
	}
}

// sqlLooking is a string parameter value that would drop the orders table
// if it were ever spliced into the query's text.
const sqlLooking = "'; DROP TABLE orders; --"

func (h *harness) testSQLLookingParameter(t *testing.T) {
	ctx := context.Background()
	before := h.countOrders(t, ctx)
	def := salesDefinition(t)
	def.Spec.Query = `SELECT @customer::text AS "Asked", count(*) AS "Matching" FROM orders WHERE customer_name = @customer`
	def.Spec.Parameters = []v1alpha1.ReportParameter{{Name: "customer", Type: v1alpha1.ParameterString, Required: true}}
	def.Spec.Rules = nil
	def.Spec.Progress = &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressNone}
	req := salesRequest("sales-sql-looking", v1alpha1.FormatCSV)
	req.Spec.Parameters = map[string]v1alpha1.ParameterValue{"customer": sqlLooking}
	r := h.newReport(t, def, req)
	if _, err := h.run(t, r, h.config(r, h.s3Store)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The value reached PostgreSQL as one text value: it came back whole
	// and matched no customer.
	if got, want := string(h.object(t, h.s3Store, r.key)), "Asked,Matching\n"+sqlLooking+",0\n"; got != want {
		t.Errorf("the report is %q, want %q", got, want)
	}
	if after := h.countOrders(t, ctx); after != before || after == 0 {
		t.Errorf("orders: %d rows before the report, %d after", before, after)
	}
}

// countOrders counts the sample orders as the database owner.
func (h *harness) countOrders(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx, h.pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("counting orders: %v", err)
	}
	return n
}

func (h *harness) testUnknownType(t *testing.T) {
	req := salesRequest("sales-unknown", v1alpha1.FormatCSV)
	req.Spec.Type = "no-such-report"
	r := h.newReport(t, salesDefinition(t), req)
	history, err := h.run(t, r, h.config(r, h.s3Store))
	if msg := h.checkFailure(t, r, history, err, true); !strings.Contains(msg, `"no-such-report"`) {
		t.Errorf("the error %q does not name the unknown type", msg)
	}
}

func (h *harness) testRefusedQuery(t *testing.T) {
	def := salesDefinition(t)
	def.Spec.Query = strings.Replace(def.Spec.Query, "o.status", "o.no_such_column", 1)
	r := h.newReport(t, def, salesRequest("sales-refused", v1alpha1.FormatCSV))
	history, err := h.run(t, r, h.config(r, h.s3Store))
	msg := h.checkFailure(t, r, history, err, true)
	if !strings.Contains(msg, "the database refused the query") || !strings.Contains(msg, "SQLSTATE 42703") {
		t.Errorf("the error %q does not quote the database's refusal", msg)
	}
}

func (h *harness) testUnreachableDatabase(t *testing.T) {
	r := h.newReport(t, salesDefinition(t), salesRequest("sales-nodb", v1alpha1.FormatCSV))
	cfg := h.config(r, h.s3Store)
	port, err := testsupport.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatasourceURL = fmt.Sprintf("postgres://nobody@127.0.0.1:%d/reportd?sslmode=disable&connect_timeout=5", port)
	history, err := h.run(t, r, cfg)
	if msg := h.checkFailure(t, r, history, err, false); !strings.Contains(msg, "could not reach the database") {
		t.Errorf("the error %q does not say the database could not be reached", msg)
	}
}

func (h *harness) testFormatNotAllowed(t *testing.T) {
	def := salesDefinition(t)
	def.Spec.Formats = []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatCSVGz}
	r := h.newReport(t, def, salesRequest("sales-xlsx", v1alpha1.FormatXLSX))
	history, err := h.run(t, r, h.config(r, h.s3Store))
	if msg := h.checkFailure(t, r, history, err, true); !strings.Contains(msg, `format "xlsx" is not allowed`) {
		t.Errorf("the error %q does not name the refused format", msg)
	}
}

// checkFailure checks what a user sees of a failed run: the exit code,
// the Job's error annotation, the termination message, and no file. It
// returns the message.
func (h *harness) checkFailure(t *testing.T, r *report, history *jobHistory, err error, permanent bool) string {
	t.Helper()
	wantCode := 1
	if permanent {
		wantCode = v1alpha1.ExitPermanent
	}
	if code := generator.ExitCode(err); code != wantCode {
		t.Errorf("exit code %d (error %v); want %d", code, err, wantCode)
	}
	var ann v1alpha1.ErrorAnnotation
	if ok, decodeErr := v1alpha1.DecodeAnnotation(history.final, v1alpha1.AnnotationError, &ann); !ok || decodeErr != nil {
		t.Fatalf("no readable error annotation on the Job (%v): %v", decodeErr, history.final)
	}
	if ann.Attempt != r.pod || ann.Permanent != permanent || ann.Message == "" || ann.Message != err.Error() {
		t.Errorf("error annotation %+v; want attempt %s, permanent %v and the message %q", ann, r.pod, permanent, err)
	}
	if termination, readErr := os.ReadFile(r.termLog); readErr != nil || string(termination) != ann.Message {
		t.Errorf("termination message %q (%v); want %q", termination, readErr, ann.Message)
	}
	if _, ok := history.final[v1alpha1.AnnotationResult]; ok {
		t.Errorf("a failed run wrote a result: %s", history.final[v1alpha1.AnnotationResult])
	}
	if _, headErr := h.s3Store.Head(context.Background(), r.key); !errors.Is(headErr, storage.ErrNotFound) {
		t.Errorf("Head(%s) after a failure = %v; want ErrNotFound", r.key, headErr)
	}
	if left := h.openUploads(t); len(left) != 0 {
		t.Errorf("unfinished uploads after a failure: %v", left)
	}
	return ann.Message
}

// checkResult compares the result annotation with the stored object.
func (h *harness) checkResult(t *testing.T, r *report, history *jobHistory, store storage.Store, stored []byte, rows int64, contentType string) {
	t.Helper()
	var res v1alpha1.ResultAnnotation
	if ok, err := v1alpha1.DecodeAnnotation(history.final, v1alpha1.AnnotationResult, &res); !ok || err != nil {
		t.Fatalf("no readable result annotation (%v): %v", err, history.final)
	}
	sum := sha256.Sum256(stored)
	want := v1alpha1.ResultAnnotation{
		Version: v1alpha1.ResultFormatVersion, Attempt: r.pod, Key: r.key, URL: store.URI(r.key),
		Size: int64(len(stored)), Rows: rows, SHA256: hex.EncodeToString(sum[:]), ContentType: contentType,
	}
	if res != want {
		t.Errorf("result annotation\n got %+v\nwant %+v", res, want)
	}
	head, err := store.Head(context.Background(), r.key)
	if err != nil || head.Size != res.Size {
		t.Errorf("Head = %+v, %v; want the result's size %d", head, err, res.Size)
	}
	if _, ok := history.final[v1alpha1.AnnotationError]; ok {
		t.Errorf("a successful run wrote an error: %s", history.final[v1alpha1.AnnotationError])
	}
}

// object reads a stored object whole.
func (h *harness) object(t *testing.T, store storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := store.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// copyCSV returns what PostgreSQL's COPY ... CSV HEADER writes for the
// sales sample's query with the tests' dates, and the number of rows. Text cells a
// spreadsheet would run as a formula are neutralised in the query itself
// (a leading apostrophe), as reportd neutralises them; COPY quotes the
// result as it quotes any value.
func (h *harness) copyCSV(t *testing.T) ([]byte, int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	inner := strings.NewReplacer(
		"@startDate", "'"+salesStart+" 00:00:00+00'::timestamptz",
		"@endDate", "'"+salesEnd+" 00:00:00+00'",
	).Replace(salesDefinition(t).Spec.Query)
	neutral := func(col string) string {
		return fmt.Sprintf(`CASE WHEN left(%[1]s, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || %[1]s ELSE %[1]s END AS %[1]s`, col)
	}
	query := `COPY (SELECT "Date", "OrderId", ` + neutral(`"Customer"`) + `, "Amount", ` + neutral(`"Status"`) +
		` FROM (` + inner + `) q ORDER BY "Date", "OrderId") TO STDOUT WITH (FORMAT csv, HEADER)`
	var buf bytes.Buffer
	tag, err := conn.PgConn().CopyTo(ctx, &buf, query)
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if tag.RowsAffected() < 1000 {
		t.Fatalf("COPY returned only %d rows: the test dates select too little", tag.RowsAffected())
	}
	return buf.Bytes(), tag.RowsAffected()
}

// openUploads lists unfinished multipart uploads in the test bucket.
func (h *harness) openUploads(t *testing.T) []string {
	t.Helper()
	out, err := h.s3.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &h.s3.Bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, *u.Key)
	}
	return keys
}

// jobHistory records the Job's annotations as a watch saw them.
type jobHistory struct {
	mu       sync.Mutex
	watcher  watch.Interface
	done     chan struct{}
	progress []v1alpha1.ProgressAnnotation
	rows     []v1alpha1.ProgressAnnotation
	seenRV   string
	final    map[string]string
}

// watchJob starts recording r's Job.
func (h *harness) watchJob(t *testing.T, r *report) *jobHistory {
	t.Helper()
	w, err := h.k8s.Watch(context.Background(), &batchv1.JobList{}, client.InNamespace(r.namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", r.job.Name)})
	if err != nil {
		t.Fatalf("watching the Job: %v", err)
	}
	history := &jobHistory{watcher: w, done: make(chan struct{})}
	go history.record()
	return history
}

// record appends each new progress and rows value.
func (j *jobHistory) record() {
	defer close(j.done)
	for event := range j.watcher.ResultChan() {
		job, ok := event.Object.(*batchv1.Job)
		if !ok {
			continue
		}
		j.mu.Lock()
		j.seenRV = job.ResourceVersion
		j.final = job.Annotations
		j.progress = appendChanged(j.progress, job.Annotations, v1alpha1.AnnotationProgress)
		j.rows = appendChanged(j.rows, job.Annotations, v1alpha1.AnnotationRows)
		j.mu.Unlock()
	}
}

// appendChanged appends the annotation's value if it differs from the last.
func appendChanged(seen []v1alpha1.ProgressAnnotation, annotations map[string]string, key string) []v1alpha1.ProgressAnnotation {
	var v v1alpha1.ProgressAnnotation
	if ok, err := v1alpha1.DecodeAnnotation(annotations, key, &v); !ok || err != nil {
		return seen
	}
	if len(seen) > 0 && seen[len(seen)-1] == v {
		return seen
	}
	return append(seen, v)
}

// stop waits until the watch has seen the Job as it is now, then ends it.
func (j *jobHistory) stop(t *testing.T, h *harness, r *report) {
	t.Helper()
	var job batchv1.Job
	if err := h.k8s.Get(context.Background(), client.ObjectKeyFromObject(r.job), &job); err != nil {
		t.Fatalf("reading the Job: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j.mu.Lock()
		caughtUp := j.seenRV == job.ResourceVersion
		j.mu.Unlock()
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch never saw resourceVersion %s", job.ResourceVersion)
		}
		time.Sleep(10 * time.Millisecond)
	}
	j.watcher.Stop()
	<-j.done
}

// checkProgress checks that every progress value names the attempt, never
// decreases and ends at 100, and that rows end at the report's rows.
func (j *jobHistory) checkProgress(t *testing.T, pod string, rows int64) {
	t.Helper()
	if len(j.progress) == 0 || j.progress[len(j.progress)-1].Value != 100 {
		t.Fatalf("progress %v does not end at 100", j.progress)
	}
	for i, p := range j.progress {
		if p.Attempt != pod {
			t.Errorf("progress %+v names attempt %q; want %q", p, p.Attempt, pod)
		}
		if i > 0 && p.Value < j.progress[i-1].Value {
			t.Errorf("progress went backwards: %v", j.progress)
		}
	}
	if last := j.rows[len(j.rows)-1]; last.Value != rows || last.Attempt != pod {
		t.Errorf("the last rows annotation is %+v; want %d rows of attempt %s", last, rows, pod)
	}
	t.Logf("progress seen: %v", j.progress)
}

// firstDifference shows where two files first differ.
func firstDifference(got, want []byte) string {
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	from := max(i-80, 0)
	return fmt.Sprintf("at byte %d:\n got %q\nwant %q", i, got[from:min(i+80, len(got))], want[from:min(i+80, len(want))])
}

// salesDefinition is the sales sample from config/samples (KeyRange
// progress); tests change it where they need another setting.
func salesDefinition(t *testing.T) *v1alpha1.ReportDefinition {
	t.Helper()
	root, err := testsupport.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "samples", "reports_v1alpha1_reportdefinition_sales.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def := &v1alpha1.ReportDefinition{}
	if err := yaml.UnmarshalStrict(data, def); err != nil {
		t.Fatalf("reading the sales sample: %v", err)
	}
	return def
}

// salesRequest asks for the sales report between the tests' dates.
func salesRequest(name string, format v1alpha1.ReportFormat) *v1alpha1.ReportRequest {
	return &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ReportRequestSpec{
			Type: "sales", Format: format, RequestedBy: "alice@example.com",
			Parameters: map[string]v1alpha1.ParameterValue{"startDate": salesStart, "endDate": salesEnd},
		},
	}
}

// minimalJob is a Job object for the generator to annotate; nothing runs
// it (envtest has no job controller).
func minimalJob(namespace, name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "generate", Image: "reportd:test"}},
			}},
		},
	}
}
