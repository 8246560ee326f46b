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

package generator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator/encode"
	"reportd.io/reportd/internal/params"
	"reportd.io/reportd/internal/storage"
)

// DefaultTerminationLog is where Kubernetes reads a container's
// termination message by default.
const DefaultTerminationLog = "/dev/termination-log"

// reportTimeoutSlack is cut from the run's deadline for the statement
// timeout, so the database stops the query before the run's own deadline
// and the user is told why.
const reportTimeoutSlack = 5 * time.Second

// writeBufferSize batches encoder output into large pipe writes.
const writeBufferSize = 256 << 10

// Config is what one run of `reportd generate` needs. The Job passes the
// names through the downward API and the datasource URL from its Secret,
// so the generator reads no Secret itself.
type Config struct {
	// Client reads ReportRequests and ReportDefinitions and patches Jobs
	// in Namespace; nothing more is needed.
	Client client.Client
	// Namespace of the request, the definition and the Job.
	Namespace string
	// RequestName is the ReportRequest to generate.
	RequestName string
	// JobName is the Job running this attempt; its annotations carry
	// progress, result and error.
	JobName string
	// PodName names the attempt in every annotation written.
	PodName string
	// Store receives the file.
	Store storage.Store
	// DatasourceURL is the PostgreSQL URL (the definition's Secret, or the
	// manager's default datasource, as the Job resolved it).
	DatasourceURL string
	// ProgressInterval is the least time between progress patches;
	// DefaultProgressInterval when zero.
	ProgressInterval time.Duration
	// TerminationLog is the file receiving the failure message; none when
	// empty (the CLI defaults it to DefaultTerminationLog).
	TerminationLog string
	// Log receives operational messages, never parameter values or rows.
	Log logr.Logger
	// Clock paces progress; the real clock when nil.
	Clock clock.WithTicker
}

// Run generates the report of Config.RequestName: it binds the request's
// parameters, streams the definition's query through the encoder into the
// store, publishes progress on the Job, and, once the file is stored under
// its final key, the result. On failure it writes the reason to the Job and
// the termination log and returns an *Error whose ExitCode the process
// should exit with.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, annotator: &jobAnnotator{
		client: cfg.Client, namespace: cfg.Namespace, job: cfg.JobName, attempt: cfg.PodName,
	}}
	err := cfg.validate()
	if err != nil {
		err = permanent(err, "the generator is misconfigured: %v", err)
	} else {
		err = r.execute(ctx)
	}
	if err != nil {
		r.reportFailure(ctx, err)
		return err
	}
	return nil
}

// withDefaults fills the optional settings.
func (c Config) withDefaults() Config {
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log.GetSink() == nil {
		c.Log = logr.Discard()
	}
	return c
}

// validate names the first missing setting.
func (c Config) validate() error {
	missing := map[string]bool{
		"a Kubernetes client": c.Client == nil, "the namespace": c.Namespace == "",
		"the request name": c.RequestName == "", "the Job name": c.JobName == "",
		"the pod name": c.PodName == "", "the storage": c.Store == nil,
		"the datasource URL": c.DatasourceURL == "",
	}
	var names []string
	for name, isMissing := range missing {
		if isMissing {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return fmt.Errorf("missing %s", strings.Join(names, ", "))
	}
	return nil
}

// run is one attempt's state.
type run struct {
	cfg       Config
	annotator *jobAnnotator
}

// plan is everything decided before the query starts.
type plan struct {
	request    *v1alpha1.ReportRequest
	definition *v1alpha1.ReportDefinition
	format     v1alpha1.ReportFormat
	bound      *params.Bound
	key        string
	timeout    time.Duration // 0: none
	maxRows    int64         // 0: no limit
	mode       v1alpha1.ProgressMode
}

// outcome describes the stored file.
type outcome struct {
	rows   int64
	size   int64
	sha256 string
}

// execute runs the attempt and returns an *Error on failure.
func (r *run) execute(ctx context.Context) error {
	p, err := r.prepare(ctx)
	if err != nil {
		return err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	r.abortEarlierUploads(ctx, p.key)
	tracker := newProgressTracker(r.annotator, r.cfg.ProgressInterval, r.cfg.Clock, r.cfg.Log, p.mode)
	if err := tracker.start(ctx); err != nil {
		return r.classify(ctx, p, err)
	}
	progressCtx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); tracker.run(progressCtx) }()
	out, err := r.produce(ctx, p, tracker)
	stopProgress()
	<-progressDone
	if err != nil {
		return r.classify(ctx, p, err)
	}
	if err := r.publishResult(ctx, p, out); err != nil {
		return r.classify(ctx, p, err)
	}
	r.cfg.Log.Info("Report stored", "key", p.key, "rows", out.rows, "bytes", out.size)
	return nil
}

// abortEarlierUploads aborts what earlier attempts of this report left
// unfinished under its key. They are over: a report Job starts its next
// pod only once the last one has failed (its pod failure policy makes the
// Job's podReplacementPolicy Failed), and an attempt that was killed could
// not abort its own upload, whose parts would otherwise wait for the
// manager's stale-upload sweep. A failure here is logged, not fatal: the
// sweep still catches what is left, and a store may refuse the listing.
func (r *run) abortEarlierUploads(ctx context.Context, key string) {
	n, err := r.cfg.Store.AbortUploads(ctx, key)
	switch {
	case err != nil:
		r.cfg.Log.Error(err, "Could not abort the unfinished uploads of earlier attempts; the stale-upload sweep will", "key", key)
	case n > 0:
		r.cfg.Log.Info("Aborted the unfinished uploads of earlier attempts", "key", key, "uploads", n)
	}
}

// prepare reads the request and its definition and decides the plan;
// every problem found here is permanent, except failing to reach the API.
func (r *run) prepare(ctx context.Context) (*plan, error) {
	req, def, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	p := &plan{request: req, definition: def, format: req.Spec.Format}
	if p.format == "" {
		p.format = v1alpha1.FormatCSV
	}
	if len(def.Spec.Formats) > 0 && !slices.Contains(def.Spec.Formats, p.format) {
		return nil, permanent(nil, "format %q is not allowed for report type %q (allowed: %s)",
			p.format, def.Name, joinFormats(def.Spec.Formats))
	}
	if p.bound, err = params.Bind(&def.Spec, req.Spec.Parameters, req.Spec.TimeZone); err != nil {
		return nil, permanent(err, "%s", err.Error())
	}
	p.key = storage.ReportKey(req.Namespace, req.Name, req.UID, p.format)
	p.timeout = reportTimeout(req, def)
	if def.Spec.MaxRows != nil {
		p.maxRows = *def.Spec.MaxRows
	}
	p.chooseProgress()
	return p, nil
}

// load reads the ReportRequest and its ReportDefinition.
func (r *run) load(ctx context.Context) (*v1alpha1.ReportRequest, *v1alpha1.ReportDefinition, error) {
	req := &v1alpha1.ReportRequest{}
	key := client.ObjectKey{Namespace: r.cfg.Namespace, Name: r.cfg.RequestName}
	if err := r.cfg.Client.Get(ctx, key, req); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, permanent(err, "the ReportRequest %s/%s does not exist (was it deleted?)", key.Namespace, key.Name)
		}
		return nil, nil, transient(err, "could not read the ReportRequest %s/%s: %v", key.Namespace, key.Name, err)
	}
	def := &v1alpha1.ReportDefinition{}
	key.Name = req.Spec.Type
	if err := r.cfg.Client.Get(ctx, key, def); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, permanent(err, "unknown report type %q: there is no ReportDefinition %q in namespace %q",
				req.Spec.Type, req.Spec.Type, req.Namespace)
		}
		return nil, nil, transient(err, "could not read the ReportDefinition %s/%s: %v", key.Namespace, key.Name, err)
	}
	return req, def, nil
}

// joinFormats lists formats for a message.
func joinFormats(formats []v1alpha1.ReportFormat) string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// reportTimeout is the request's timeoutSeconds capped by the definition's
// timeout; 0 when neither sets one (the Job's deadline still applies).
func reportTimeout(req *v1alpha1.ReportRequest, def *v1alpha1.ReportDefinition) time.Duration {
	var timeout time.Duration
	if req.Spec.TimeoutSeconds != nil {
		timeout = time.Duration(*req.Spec.TimeoutSeconds) * time.Second
	}
	if def.Spec.Timeout != nil && def.Spec.Timeout.Duration > 0 &&
		(timeout == 0 || def.Spec.Timeout.Duration < timeout) {
		timeout = def.Spec.Timeout.Duration
	}
	return timeout
}

// statementTimeout leaves the run a little time after the database gives
// up, to store nothing and say why.
func (p *plan) statementTimeout() time.Duration {
	if p.timeout <= 0 {
		return 0
	}
	return max(p.timeout-min(reportTimeoutSlack, p.timeout/10), time.Second)
}

// chooseProgress picks the progress estimate the definition asks for
// (Count by default). KeyRange also needs the key column's index, which
// only the result's columns tell: keyRangeFor completes it.
func (p *plan) chooseProgress() {
	p.mode = v1alpha1.ProgressCount
	if pe := p.definition.Spec.Progress; pe != nil && pe.Mode != "" {
		p.mode = pe.Mode
	}
}

// keyRangeFor builds the KeyRange estimator, and finds its key column,
// once the columns are known. It fails when the key column is missing or
// the range parameters have no usable values (an optional parameter left
// out, say).
func (p *plan) keyRangeFor(cols []encode.Column) (int, estimator, error) {
	pe := p.definition.Spec.Progress
	for _, name := range []string{pe.StartParameter, pe.EndParameter} {
		if _, ok := p.bound.Values[name]; !ok {
			return 0, nil, fmt.Errorf("parameter %q has no value", name)
		}
	}
	column := slices.IndexFunc(cols, func(c encode.Column) bool { return c.Name == pe.KeyColumn })
	if column < 0 {
		return 0, nil, fmt.Errorf("the query has no column %q", pe.KeyColumn)
	}
	endIsDate := false
	for _, param := range p.definition.Spec.Parameters {
		if param.Name == pe.EndParameter {
			endIsDate = param.Type == v1alpha1.ParameterDate
		}
	}
	est, err := keyRangeEstimator(p.bound.Values[pe.StartParameter], p.bound.Values[pe.EndParameter], endIsDate)
	return column, est, err
}

// downloadName is the name a browser saves the report as.
func (p *plan) downloadName() string {
	return p.request.Name + "." + encode.Extension(p.format)
}

// uploadFailed marks the pipe's error when the store gave up first, so
// the run tells a storage failure from a query or encoding failure.
type uploadFailed struct{ err error }

// Error implements error.
func (u *uploadFailed) Error() string { return u.err.Error() }

// Unwrap returns the store's error.
func (u *uploadFailed) Unwrap() error { return u.err }

// produce streams rows -> encoder -> buffer -> digest -> pipe -> store.
// The store makes the object visible only when the pipe closes cleanly;
// closing it with an error aborts the upload.
func (r *run) produce(ctx context.Context, p *plan, tracker *progressTracker) (outcome, error) {
	pr, pw := io.Pipe()
	type putResult struct {
		info storage.ObjectInfo
		err  error
	}
	stored := make(chan putResult, 1)
	go func() {
		info, err := r.cfg.Store.Put(ctx, p.key, pr, storage.PutOptions{
			ContentType: encode.ContentType(p.format), Filename: p.downloadName(),
		})
		if err != nil {
			// Unblock the writer: the store stopped reading.
			_ = pr.CloseWithError(&uploadFailed{err: err})
		}
		stored <- putResult{info: info, err: err}
	}()
	digest := newDigestWriter(pw)
	buffered := bufio.NewWriterSize(digest, writeBufferSize)
	rows, err := r.export(ctx, p, buffered, tracker)
	if err == nil {
		err = buffered.Flush()
	}
	if err != nil {
		_ = pw.CloseWithError(err)
		res := <-stored
		if res.err == nil {
			return outcome{}, fmt.Errorf("the store accepted an incomplete report: %w", err)
		}
		return outcome{}, err
	}
	_ = pw.Close()
	res := <-stored
	if res.err != nil {
		return outcome{}, &uploadFailed{err: res.err}
	}
	if res.info.Size != digest.size {
		return outcome{}, &uploadFailed{err: fmt.Errorf("the store kept %d bytes of %d", res.info.Size, digest.size)}
	}
	return outcome{rows: rows, size: digest.size, sha256: digest.sum()}, nil
}

// errTooManyRows ends a report that exceeds the definition's maxRows.
var errTooManyRows = errors.New("too many rows")

// export runs the query and encodes every row into w; it returns the
// number of rows written.
func (r *run) export(ctx context.Context, p *plan, w io.Writer, tracker *progressTracker) (int64, error) {
	enc, err := encode.New(p.format, w, encode.Options{Location: p.bound.Location})
	if err != nil {
		return 0, permanent(err, "%v", err)
	}
	var rows int64
	err = r.query(ctx, p, Handler{
		Total: func(total int64) error {
			if p.maxRows > 0 && total > p.maxRows {
				return errTooManyRows
			}
			tracker.setTotal(total)
			return nil
		},
		Begin: func(cols []encode.Column) error {
			if p.mode == v1alpha1.ProgressKeyRange {
				// Progress is a courtesy: without it the report still runs,
				// showing rows and 0% until it is done.
				if column, est, err := p.keyRangeFor(cols); err != nil {
					r.cfg.Log.Info("KeyRange progress is unavailable; showing rows only", "reason", err.Error())
				} else {
					tracker.useKeyRange(column, est)
				}
			}
			return enc.Begin(cols)
		},
		Row: func(values [][]byte) error {
			rows++
			if p.maxRows > 0 && rows > p.maxRows {
				return errTooManyRows
			}
			if err := enc.Row(values); err != nil {
				return err
			}
			tracker.row(values)
			return nil
		},
	})
	if err != nil {
		return rows, err
	}
	return rows, enc.Close()
}

// query connects to the datasource and streams the definition's query in
// the report's session (requester, time zone, statement timeout).
func (r *run) query(ctx context.Context, p *plan, h Handler) error {
	conn, err := pgx.Connect(ctx, r.cfg.DatasourceURL)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureReportTimeout)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	q := Query{
		SQL: p.definition.Spec.Query, Params: p.bound.Values, Requester: p.request.Spec.RequestedBy,
		TimeZone: p.bound.TimeZone, StatementTimeout: p.statementTimeout(),
		Count: p.mode == v1alpha1.ProgressCount,
	}
	if ds := p.definition.Spec.Datasource; ds != nil {
		q.ExecMode = ds.QueryExecMode
	}
	_, err = Stream(ctx, conn, q, h)
	return err
}

// publishResult writes the result, progress 100 and the final row count in
// one patch, only after the file is stored under its final key.
func (r *run) publishResult(ctx context.Context, p *plan, out outcome) error {
	annotations := r.annotator.progressValues(100, out.rows)
	annotations[v1alpha1.AnnotationResult] = v1alpha1.EncodeAnnotation(v1alpha1.ResultAnnotation{
		Version: v1alpha1.ResultFormatVersion, Attempt: r.cfg.PodName, Key: p.key, URL: r.cfg.Store.URI(p.key),
		Size: out.size, Rows: out.rows, SHA256: out.sha256, ContentType: encode.ContentType(p.format),
	})
	return r.annotator.patch(ctx, annotations)
}
