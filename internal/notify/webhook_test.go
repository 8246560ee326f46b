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

package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook receiver on loopback answering with the given
// status codes in turn (the last one from then on).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []received
	codes []int
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	rc := &receiver{codes: codes}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		code := rc.codes[min(len(rc.got), len(rc.codes))-1]
		rc.mu.Unlock()
		if code == http.StatusFound {
			http.Redirect(w, r, "http://example.com/", code)
			return
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// loopbackSender may reach the test receivers.
func loopbackSender(t *testing.T) *WebhookSender {
	p, err := NewAddressPolicy([]string{"127.0.0.0/8", "::1/128"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewWebhookSender(p, 5*time.Second, "reportd-test")
}

func TestWebhookSignedReport(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	key := []byte("s3cr3t")
	r := ReportOf(finished(""), "https://reports.example.com")
	if err := loopbackSender(t).PostWebhook(context.Background(), "d-1", WebhookTarget{URL: rc.URL + "/hook", SigningKey: key}, r); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h := got[0].header
	if h.Get(HeaderDelivery) != "d-1" || h.Get(HeaderEvent) != EventCompleted || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	if !Verify(key, got[0].body, h.Get(HeaderSignature)) {
		t.Errorf("the signature %q does not verify", h.Get(HeaderSignature))
	}
	if Verify([]byte("other"), got[0].body, h.Get(HeaderSignature)) {
		t.Error("the signature verifies under another key")
	}
	var back Report
	if err := json.Unmarshal(got[0].body, &back); err != nil || back.ID != r.ID || back.Rows != r.Rows || back.PageURL != r.PageURL {
		t.Errorf("body %s (%v)", got[0].body, err)
	}
}

func TestWebhookSlackUnsigned(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	r := ReportOf(finished("boom"), "")
	if err := loopbackSender(t).PostWebhook(context.Background(), "d-2", WebhookTarget{URL: rc.URL, Slack: true}, r); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()[0]
	var msg map[string]string
	if err := json.Unmarshal(got.body, &msg); err != nil || len(msg) != 1 || !strings.Contains(msg["text"], "failed: boom") {
		t.Errorf("slack body %s (%v)", got.body, err)
	}
	if got.header.Get(HeaderSignature) != "" || got.header.Get(HeaderEvent) != EventFailed {
		t.Errorf("headers %v", got.header)
	}
}

func TestWebhookAnswers(t *testing.T) {
	r := ReportOf(finished(""), "")
	for _, c := range []struct {
		code      int
		permanent bool
		says      string
	}{
		{http.StatusInternalServerError, false, "answered 500 Internal Server Error: Internal Server Error"},
		{http.StatusTooManyRequests, false, "429"},
		{http.StatusNotFound, true, "404"},
		{http.StatusFound, true, "redirects are not followed"},
	} {
		rc := newReceiver(t, c.code)
		err := loopbackSender(t).PostWebhook(context.Background(), "d", WebhookTarget{URL: rc.URL + "/hook?token=secret"}, r)
		if err == nil || IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%d: %v (permanent %v), want permanent %v saying %q", c.code, err, IsPermanent(err), c.permanent, c.says)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the URL's query: %v", err)
		}
	}
}

// TestWebhookRefusedAddresses: without an allow-list, loopback (by IP or
// by a name that resolves to it) and private addresses are refused when
// dialling, before anything is sent.
func TestWebhookRefusedAddresses(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	p, err := NewAddressPolicy(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewWebhookSender(p, 2*time.Second, "reportd-test")
	u, _ := url.Parse(rc.URL)
	byName := "http://localhost:" + u.Port() + "/hook"
	for _, target := range []string{rc.URL, byName, "http://10.255.255.1/hook", "http://[fd00::1]/hook", "http://169.254.169.254/latest/meta-data"} {
		err := s.PostWebhook(context.Background(), "d", WebhookTarget{URL: target}, ReportOf(finished(""), ""))
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "refused to connect") {
			t.Errorf("%s: %v, want a permanent refusal", target, err)
		}
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
	for _, bad := range []string{"ftp://example.com/x", "/relative", "http://"} {
		if err := s.PostWebhook(context.Background(), "d", WebhookTarget{URL: bad}, ReportOf(finished(""), "")); err == nil || !IsPermanent(err) {
			t.Errorf("%q: %v, want a permanent error", bad, err)
		}
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	p, _ := NewAddressPolicy([]string{"127.0.0.0/8"}, nil, nil)
	err := NewWebhookSender(p, 300*time.Millisecond, "t").PostWebhook(context.Background(), "d", WebhookTarget{URL: srv.URL}, ReportOf(finished(""), ""))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "did not answer within") {
		t.Errorf("%v, want a temporary timeout", err)
	}
}
