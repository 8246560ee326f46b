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
// and merges it as JSON into $BENCH_OUT (default bin/bench.json). Besides
// the peak RSS it logs the peaks of its two parts, anonymous memory (the
// generator's own: heap, stacks, buffers) and file pages (the mapped
// binary), sampled from /proc.
//
//	go run ./hack/bench/generator [-orders 5000000] [-only csv-file,csv-s3,...] [-keep]
//
// -orders loads fewer orders for a quick look (at least 1,000,000), -only
// runs some of the steps, -keep keeps the generator logs.
//
// Every server (PostgreSQL, versitygw, envtest's etcd and kube-apiserver)
// listens on loopback only and is stopped at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	"reportd.io/reportd/hack/bench/internal/table"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

const (
	smallOrders  = 1_000_000
	offsetRows   = 100_000
	offsetPage   = 100
	rssTargetMiB = 64.0
	offsetBudget = 6 * time.Minute
	namespace    = "bench"
	startDate    = "2024-01-01"
	endDate      = "2025-12-31"
)

// steps are the measurements, in the order they run; -only picks some.
var steps = []string{"psql", "csv-file", "csv-s3", "xlsx-file", "csv-file-1m", "xlsx-file-1m", "offset"}

// options are the command line's settings.
type options struct {
	orders int             // orders loaded into the database
	only   map[string]bool // the steps to run; all when empty
	keep   bool            // keep the work directory (the generator logs)
	rounds int             // interleaved rounds of the runs over all orders
}

// parseFlags reads the command line.
func parseFlags() (options, error) {
	var o options
	var only string
	flag.IntVar(&o.orders, "orders", 5_000_000, "orders to load; the big runs export all of them")
	flag.StringVar(&only, "only", "", "comma-separated steps to run (default all): "+strings.Join(steps, ", "))
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory with the generator logs")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of psql and the generator over all orders; each rate is the median")
	flag.Parse()
	if o.rounds < 1 {
		return o, errors.New("-rounds must be at least 1")
	}
	if o.orders < smallOrders {
		return o, fmt.Errorf("-orders must be at least %d", smallOrders)
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(only, ",") {
			if !slices.Contains(steps, name) {
				return o, fmt.Errorf("-only: unknown step %q (steps: %s)", name, strings.Join(steps, ", "))
			}
			o.only[name] = true
		}
	}
	return o, nil
}

// runs reports whether a step is to run.
func (o options) runs(step string) bool { return o.only == nil || o.only[step] }

// bench holds the running servers and the settings the runs share.
type bench struct {
	opts                        options
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
	rssKiB  int64 // peak RSS (getrusage)
	sampled rssSample
}

func main() {
	opts, err := parseFlags()
	if err == nil {
		err = run(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func run(opts options) (err error) {
	ctrllog.SetLogger(logr.Discard()) // envtest's own logs are not wanted here
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	b := &bench{opts: opts}
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
	if opts.keep {
		logf("keeping %s", b.work)
	} else {
		defer func() { _ = os.RemoveAll(b.work) }()
	}

	logf("starting PostgreSQL and loading %d orders (about a minute for 5,000,000)", opts.orders)
	b.pg, err = testsupport.StartPostgres(ctx, testsupport.PostgresOptions{
		LoadSample: &sampledata.Sizes{Orders: opts.orders},
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
	return table.Report(entries)
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

// measure runs the chosen measurements in turn (one at a time, so they do
// not compete for the machine) and returns the table.
func (b *bench) measure(ctx context.Context) ([]table.Entry, error) {
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

	big, err := b.measureRounds(ctx, bigRows)
	if err != nil {
		return nil, err
	}
	psqlRate, fileRate := big.rates["psql"], big.rates["csv-file"]
	var entries []table.Entry
	if psqlRate != 0 {
		entries = append(entries, table.Entry{Name: fmt.Sprintf("psql \\copy to CSV file, %d rows", bigRows), Value: psqlRate, Unit: "rows/s"})
	}
	memory := big.memory // by step
	for _, g := range bigGenerations {
		rate, ok := big.rates[g.step]
		if !ok {
			continue
		}
		name := fmt.Sprintf(g.rate, bigRows)
		if psqlRate == 0 {
			entries = append(entries, table.Entry{Name: name, Value: rate, Unit: "rows/s"})
		} else {
			entries = append(entries, table.Compared(name, rate, "rows/s", "psql \\copy", psqlRate, false))
		}
	}
	for _, g := range []generation{
		{"csv-file-1m", "file", v1alpha1.FormatCSV, ""},
		{"xlsx-file-1m", "file", v1alpha1.FormatXLSX, ""},
	} {
		if !b.opts.runs(g.step) {
			continue
		}
		m, err := b.generate(ctx, g.where, g.format, smallEnd, smallRows)
		if err != nil {
			return nil, err
		}
		memory[g.step] = memoryEntry(g, m)
	}
	// Smaller run first, csv before xlsx, S3 last, as the table always read.
	for _, step := range []string{"csv-file-1m", "csv-file", "xlsx-file-1m", "xlsx-file", "csv-s3"} {
		if e, ok := memory[step]; ok {
			entries = append(entries, e)
		}
	}
	if b.opts.runs("offset") {
		offset, offsetRead, err := offsetPaging(ctx, conn)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("OFFSET paging, %d rows a page, first %d rows", offsetPage, offsetRead)
		if fileRate == 0 {
			entries = append(entries, table.Entry{Name: name, Value: offset, Unit: "rows/s"})
		} else {
			entries = append(entries, table.Compared(name, offset, "rows/s", "reportd csv to file", fileRate, true))
		}
	}
	return entries, nil
}

// generation is one kind of generator run.
type generation struct {
	step, where string
	format      v1alpha1.ReportFormat
	rate        string // the throughput entry's name, with the row count's %d; "" for none
}

// bigGenerations are the generator runs over all orders, timed against psql.
var bigGenerations = []generation{
	{"csv-file", "file", v1alpha1.FormatCSV, "reportd csv to file, %d rows (target ratio >= 0.9)"},
	{"csv-s3", "s3", v1alpha1.FormatCSV, "reportd csv to S3, %d rows (target ratio >= 0.8)"},
	{"xlsx-file", "file", v1alpha1.FormatXLSX, "reportd xlsx to file, %d rows"},
}

// roundResults are the interleaved runs over all orders: the median rate
// of each step and the memory entry of its highest peak RSS.
type roundResults struct {
	rates  map[string]float64     // rows/s by step, psql included
	memory map[string]table.Entry // by step
}

// measureRounds runs psql and the generator over all orders in
// b.opts.rounds interleaved rounds, each round starting one step later
// than the last, and keeps each step's median rate. Every step is bound
// by the one PostgreSQL backend that runs the query, so a single run of
// each measures the machine's moment as much as the programs: on a quiet
// machine two single runs minutes apart gave ratios of 0.88 and 1.05.
func (b *bench) measureRounds(ctx context.Context, rows int64) (roundResults, error) {
	var order []string
	if b.opts.runs("psql") {
		order = append(order, "psql")
	}
	gens := map[string]generation{}
	for _, g := range bigGenerations {
		if b.opts.runs(g.step) {
			order = append(order, g.step)
			gens[g.step] = g
		}
	}
	res := roundResults{rates: map[string]float64{}, memory: map[string]table.Entry{}}
	samples := map[string][]float64{}
	peaks := map[string]measurement{}
	for round := range b.opts.rounds {
		logf("round %d of %d", round+1, b.opts.rounds)
		for i := range order {
			step := order[(round+i)%len(order)]
			if step == "psql" {
				secs, err := b.psqlCopy(ctx, rows)
				if err != nil {
					return res, err
				}
				samples[step] = append(samples[step], float64(rows)/secs)
				continue
			}
			g := gens[step]
			m, err := b.generate(ctx, g.where, g.format, endDate, rows)
			if err != nil {
				return res, err
			}
			samples[step] = append(samples[step], m.rate())
			if m.rssKiB > peaks[step].rssKiB {
				peaks[step] = m
			}
		}
	}
	for _, step := range order {
		res.rates[step] = median(samples[step])
		logf("%s: median %.0f rows/s of %s", step, res.rates[step], formatRates(samples[step]))
	}
	for step, m := range peaks {
		res.memory[step] = memoryEntry(gens[step], m)
	}
	return res, nil
}

// median is the middle value (the mean of the two middle ones for an
// even count).
func median(values []float64) float64 {
	s := slices.Sorted(slices.Values(values))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// formatRates lists rates for the log.
func formatRates(rates []float64) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strings.Join(parts, ", ")
}

// memoryEntry is a run's peak RSS against the target.
func memoryEntry(g generation, m measurement) table.Entry {
	return table.Compared(fmt.Sprintf("generator peak RSS, %s, %d rows", memoryLabel(g.format, g.where), m.rows),
		float64(m.rssKiB)/1024, "MiB", "target 64 MiB", rssTargetMiB, true)
}

// memoryLabel names a run in the memory entries: "csv", "xlsx", "csv to S3".
func memoryLabel(format v1alpha1.ReportFormat, where string) string {
	if where == "s3" {
		return string(format) + " to S3"
	}
	return string(format)
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
	cpu := ""
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = fmt.Sprintf(", psql's CPU user %.1fs sys %.1fs", tvSeconds(ru.Utime), tvSeconds(ru.Stime))
	}
	logf("  %.1fs (%s)%s", secs, strings.TrimSpace(string(output)), cpu)
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
	if err := cmd.Start(); err != nil {
		return measurement{}, err
	}
	sampled := sampleRSS(cmd.Process.Pid)
	err = cmd.Wait()
	secs := time.Since(start).Seconds()
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return measurement{}, fmt.Errorf("reportd generate (%s to %s): %w\n%s", format, where, err, tail(string(log), 3000))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return measurement{}, errors.New("no rusage for the generator process")
	}
	m := measurement{rows: rows, seconds: secs, rssKiB: ru.Maxrss, sampled: <-sampled} // KiB on Linux
	logf("  %.1fs, %.0f rows/s, CPU user %.1fs sys %.1fs, peak RSS %.1f MiB (sampled peaks: anonymous %.1f MiB, file %.1f MiB)",
		secs, m.rate(), tvSeconds(ru.Utime), tvSeconds(ru.Stime),
		float64(m.rssKiB)/1024, float64(m.sampled.anonKiB)/1024, float64(m.sampled.fileKiB)/1024)
	// Free the disk for the next run.
	_ = os.RemoveAll(fileDir)
	return m, nil
}

// tvSeconds converts a getrusage time to seconds.
func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// rssSample is the peak of each part of a process's resident memory, as
// /proc/PID/status shows it: anonymous (heap, stacks, buffers) and file
// (the mapped binary and libraries). The peaks may come at different
// moments, so they need not add up to the peak RSS.
type rssSample struct {
	anonKiB, fileKiB int64
}

// sampleRSS polls /proc/PID/status every 10 ms until the process is gone
// and then sends the peaks. Short peaks between two polls are missed; the
// peak RSS itself comes from getrusage, which misses nothing.
func sampleRSS(pid int) <-chan rssSample {
	out := make(chan rssSample, 1)
	go func() {
		var peak rssSample
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			data, err := os.ReadFile(path)
			if err != nil || !strings.Contains(string(data), "RssAnon:") { // gone, or a zombie
				out <- peak
				return
			}
			for line := range strings.Lines(string(data)) {
				field, value, _ := strings.Cut(line, ":")
				kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
				switch field {
				case "RssAnon":
					peak.anonKiB = max(peak.anonKiB, kib)
				case "RssFile":
					peak.fileKiB = max(peak.fileKiB, kib)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// pagesRate is the rows/s of full pages that took the given seconds.
func pagesRate(secs []float64) float64 {
	var sum float64
	for _, s := range secs {
		sum += s
	}
	return float64(len(secs)*offsetPage) / sum
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
	var pageSecs []float64 // each page's time, to show the rate falling
	for off := 0; off < offsetRows && time.Since(start) < offsetBudget; off += offsetPage {
		pageStart := time.Now()
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
		pageSecs = append(pageSecs, time.Since(pageStart).Seconds())
	}
	secs := time.Since(start).Seconds()
	logf("  %d rows in %.1fs; the first 10 pages at %.0f rows/s, the last 10 at %.0f rows/s",
		total, secs, pagesRate(pageSecs[:min(10, len(pageSecs))]), pagesRate(pageSecs[max(0, len(pageSecs)-10):]))
	return float64(total) / secs, total, nil
}
