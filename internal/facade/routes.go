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
	"errors"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"reportd.io/reportd/internal/auth"
)

// route is one endpoint. The OpenAPI document lists exactly these; a test
// checks both directions.
type route struct {
	method string
	// path as the OpenAPI document writes it.
	path string
	// stream marks event streams, whose duration is not a latency.
	stream  bool
	handler http.Handler
}

// muxPattern is the ServeMux pattern: "/" serves the page only, not every
// path below it.
func (rt route) muxPattern() string {
	p := rt.path
	if p == "/" {
		p = "/{$}"
	}
	return rt.method + " " + p
}

// routes lists every endpoint. Only the web page (its HTML, scripts and
// styles hold no data), the health checks and signed file links need no
// user; a signed link is its own credential.
func (s *Server) routes() []route {
	return []route{
		{method: http.MethodGet, path: "/", handler: http.HandlerFunc(s.page)},
		{method: http.MethodGet, path: "/reports/{id}", handler: http.HandlerFunc(s.page)},
		{method: http.MethodGet, path: "/assets/{name}", handler: s.withErrors(s.asset)},
		{method: http.MethodGet, path: "/healthz", handler: http.HandlerFunc(s.healthz)},
		{method: http.MethodGet, path: "/readyz", handler: http.HandlerFunc(s.readyz)},
		{method: http.MethodGet, path: "/openapi.json", handler: s.authed(s.openAPI)},
		{method: http.MethodPost, path: "/api/v1/reports", handler: s.authed(s.createReport)},
		{method: http.MethodGet, path: "/api/v1/reports", handler: s.authed(s.listReports)},
		{method: http.MethodGet, path: "/api/v1/reports/{id}", handler: s.authed(s.getReport)},
		{method: http.MethodDelete, path: "/api/v1/reports/{id}", handler: s.authed(s.deleteReport)},
		{method: http.MethodGet, path: "/api/v1/reports/{id}/download", handler: s.authed(s.download)},
		{method: http.MethodGet, path: "/api/v1/reports/{id}/file", handler: s.withErrors(s.signedFile)},
		{method: http.MethodGet, path: "/api/v1/reports/{id}/events", stream: true, handler: s.authed(s.reportEvents)},
		{method: http.MethodGet, path: "/api/v1/events", stream: true, handler: s.authed(s.userEvents)},
		{method: http.MethodGet, path: "/api/v1/report-types", handler: s.authed(s.reportTypes)},
	}
}

// apiHandler serves an authenticated request. It returns an *apiError for
// the caller, another error for a 500 (logged, not shown), or nil once it
// has written its answer.
type apiHandler func(w http.ResponseWriter, r *http.Request, u auth.User) error

// authed requires a user, applies the user's request rate, then serves.
func (s *Server) authed(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.opts.Authenticator.Authenticate(r)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if ok, wait := s.limiter.allow(u.Name, s.now()); !ok {
			s.metrics.rateLimited.WithLabelValues("requests").Inc()
			writeError(w, tooMany(wait, "too many requests: at most %d a minute", s.limits.RequestsPerMinute))
			return
		}
		s.finish(w, r, h(w, r, u))
	})
}

// withErrors serves a handler that needs no user.
func (s *Server) withErrors(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.finish(w, r, h(w, r)) })
}

// finish writes a handler's error, if any.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		writeError(w, apiErr)
		return
	}
	s.log.Error(err, "Request failed", "route", r.Pattern)
	writeError(w, internalError())
}

// refuse answers a failed authentication: 401, or 503 when the OIDC
// issuer cannot be reached. The cause is logged, never shown: it may
// describe the token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	reason := auth.Reason(err)
	s.metrics.authFailed.WithLabelValues(reason).Inc()
	if reason == auth.ReasonUnavailable {
		s.log.Error(err, "Cannot verify tokens", "route", r.Pattern)
		writeError(w, errorf(http.StatusServiceUnavailable, "cannot verify tokens right now; try again later"))
		return
	}
	s.log.V(1).Info("Authentication failed", "reason", reason, "route", r.Pattern, "cause", err.Error())
	msg := "authentication required: send Authorization: Bearer <token>"
	switch reason {
	case auth.ReasonMissing:
	case auth.ReasonExpired:
		msg = "the token has expired"
	default:
		msg = "the credentials are not valid"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="reportd"`)
	writeError(w, errorf(http.StatusUnauthorized, "%s", msg))
}

// instrument counts and times every request, and turns the mux's plain
// text 404 and 405 answers into JSON.
func (s *Server) instrument(mux *http.ServeMux) http.Handler {
	streams := map[string]bool{}
	for _, rt := range s.routes() {
		streams[rt.muxPattern()] = rt.stream
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		_, pattern := mux.Handler(r)
		if !canonicalPath(r.URL.Path) {
			// ServeMux would redirect to the cleaned path; a path with
			// "..", "." or "//" (also percent-encoded) names no report, so
			// it gets the plain JSON 404 and never reaches a handler.
			pattern = ""
		}
		if pattern == "" {
			s.unmatched(rec, r, mux)
		} else {
			mux.ServeHTTP(rec, r)
		}
		route := routeLabel(pattern)
		s.metrics.requests.WithLabelValues(route, r.Method, statusText(rec.code())).Inc()
		if !streams[pattern] {
			s.metrics.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		}
	})
}

// canonicalPath reports whether p is in the form ServeMux cleans paths to:
// rooted, without "." or ".." segments or empty segments, a trailing slash
// kept.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// routeLabel is the path part of a mux pattern, or "unmatched".
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// unmatched answers a path or method no route serves, in JSON, keeping
// the mux's status and Allow header.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	probe := &headerProbe{header: http.Header{}}
	h, _ := mux.Handler(r)
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if probe.status == http.StatusMethodNotAllowed {
		writeError(w, errorf(http.StatusMethodNotAllowed, "method %s is not allowed here", r.Method))
		return
	}
	writeError(w, errorf(http.StatusNotFound, "no such endpoint; see /openapi.json"))
}

// headerProbe records what the mux's own error handler would answer.
type headerProbe struct {
	header http.Header
	status int
}

// Header implements http.ResponseWriter.
func (p *headerProbe) Header() http.Header { return p.header }

// Write implements http.ResponseWriter by discarding.
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader implements http.ResponseWriter.
func (p *headerProbe) WriteHeader(code int) { p.status = code }

// statusRecorder remembers the status code written. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush implements http.Flusher, for event streams.
func (r *statusRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status written, 200 when the handler wrote nothing.
func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// statusText renders a status code for the metric label.
func statusText(code int) string { return strconv.Itoa(code) }

// Routes lists the endpoints served, as "METHOD /path" with the OpenAPI
// document's path templates.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
