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
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"reportd.io/reportd/internal/auth"
)

// The web page: web/index.html and the files it loads, embedded in the
// binary. The page and its files are public (they hold no data); the API
// calls they make need a user like any other client's.
//
//go:embed web
var webFiles embed.FS

// PageSecurityPolicy is the Content-Security-Policy of the web page: its
// own scripts, styles, images and API only; no inline code, no plugins,
// no framing, forms that post nowhere else.
const PageSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// assetPrefix is where the page's files are served.
const assetPrefix = "/assets/"

// immutable caches a versioned asset for a year: its URL changes with its
// content (?v=<digest>), so a browser never keeps a stale copy.
const immutable = "public, max-age=31536000, immutable"

// webAsset is one embedded file, ready to serve.
type webAsset struct {
	body        []byte
	contentType string
	// version is a digest of body: the ETag and the ?v= of its URL.
	version string
}

// webPage is the page and its assets.
type webPage struct {
	index  webAsset
	assets map[string]webAsset
}

// thePage is built once from the embedded files; a broken embed is a
// build mistake, caught by the tests at start.
var thePage = mustLoadPage(webFiles)

// mustLoadPage reads the embedded files and points index.html at the
// versioned URLs of its assets.
func mustLoadPage(files fs.FS) *webPage {
	p, err := loadPage(files)
	if err != nil {
		panic(err)
	}
	return p
}

// loadPage reads web/index.html and every other file under web/ as an
// asset.
func loadPage(files fs.FS) (*webPage, error) {
	p := &webPage{assets: map[string]webAsset{}}
	entries, err := fs.ReadDir(files, "web")
	if err != nil {
		return nil, fmt.Errorf("reading the web page's files: %w", err)
	}
	var index []byte
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(files, "web/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading the web page's files: %w", err)
		}
		if e.Name() == "index.html" {
			index = body
			continue
		}
		p.assets[e.Name()] = newAsset(e.Name(), body)
	}
	if index == nil {
		return nil, fmt.Errorf("the web page has no index.html")
	}
	// Point the page at each asset's current version, so browsers may
	// cache assets for good and still never run an old script.
	var pairs []string
	for name, a := range p.assets {
		pairs = append(pairs, `"`+assetPrefix+name+`"`, `"`+assetPrefix+name+"?v="+a.version+`"`)
	}
	p.index = newAsset("index.html", []byte(strings.NewReplacer(pairs...).Replace(string(index))))
	return p, nil
}

// assetTypes are the content types of the page's files, fixed here rather
// than read from the machine's MIME tables, which differ between images.
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// newAsset computes an asset's type and version.
func newAsset(name string, body []byte) webAsset {
	sum := sha256.Sum256(body)
	ct, ok := assetTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	return webAsset{body: body, contentType: ct, version: hex.EncodeToString(sum[:8])}
}

// setPageHeaders sets the security headers of every page response.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", PageSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// serve writes the asset with its ETag; http.ServeContent answers
// If-None-Match with 304, HEAD and ranges.
func (a webAsset) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// page serves the web page at GET / and GET /reports/{id} (the page shows
// that report after sign-in; notification emails link there). It needs no
// user: the page asks for a token and keeps it in memory.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	// Revalidate every time (cheap with the ETag): the page names the
	// current versions of its assets.
	thePage.index.serve(w, r, "no-cache")
}

// asset serves GET /assets/{name}: the page's scripts, styles and icon.
// The version the page asks for (?v=) is cached for good; any other
// request is revalidated.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	a, ok := thePage.assets[name]
	if !ok {
		return errorf(http.StatusNotFound, "no such file %q", name)
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == a.version {
		cache = immutable
	}
	a.serve(w, r, cache)
	return nil
}

// openAPI serves GET /openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ auth.User) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
	return nil
}
