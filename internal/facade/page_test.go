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

package facade_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"reportd.io/reportd/internal/facade"
)

// assetLink finds the page's own files in its HTML: src and href values
// under /assets/.
var assetLink = regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`)

func TestThePageIsPublicWithStrictSecurityHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	index := h.request(http.MethodGet, "/", "", "").expect(t, http.StatusOK)
	checkPageHeaders(t, "/", index)
	if ct := index.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := index.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("the page's Cache-Control is %q, want no-cache (revalidated with its ETag)", cc)
	}
	// A notification email's link shows the same page, which then shows
	// that report after sign-in; no user is needed to load it.
	report := h.request(http.MethodGet, "/reports/sales-x7k2m9q4tb", "", "").expect(t, http.StatusOK)
	checkPageHeaders(t, "/reports/{id}", report)
	if string(report.body) != string(index.body) {
		t.Error("/reports/{id} serves another page than /")
	}
	html := string(index.body)
	// The policy forbids inline code: the page must not need any.
	if inline := regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`).FindString(html); inline != "" {
		t.Errorf("the page has inline code (%q), which its policy blocks", inline)
	}
	links := assetLink.FindAllStringSubmatch(html, -1)
	if len(links) < 3 {
		t.Fatalf("the page links %d assets, want its script, style sheet and icon: %s", len(links), html)
	}
	for _, m := range links {
		link := m[1]
		if !strings.Contains(link, "?v=") {
			t.Errorf("%s has no version: browsers could keep a stale copy", link)
		}
		asset := h.request(http.MethodGet, link, "", "").expect(t, http.StatusOK)
		checkPageHeaders(t, link, asset)
		if cc := asset.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want immutable for the versioned URL", link, cc)
		}
		unversioned := strings.Split(link, "?")[0]
		if cc := h.request(http.MethodGet, unversioned, "", "").expect(t, http.StatusOK).header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache without the version", unversioned, cc)
		}
	}
	wantTypes := map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
	for name, want := range wantTypes {
		if got := h.request(http.MethodGet, "/assets/"+name, "", "").expect(t, http.StatusOK).header.Get("Content-Type"); got != want {
			t.Errorf("/assets/%s: Content-Type %q, want %q", name, got, want)
		}
	}
	var body facade.ErrorBody
	h.request(http.MethodGet, "/assets/nothing.js", "", "").expect(t, http.StatusNotFound).decode(t, &body)
	if !strings.Contains(body.Error, "nothing.js") {
		t.Errorf("404 for a missing asset says %q", body.Error)
	}
}

func TestThePageAndAssetsAnswerNotModifiedToTheirETag(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/", "/assets/app.js"} {
		first := h.request(http.MethodGet, path, "", "").expect(t, http.StatusOK)
		etag := first.header.Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
			t.Fatalf("%s: ETag %q", path, etag)
		}
		again := h.request(http.MethodGet, path, "", "", "If-None-Match", etag).expect(t, http.StatusNotModified)
		if len(again.body) != 0 {
			t.Errorf("%s: 304 with a body of %d bytes", path, len(again.body))
		}
		h.request(http.MethodGet, path, "", "", "If-None-Match", `"0000000000000000"`).expect(t, http.StatusOK)
	}
}

// checkPageHeaders checks the headers every page response carries.
func checkPageHeaders(t *testing.T, what string, r *response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": facade.PageSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, must := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, must) {
			t.Errorf("%s: the policy lacks %s", what, must)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: the policy allows inline code: %s", what, csp)
	}
}
