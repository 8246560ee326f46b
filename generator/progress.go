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
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgtype"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
)

// FieldOwner is the field manager of the generator's patches on its Job.
const FieldOwner = "reportd-generator"

// DefaultProgressInterval is the least time between two progress patches.
const DefaultProgressInterval = 2 * time.Second

// runningCap is the highest progress shown before the file is stored: 100
// means done, and the upload may still take a moment after the last row.
const runningCap = 99

// jobAnnotator writes annotations on the generator's own Job by merge
// patch on its metadata only (no read first: the generator may patch Jobs
// but not read them).
type jobAnnotator struct {
	client    client.Client
	namespace string
	job       string
	attempt   string
}

// patch merges annotations into the Job's metadata.
func (a *jobAnnotator) patch(ctx context.Context, annotations map[string]string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	job := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace, Name: a.job},
	}
	if err := a.client.Patch(ctx, job, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("annotating Job %s/%s: %w", a.namespace, a.job, err)
	}
	return nil
}

// progressValues are the progress and rows annotations of this attempt.
func (a *jobAnnotator) progressValues(percent int32, rows int64) map[string]string {
	return map[string]string{
		v1alpha1.AnnotationProgress: v1alpha1.EncodeAnnotation(v1alpha1.ProgressAnnotation{Attempt: a.attempt, Value: int64(percent)}),
		v1alpha1.AnnotationRows:     v1alpha1.EncodeAnnotation(v1alpha1.ProgressAnnotation{Attempt: a.attempt, Value: rows}),
	}
}

// estimator turns a row's key (the KeyRange column's text) into the
// fraction of the report done so far; ok is false when the key says
// nothing (NULL, say).
type estimator func(key []byte) (fraction float64, ok bool)

// progressTracker counts rows on the streaming goroutine and publishes
// progress from its own goroutine, so a slow API server never slows the
// export. The row path costs an atomic add, and for KeyRange a copy of the
// key under an uncontended lock; the key is parsed only when progress is
// published. So the progress shown is the last row's, even when the query
// stalls right after it.
type progressTracker struct {
	annotator *jobAnnotator
	interval  time.Duration
	clock     clock.WithTicker
	log       logr.Logger
	mode      v1alpha1.ProgressMode
	total     atomic.Int64

	rows    atomic.Int64
	percent atomic.Int32 // highest seen, so it never goes backwards

	keyRange  atomic.Bool // an estimator is set: rows' keys are kept
	keyMu     sync.Mutex
	estimate  estimator // KeyRange only; nil until the columns are known
	keyColumn int
	lastKey   []byte // the last row's key, copied: pgx reuses row memory
	keySeen   bool   // lastKey holds a key not yet estimated

	sentPercent int32 // publisher goroutine only
	sentRows    int64
}

// newProgressTracker starts at 0 with nothing sent yet.
func newProgressTracker(a *jobAnnotator, interval time.Duration, clk clock.WithTicker, log logr.Logger, mode v1alpha1.ProgressMode) *progressTracker {
	return &progressTracker{annotator: a, interval: interval, clock: clk, log: log, mode: mode, sentPercent: -1, sentRows: -1}
}

// useKeyRange makes KeyRange progress read column with est.
func (p *progressTracker) useKeyRange(column int, est estimator) {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	p.keyColumn, p.estimate = column, est
	p.keyRange.Store(true)
}

// setTotal records the row count (Count mode) once it is known.
func (p *progressTracker) setTotal(total int64) { p.total.Store(total) }

// row counts one row and, for KeyRange, keeps a copy of its key for the
// publisher; pgx reuses row's memory.
func (p *progressTracker) row(raw [][]byte) {
	rows := p.rows.Add(1)
	switch p.mode {
	case v1alpha1.ProgressCount:
		if total := p.total.Load(); total > 0 {
			p.raise(int32(min(rows*100/total, runningCap)))
		}
	case v1alpha1.ProgressKeyRange:
		if !p.keyRange.Load() {
			return // no usable range: rows only
		}
		p.keyMu.Lock()
		if p.keyColumn < len(raw) && raw[p.keyColumn] != nil {
			p.lastKey = append(p.lastKey[:0], raw[p.keyColumn]...)
			p.keySeen = true
		}
		p.keyMu.Unlock()
	}
}

// estimateLastKey raises the percentage to what the last row's key says.
func (p *progressTracker) estimateLastKey() {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if !p.keySeen {
		return
	}
	p.keySeen = false
	if f, ok := p.estimate(p.lastKey); ok {
		p.raise(int32(min(math.Floor(f*100), runningCap)))
	}
}

// raise moves the percentage up, never down.
func (p *progressTracker) raise(percent int32) {
	if percent > p.percent.Load() {
		p.percent.Store(percent)
	}
}

// start publishes 0% and 0 rows for this attempt. It says the attempt
// began (the manager shows Processing from it) and replaces a previous
// attempt's numbers; a Job that cannot be annotated fails the run early.
func (p *progressTracker) start(ctx context.Context) error {
	if err := p.annotator.patch(ctx, p.annotator.progressValues(0, 0)); err != nil {
		return err
	}
	p.sentPercent, p.sentRows = 0, 0
	return nil
}

// run publishes progress every interval until ctx ends.
func (p *progressTracker) run(ctx context.Context) {
	ticker := p.clock.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			p.publish(ctx)
		}
	}
}

// publish patches the Job when the whole percentage changed. While there
// is no percentage yet (None mode, KeyRange without a usable range, before
// the first percent) a change in rows is worth a patch too, so the user
// sees the report moving. A failed progress patch is logged, not fatal:
// the next one may pass.
func (p *progressTracker) publish(ctx context.Context) {
	p.estimateLastKey()
	percent, rows := p.percent.Load(), p.rows.Load()
	changed := percent != p.sentPercent || (percent == 0 && rows != p.sentRows)
	if !changed {
		return
	}
	if err := p.annotator.patch(ctx, p.annotator.progressValues(percent, rows)); err != nil {
		if ctx.Err() == nil {
			p.log.Error(err, "Could not publish progress; will try again")
		}
		return
	}
	p.sentPercent, p.sentRows = percent, rows
}

// keyRangeEstimator reads progress from a key's position between the
// start and end parameters' bound values. A date end parameter names an
// included day, so the range runs to the end of that day.
func keyRangeEstimator(start, end any, endIsDate bool) (estimator, error) {
	lo, ok := toFloat(start)
	if !ok {
		return nil, fmt.Errorf("the start parameter's value cannot measure progress")
	}
	hi, ok := toFloat(end)
	if !ok {
		return nil, fmt.Errorf("the end parameter's value cannot measure progress")
	}
	if endIsDate {
		hi += 24 * 60 * 60
	}
	if hi <= lo {
		return nil, fmt.Errorf("the progress range is empty")
	}
	return func(key []byte) (float64, bool) {
		v, ok := parseKey(string(key))
		if !ok {
			return 0, false
		}
		return min(max((v-lo)/(hi-lo), 0), 1), true
	}, nil
}

// toFloat maps a bound parameter value onto a line: times as Unix seconds.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case time.Time:
		return float64(x.UnixNano()) / 1e9, true
	case int64:
		return float64(x), true
	case pgtype.Numeric:
		f, err := x.Float64Value()
		return f.Float64, err == nil && f.Valid
	case float64:
		return x, true
	}
	return 0, false
}

// keyLayouts are the text forms PostgreSQL gives dates and timestamps in
// (DateStyle ISO, any session TimeZone).
var keyLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseKey reads a key column's text value as a number or a time.
func parseKey(s string) (float64, bool) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	for _, layout := range keyLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return float64(t.UnixNano()) / 1e9, true
		}
	}
	return 0, false
}
