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

// Command facade measures what the facade's cache buys: requests per
// second and p99 latency of GET /api/v1/reports/{id} served by the facade
// from its cache, against a GET of the same ReportRequest from the API
// server, measured in the same run with the same client concurrency. It
// starts its own API server (envtest, built by `make envtest`), prints one
// line per figure with the yardstick and the ratio, and stops everything.
//
//	go run ./hack/bench/facade [-duration 5s] [-concurrency 8]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/hack/bench/internal/table"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/facade"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

const (
	namespace = "bench"
	token     = "bench-token-0123456789"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long each side is measured")
	concurrency := flag.Int("concurrency", 8, "requests in flight at once")
	flag.Parse()
	log.SetLogger(logr.Discard()) // only the figures go to stdout
	if err := run(*duration, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench facade:", err)
		os.Exit(1)
	}
}

// run starts the API server and the facade, then measures both sides.
func run(duration time.Duration, concurrency int) error {
	env, cfg, err := testsupport.StartEnvtest()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling on either side
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	facadeURL, id, err := startFacade(ctx, cfg)
	if err != nil {
		return err
	}
	facadeSide, err := measure(duration, concurrency, facadeGet(facadeURL+"/api/v1/reports/"+id))
	if err != nil {
		return fmt.Errorf("measuring the facade: %w", err)
	}
	apiGet, err := apiServerGet(cfg, id)
	if err != nil {
		return err
	}
	apiSide, err := measure(duration, concurrency, apiGet)
	if err != nil {
		return fmt.Errorf("measuring the API server: %w", err)
	}
	return report(facadeSide, apiSide, concurrency)
}

// startFacade serves a facade for the namespace on loopback, with one
// report created through it and visible in its cache.
func startFacade(ctx context.Context, cfg *rest.Config) (string, string, error) {
	admin, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		return "", "", err
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return "", "", err
	}
	if err := admin.Create(ctx, definition()); err != nil {
		return "", "", err
	}
	srv, err := newFacade(ctx, cfg)
	if err != nil {
		return "", "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	go func() { _ = (&facade.HTTPServer{Handler: srv.Handler(), Listener: ln}).Start(ctx) }()
	url := "http://" + ln.Addr().String()
	id, err := createReport(ctx, url)
	if err != nil {
		return "", "", err
	}
	return url, id, waitCached(ctx, admin, srv, url, id)
}

// newFacade builds a facade over a namespace cache, as the manager hosts it.
func newFacade(ctx context.Context, cfg *rest.Config) (*facade.Server, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: testsupport.Scheme(), DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	if err != nil {
		return nil, err
	}
	if err := facade.IndexFields(ctx, c); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("the cache did not sync")
	}
	cl, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme(), Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		return nil, err
	}
	live, err := client.New(cfg, client.Options{Scheme: testsupport.Scheme()})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "reportd-bench-facade-")
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); _ = os.RemoveAll(dir) }()
	store, err := storage.New(ctx, storage.Config{URL: "file://" + dir})
	if err != nil {
		return nil, err
	}
	tokens, err := auth.ParseTokenFile(strings.NewReader(token + ",bench,\n"))
	if err != nil {
		return nil, err
	}
	return facade.New(ctx, facade.Options{
		Client: cl, APIReader: live, Informers: c, Namespace: namespace, Store: store,
		Authenticator: &auth.Bearer{Tokens: tokens}, Logger: logr.Discard(),
		Limits: facade.Limits{RequestsPerMinute: -1, MaxActive: -1},
	})
}

// definition is a report type with no parameters.
func definition() *v1alpha1.ReportDefinition {
	return &v1alpha1.ReportDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "inventory"},
		Spec:       v1alpha1.ReportDefinitionSpec{Query: "SELECT 1"},
	}
}

// createReport requests a report through the facade and returns its id.
func createReport(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/reports", strings.NewReader(`{"reportType": "inventory"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var rep facade.Report
	if err := decode(resp, http.StatusAccepted, &rep); err != nil {
		return "", err
	}
	return rep.ID, nil
}

// waitCached waits until the facade's cache holds the report, so the
// measurement never falls back to live reads.
func waitCached(ctx context.Context, admin client.Client, srv *facade.Server, url, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var list v1alpha1.ReportRequestList
		if err := admin.List(ctx, &list, client.InNamespace(namespace)); err == nil && len(list.Items) == 1 && srv.Ready() == nil {
			if err := facadeGet(url + "/api/v1/reports/" + id)(http.DefaultClient); err == nil {
				time.Sleep(500 * time.Millisecond) // the informer has delivered the add by now
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the facade did not show the report within 30 s")
}

// getter performs one GET with a client and fails unless it answers 200.
type getter func(*http.Client) error

// facadeGet GETs a report's status from the facade.
func facadeGet(url string) getter {
	return func(c *http.Client) error {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return send(c, req)
	}
}

// apiServerGet GETs the same ReportRequest from the API server, with the
// admin's credentials (client certificate) and JSON, as kubectl would.
func apiServerGet(cfg *rest.Config, id string) (getter, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(cfg.Host, "/") + "/apis/" + v1alpha1.GroupVersion.Group + "/" + v1alpha1.GroupVersion.Version +
		"/namespaces/" + namespace + "/reportrequests/" + id
	return func(*http.Client) error {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		return send(httpClient, req)
	}, nil
}

// send performs req and reads the whole body.
func send(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// decode checks the status and reads JSON.
func decode(resp *http.Response, want int, v any) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// result is one side's measurement.
type result struct {
	requests int
	elapsed  time.Duration
	p99      time.Duration
}

// rps is requests per second.
func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// measure runs get from concurrency workers for a warm-up second, then for
// duration, and returns the throughput and the 99th percentile latency.
func measure(duration time.Duration, concurrency int, get getter) (result, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}
	defer transport.CloseIdleConnections()
	c := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	if _, _, err := load(time.Second, concurrency, c, get); err != nil {
		return result{}, err
	}
	latencies, elapsed, err := load(duration, concurrency, c, get)
	if err != nil {
		return result{}, err
	}
	slices.Sort(latencies)
	return result{requests: len(latencies), elapsed: elapsed, p99: latencies[len(latencies)*99/100]}, nil
}

// load runs get in a closed loop from concurrency workers for duration.
func load(duration time.Duration, concurrency int, c *http.Client, get getter) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	start := time.Now()
	stop := start.Add(duration)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := get(c); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr == nil && len(all) == 0 {
		firstErr = errors.New("no request completed")
	}
	return all, time.Since(start), firstErr
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// report prints the figures beside their yardsticks and merges them into
// the JSON table of `make bench`. Latency is inverted: lower is better.
func report(f, a result, concurrency int) error {
	fmt.Printf("facade: %d in flight, %d vs %d requests\n", concurrency, f.requests, a.requests)
	entries := []table.Entry{
		table.Compared("facade GET report status", f.rps(), "req/s", "API server GET of the same object", a.rps(), false),
		table.Compared("facade GET report status, p99 latency", ms(f.p99), "ms", "API server GET p99", ms(a.p99), true),
	}
	return table.Report(entries)
}

// ms converts to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
