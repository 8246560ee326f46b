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
	"net/http"

	"reportd.io/reportd/internal/auth"
)

// defaultPage is served at GET / when Options.Page is nil.
const defaultPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reportd</title></head>
<body><h1>reportd</h1>
<p>This is reportd's report API. Send <code>Authorization: Bearer &lt;token&gt;</code>
with every request; <a href="/openapi.json">/openapi.json</a> describes the endpoints.</p>
</body></html>
`

// page serves the web page. It needs no user: the page asks for the
// token and keeps it in memory.
func (s *Server) page() http.Handler {
	if s.opts.Page != nil {
		return s.opts.Page
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(defaultPage))
	})
}

// openAPI serves GET /openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ auth.User) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
	return nil
}
