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

// Command generator benchmarks `reportd generate` (run as `make bench`).
//
// From one run on the same data it measures: rows/s of the real
// bin/reportd binary generating the sales report over 5,000,000 orders to
// file storage and to an S3 server (versitygw), against psql's \copy of
// the same query to a CSV file; the generator process's peak RSS at about
// 1,000,000 and 5,000,000 rows for csv and xlsx; and, for contrast, OFFSET
// paging at 100 rows a page over the first 100,000 rows. It prints a table
// and writes it as JSON to $BENCH_OUT (default bin/bench.json).
//
// Every server (PostgreSQL, versitygw, envtest's etcd and kube-apiserver)
// listens on loopback only and is stopped at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

const (
	bigOrders    = 5_000_000
	smallOrders  = 1_000_000
	offsetRows   = 100_000
	offsetPage   = 100
	rssTargetMiB = 64.0
	offsetBudget = 3 * time.Minute
	namespace    = "bench"
	startDate    = "2024-01-01"
	endDate      = "2025-12-31"
)

// entry is one line of the table and of the JSON.
type entry struct {
	Name           string   `json:"name"`
	Value          float64  `json:"value"`
	Unit           string   `json:"unit"`
	Yardstick      string   `json:"yardstick,omitempty"`
	YardstickValue *float64 `json:"yardstickValue,omitempty"`
	Ratio          *float64 `json:"ratio,omitempty"`
}

// bench holds the running servers and the settings the runs share.
type bench struct {
	root, bin, work, kubeconfig string
	pg                          *testsupport.Postgres
	s3                          *testsupport.S3
	k8s                         client.Client
	def                         *v1alpha1.ReportDefinition
	seq                         int
}

// measurement is one generator run.
type measurement struct {
	rows    int64
	seconds float64
	rssKiB  int64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func run() (err error) {
	ctrllog.SetLogger(logr.Discard()) // envtest's own logs are not wanted here
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b := &bench{}
	if b.root, err = testsupport.RepoRoot(); err != nil {
		return err
	}
	b.bin = filepath.Join(b.root, "bin", "reportd")
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("build bin/reportd first (make bench does): %w", err)
	}
	if b.work, err = os.MkdirTemp("", "reportd-bench-"); err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(b.work) }()

	logf("starting PostgreSQL and loading %d orders (about a minute)", bigOrders)
	b.pg, err = testsupport.StartPostgres(ctx, testsupport.PostgresOptions{
		LoadSample: &sampledata.Sizes{Orders: bigOrders},
	})
	if err != nil {
		return err
	}
	defer stop("PostgreSQL", b.pg.Stop)
	logf("starting the S3 server")
	if b.s3, err = testsupport.StartS3(ctx, testsupport.S3Options{}); err != nil {
		return err
	}
	defer stop("S3", b.s3.Stop)
	logf("starting envtest")
	env, cfg, err := testsupport.StartEnvtest()
	if err != nil {
		return err
	}
	defer stop("envtest", env.Stop)
	b.kubeconfig = filepath.Join(b.work, "kubeconfig")
	if err := testsupport.WriteKubeconfig(env, "bench", b.kubeconfig); err != nil {
		return err
	}
	if b.k8s, err = client.New(cfg, client.Options{Scheme: testsupport.Scheme()}); err != nil {
		return err
	}
	if err := b.setupAPI(ctx); err != nil {
		return err
	}
	entries, err := b.measure(ctx)
	if err != nil {
		return err
	}
	printTable(entries)
	return writeJSON(entries)
}

// stop stops a server, logging a failure.
func stop(name string, f func() error) {
	if err := f(); err != nil {
		logf("stopping %s: %v", name, err)
	}
}

// setupAPI creates the namespace and the sales ReportDefinition from
// config/samples. A new CRD's objects can be refused for a moment after
// the API server starts, so creating the definition is retried.
func (b *bench) setupAPI(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(b.root, "config", "samples", "reports_v1alpha1_reportdefinition_sales.yaml"))
	if err != nil {
		return err
	}
	b.def = &v1alpha1.ReportDefinition{}
	if err := yaml.UnmarshalStrict(data, b.def); err != nil {
		return fmt.Errorf("reading the sales sample: %w", err)
	}
	b.def.Namespace = namespace
	if err := b.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.k8s.Create(ctx, b.def.DeepCopy())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create the sales ReportDefinition: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// measure runs every measurement in turn (one at a time, so they do not
// compete for the machine) and returns the table.
func (b *bench) measure(ctx context.Context) ([]entry, error) {
	conn, err := pgx.Connect(ctx, b.pg.URL)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	bigRows, err := countRows(ctx, conn, startDate, endDate)
	if err != nil {
		return nil, err
	}
	// The ~1,000,000-row runs read the same database over a narrower
	// range: from the first day to the day of the 1,000,000th order.
	var smallEnd string
	if err := conn.QueryRow(ctx, `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
		FROM orders ORDER BY created_at, id OFFSET $1 LIMIT 1`, smallOrders-1).Scan(&smallEnd); err != nil {
		return nil, err
	}
	smallRows, err := countRows(ctx, conn, startDate, smallEnd)
	if err != nil {
		return nil, err
	}
	logf("%d rows in %s..%s; %d rows in %s..%s", bigRows, startDate, endDate, smallRows, startDate, smallEnd)

	psql, err := b.psqlCopy(ctx, bigRows)
	if err != nil {
		return nil, err
	}
	fileCSV, err := b.generate(ctx, "file", v1alpha1.FormatCSV, endDate, bigRows)
	if err != nil {
		return nil, err
	}
	s3CSV, err := b.generate(ctx, "s3", v1alpha1.FormatCSV, endDate, bigRows)
	if err != nil {
		return nil, err
	}
	fileXLSX, err := b.generate(ctx, "file", v1alpha1.FormatXLSX, endDate, bigRows)
	if err != nil {
		return nil, err
	}
	smallCSV, err := b.generate(ctx, "file", v1alpha1.FormatCSV, smallEnd, smallRows)
	if err != nil {
		return nil, err
	}
	smallXLSX, err := b.generate(ctx, "file", v1alpha1.FormatXLSX, smallEnd, smallRows)
	if err != nil {
		return nil, err
	}
	offset, offsetRead, err := offsetPaging(ctx, conn)
	if err != nil {
		return nil, err
	}

	psqlRate := float64(bigRows) / psql
	fileRate := fileCSV.rate()
	entries := []entry{
		{Name: fmt.Sprintf("psql \\copy to CSV file, %d rows", bigRows), Value: psqlRate, Unit: "rows/s"},
		compared(fmt.Sprintf("reportd csv to file, %d rows (target ratio >= 0.9)", bigRows), fileRate, "rows/s", "psql \\copy", psqlRate, false),
		compared(fmt.Sprintf("reportd csv to S3, %d rows (target ratio >= 0.8)", bigRows), s3CSV.rate(), "rows/s", "psql \\copy", psqlRate, false),
		compared(fmt.Sprintf("reportd xlsx to file, %d rows", bigRows), fileXLSX.rate(), "rows/s", "psql \\copy", psqlRate, false),
	}
	for _, m := range []struct {
		name string
		m    measurement
	}{
		{"csv", smallCSV}, {"csv", fileCSV}, {"xlsx", smallXLSX}, {"xlsx", fileXLSX},
	} {
		entries = append(entries, compared(fmt.Sprintf("generator peak RSS, %s, %d rows", m.name, m.m.rows),
			float64(m.m.rssKiB)/1024, "MiB", "target 64 MiB", rssTargetMiB, true))
	}
	// Not asked for by the targets, which are about the encoders, but the
	// S3 upload buffers parts, so its memory is shown too.
	entries = append(entries, compared(fmt.Sprintf("generator peak RSS, csv to S3, %d rows", s3CSV.rows),
		float64(s3CSV.rssKiB)/1024, "MiB", "target 64 MiB", rssTargetMiB, true))
	entries = append(entries, compared(
		fmt.Sprintf("OFFSET paging, %d rows a page, first %d rows", offsetPage, offsetRead),
		offset, "rows/s", "reportd csv to file", fileRate, true))
	return entries, nil
}

// compared builds an entry with a yardstick; ratio > 1 means reportd is
// better, so it is inverted when lower values are better (inverse: times,
// memory, and the OFFSET contrast, whose yardstick is reportd itself).
func compared(name string, value float64, unit, yardstick string, yardstickValue float64, inverse bool) entry {
	ratio := value / yardstickValue
	if inverse {
		ratio = yardstickValue / value
	}
	return entry{Name: name, Value: value, Unit: unit, Yardstick: yardstick, YardstickValue: &yardstickValue, Ratio: &ratio}
}

func (m measurement) rate() float64 { return float64(m.rows) / m.seconds }

// countRows counts the sales report's rows between two days.
func countRows(ctx context.Context, conn *pgx.Conn, from, to string) (int64, error) {
	var n int64
	err := conn.QueryRow(ctx, `SELECT count(*) FROM orders
		WHERE created_at >= $1::date::timestamptz AND created_at < $2::date::timestamptz + interval '1 day'`,
		from, to).Scan(&n)
	return n, err
}

// salesQuery is the sales definition's query with the dates as literals
// (for psql, whose \copy takes no parameters).
func (b *bench) salesQuery(from, to string) string {
	q := strings.ReplaceAll(b.def.Spec.Query, "@startDate", "'"+from+"'")
	q = strings.ReplaceAll(q, "@endDate", "'"+to+"'")
	return strings.Join(strings.Fields(q), " ")
}

// psqlCopy times psql exporting the sales query to a CSV file and returns
// the seconds taken.
func (b *bench) psqlCopy(ctx context.Context, rows int64) (float64, error) {
	out := filepath.Join(b.work, "psql.csv")
	defer func() { _ = os.Remove(out) }()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", b.pg.URL,
		"-c", fmt.Sprintf(`\copy (%s) to '%s' csv header`, b.salesQuery(startDate, endDate), out))
	cmd.Env = append(os.Environ(), "PGTZ=UTC")
	logf("psql \\copy of %d rows", rows)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	secs := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("psql: %w: %s", err, output)
	}
	logf("  %.1fs (%s)", secs, strings.TrimSpace(string(output)))
	return secs, nil
}

// generate creates a ReportRequest and a Job, runs bin/reportd generate as
// a child process and returns its wall time and peak RSS.
func (b *bench) generate(ctx context.Context, where string, format v1alpha1.ReportFormat, to string, rows int64) (measurement, error) {
	b.seq++
	name := fmt.Sprintf("bench-%d", b.seq)
	req := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.ReportRequestSpec{
			Type: "sales", Format: format, RequestedBy: "bench@example.com",
			Parameters: map[string]v1alpha1.ParameterValue{"startDate": startDate, "endDate": v1alpha1.ParameterValue(to)},
		},
	}
	if err := b.k8s.Create(ctx, req); err != nil {
		return measurement{}, fmt.Errorf("create ReportRequest: %w", err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "generate", Image: "reportd:bench"}},
		}}},
	}
	if err := b.k8s.Create(ctx, job); err != nil {
		return measurement{}, fmt.Errorf("create Job: %w", err)
	}
	env := append(os.Environ(),
		"REPORTD_NAMESPACE="+namespace, "REPORTD_REQUEST="+name, "REPORTD_JOB="+name, "REPORTD_POD="+name+"-pod",
		"REPORTD_DATASOURCE_URL="+b.pg.URL, "REPORTD_TERMINATION_LOG=", "REPORTD_KUBECONFIG="+b.kubeconfig,
	)
	fileDir := filepath.Join(b.work, "files")
	switch where {
	case "file":
		if err := os.MkdirAll(fileDir, 0o700); err != nil {
			return measurement{}, err
		}
		env = append(env, "REPORTD_STORAGE_URL=file://"+fileDir)
	case "s3":
		env = append(env, "REPORTD_STORAGE_URL=s3://"+b.s3.Bucket, "REPORTD_S3_ENDPOINT="+b.s3.Endpoint,
			"REPORTD_S3_REGION="+b.s3.Region, "REPORTD_S3_PATH_STYLE=true",
			"REPORTD_S3_ACCESS_KEY="+b.s3.AccessKey, "REPORTD_S3_SECRET_KEY="+b.s3.SecretKey)
	}
	logPath := filepath.Join(b.work, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return measurement{}, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.CommandContext(ctx, b.bin, "generate")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	logf("reportd generate %s to %s, %d rows", format, where, rows)
	start := time.Now()
	err = cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return measurement{}, fmt.Errorf("reportd generate (%s to %s): %w\n%s", format, where, err, tail(string(log), 3000))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return measurement{}, errors.New("no rusage for the generator process")
	}
	m := measurement{rows: rows, seconds: secs, rssKiB: ru.Maxrss} // KiB on Linux
	logf("  %.1fs, %.0f rows/s, peak RSS %.1f MiB", secs, m.rate(), float64(m.rssKiB)/1024)
	// Free the disk for the next run.
	_ = os.RemoveAll(fileDir)
	return m, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// offsetPaging reads the first offsetRows rows of the sales query a page
// at a time with LIMIT/OFFSET, the pattern the generator avoids, and
// returns rows/s and the rows read. LIMIT and OFFSET are literals, as an
// application paging by hand writes them, so the planner sees them (bound
// as parameters it may sort the whole range for every page). The cost of
// a page grows with its offset, so the loop stops after offsetBudget and
// reports the rate over the rows read so far.
func offsetPaging(ctx context.Context, conn *pgx.Conn) (float64, int64, error) {
	const q = `SELECT o.created_at, o.id, o.customer_name, o.total, o.status FROM orders AS o
		WHERE o.created_at >= $1::date::timestamptz AND o.created_at < $2::date::timestamptz + interval '1 day'
		ORDER BY o.created_at, o.id LIMIT %d OFFSET %d`
	logf("OFFSET paging over the first %d rows, %d a page (at most %s)", offsetRows, offsetPage, offsetBudget)
	start := time.Now()
	var total int64
	for off := 0; off < offsetRows && time.Since(start) < offsetBudget; off += offsetPage {
		rows, err := conn.Query(ctx, fmt.Sprintf(q, offsetPage, off), startDate, endDate)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				rows.Close()
				return 0, 0, err
			}
			total++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
	}
	secs := time.Since(start).Seconds()
	logf("  %d rows in %.1fs", total, secs)
	return float64(total) / secs, total, nil
}

func printTable(entries []entry) {
	fmt.Printf("%-62s %14s %-7s %-22s %14s %7s\n", "name", "value", "unit", "yardstick", "yardstick value", "ratio")
	for _, e := range entries {
		ys, yv, r := "", "", ""
		if e.YardstickValue != nil {
			ys, yv, r = e.Yardstick, fmt.Sprintf("%.1f", *e.YardstickValue), fmt.Sprintf("%.2f", *e.Ratio)
		}
		fmt.Printf("%-62s %14.1f %-7s %-22s %14s %7s\n", e.Name, e.Value, e.Unit, ys, yv, r)
	}
}

func writeJSON(entries []entry) error {
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		root, err := testsupport.RepoRoot()
		if err != nil {
			return err
		}
		out = filepath.Join(root, "bin", "bench.json")
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	logf("wrote %s", out)
	return nil
}
