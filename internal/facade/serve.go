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

package facade

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Timeouts of HTTPServer.
const (
	DefaultWriteTimeout    = 60 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	readHeaderTimeout      = 10 * time.Second
	readTimeout            = 30 * time.Second
	idleTimeout            = 2 * time.Minute
)

// HTTPServer serves a facade handler until its context ends. It is a
// controller-runtime Runnable that needs no leader election, so every
// manager replica serves the facade: mgr.Add(&facade.HTTPServer{...}).
type HTTPServer struct {
	// Handler is Server.Handler().
	Handler http.Handler
	// Addr to listen on, e.g. ":8082"; ignored when Listener is set.
	Addr string
	// Listener, if set, is served instead of listening on Addr.
	Listener net.Listener
	// WriteTimeout bounds writing an answer (default 60 s). Event streams
	// and file downloads lift it for their own response.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the wait for answers in flight (default 10 s).
	ShutdownTimeout time.Duration

	serving atomic.Bool
}

// Serving returns nil while the server accepts connections, for a
// readiness check: the cache may be ready before the server listens.
func (h *HTTPServer) Serving() error {
	if !h.serving.Load() {
		return errors.New("the facade is not listening yet")
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: false.
func (h *HTTPServer) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it serves until ctx ends, then ends
// the event streams and shuts down gracefully.
func (h *HTTPServer) Start(ctx context.Context) error {
	ln := h.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", h.Addr); err != nil {
			return fmt.Errorf("facade: %w", err)
		}
	}
	// Requests get a context of their own that ends when shutdown starts:
	// an event stream never goes idle, so Shutdown alone would wait for it.
	requests, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	srv := &http.Server{
		Handler:           h.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      orDefault(h.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return requests },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	h.serving.Store(true)
	defer h.serving.Store(false)
	select {
	case err := <-served:
		return fmt.Errorf("facade: %w", err)
	case <-ctx.Done():
	}
	endRequests()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), orDefault(h.ShutdownTimeout, DefaultShutdownTimeout))
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
