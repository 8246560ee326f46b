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

// Package facade is reportd's HTTP API for end users, who never see
// Kubernetes: it creates ReportRequests for them, shows them only their own
// (and those shared with them), streams live progress and hands out
// downloads. Reads come from a controller-runtime cache indexed by user
// (IndexFields); a read that misses the cache right after a create falls
// back to one live GET. Every answer is JSON; docs/http-api.md describes
// the API and openapi.json is served at /openapi.json.
package facade

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/storage"
)

// Defaults of Options.
const (
	DefaultPresignTTL   = 5 * time.Minute
	DefaultHeartbeat    = 15 * time.Second
	DefaultMaxBodyBytes = 64 << 10
	DefaultListLimit    = 20
	MaxListLimit        = 100
)

// Options configure a Server.
type Options struct {
	// Client reads from the cache (mgr.GetClient()) and writes to the API
	// server. Its cache must have the indexes of IndexFields.
	Client client.Client
	// APIReader reads from the API server directly (mgr.GetAPIReader()),
	// for the one live GET after a cache miss.
	APIReader client.Reader
	// Informers is the cache behind Client (mgr.GetCache()); the event
	// streams listen to its ReportRequest informer.
	Informers cache.Informers
	// Namespace is the one namespace this facade serves.
	Namespace string
	// Store holds the finished files.
	Store storage.Store
	// Authenticator finds the caller of every request but the health
	// checks, the web page and its assets, and signed file links.
	Authenticator auth.Authenticator
	// PublicURL is where users reach the facade (e.g.
	// https://reports.example.com); resultUrl and download links are
	// absolute when it is set.
	PublicURL string
	// Limits guard the facade per user.
	Limits Limits
	// Registerer receives the facade's metrics (metrics.Registry in the
	// manager); none are registered when nil.
	Registerer prometheus.Registerer
	// Logger for errors and the audit log.
	Logger logr.Logger
	// PresignTTL is how long a download link is valid (default 5 minutes).
	PresignTTL time.Duration
	// Heartbeat is how often an idle event stream sends a comment, so
	// proxies do not close it (default 15 s).
	Heartbeat time.Duration
	// MaxBodyBytes bounds a request body (default 64 KiB).
	MaxBodyBytes int64
	// LinkKey signs the facade's own download links for file storage
	// (which cannot presign). All replicas need the same key; a random key
	// is used when empty, which suits the single machine file storage
	// implies.
	LinkKey []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the facade.
type Server struct {
	opts      Options
	client    client.Client
	live      client.Reader
	ns        string
	log       logr.Logger
	audit     logr.Logger
	metrics   *metrics
	limiter   *rateLimiter
	recent    recentCreates
	deleted   recentDeletes
	userLocks [64]sync.Mutex
	hub       *hub
	synced    func() bool
	handler   http.Handler
	mux       *http.ServeMux
	linkKey   []byte
	baseURL   string
	limits    Limits
}

// New checks opts and builds a Server. ctx bounds the registration of the
// event streams' informer handler, which waits for nothing when the cache
// has not started yet (the manager's case).
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		client:  opts.Client,
		live:    opts.APIReader,
		ns:      opts.Namespace,
		log:     opts.Logger.WithName("facade"),
		audit:   opts.Logger.WithName("audit"),
		metrics: m,
		limits:  opts.Limits.withDefaults(),
		linkKey: opts.LinkKey,
		baseURL: strings.TrimSuffix(opts.PublicURL, "/"),
		hub:     newHub(),
	}
	s.limiter = newRateLimiter(s.limits.RequestsPerMinute)
	if len(s.linkKey) == 0 {
		s.linkKey = make([]byte, 32)
		_, _ = rand.Read(s.linkKey)
	}
	if err := s.listen(ctx); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.muxPattern(), rt.handler)
	}
	s.handler = s.instrument(s.mux)
	return s, nil
}

// checkOptions rejects incomplete options and fills in defaults.
func checkOptions(o *Options) error {
	var missing []string
	for name, ok := range map[string]bool{
		"Client": o.Client != nil, "APIReader": o.APIReader != nil, "Informers": o.Informers != nil,
		"Namespace": o.Namespace != "", "Store": o.Store != nil, "Authenticator": o.Authenticator != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("facade options lack %s", strings.Join(missing, ", "))
	}
	if o.PublicURL != "" && !strings.HasPrefix(o.PublicURL, "http://") && !strings.HasPrefix(o.PublicURL, "https://") {
		return errors.New("the facade's public URL must start with http:// or https://")
	}
	if o.PresignTTL <= 0 {
		o.PresignTTL = DefaultPresignTTL
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// listen feeds the ReportRequest informer's changes to the event streams.
func (s *Server) listen(ctx context.Context) error {
	inf, err := s.opts.Informers.GetInformer(ctx, &v1alpha1.ReportRequest{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching ReportRequests for event streams: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.hub.publish(nil, obj) },
		UpdateFunc: s.hub.publish,
		DeleteFunc: func(obj any) { s.hub.publish(obj, nil) },
	})
	if err != nil {
		return fmt.Errorf("watching ReportRequests for event streams: %w", err)
	}
	s.synced = inf.HasSynced
	return nil
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.handler }

// now is the server's clock.
func (s *Server) now() time.Time { return s.opts.Now() }
