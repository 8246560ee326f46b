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
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	jose "github.com/go-jose/go-jose/v4"

	"reportd.io/reportd/internal/auth"
)

// issuer serves OIDC discovery and its JWKS on loopback and signs tokens.
type issuer struct {
	url string
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	srv.SetIssuer(ts.URL)
	return &issuer{url: ts.URL, key: key}
}

// token signs claims (valid ones for the issuer, changed by edit) with key.
func (is *issuer) token(t *testing.T, key *rsa.PrivateKey, edit func(map[string]any)) string {
	t.Helper()
	claims := map[string]any{
		"iss": is.url, "aud": "reportd", "sub": "u-1",
		"email": "dana@example.com", "email_verified": true,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestOIDCUsers(t *testing.T) {
	is := newIssuer(t)
	o, err := auth.NewOIDC(auth.OIDCConfig{IssuerURL: is.url, Audience: "reportd"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{auth: &auth.Bearer{Tokens: tokens, OIDC: o}})
	good := is.token(t, is.key, nil)
	rep := h.create(good, salesBody)
	if rep.RequestedBy != "dana@example.com" {
		t.Errorf("requestedBy %q, want the verified email", rep.RequestedBy)
	}
	if rr := h.get(rep.ID); rr.Spec.Notify == nil || rr.Spec.Notify.Email[0] != "dana@example.com" {
		t.Errorf("notify %+v", rr.Spec.Notify)
	}
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, good, "").expect(t, http.StatusOK)
	// The token file still works beside OIDC, and alice cannot see dana's report.
	h.request(http.MethodGet, "/api/v1/reports/"+rep.ID, aliceToken, "").expect(t, http.StatusNotFound)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		token, reason, msg string
	}{
		"expired":        {is.token(t, is.key, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "expired", "expired"},
		"wrong audience": {is.token(t, is.key, func(c map[string]any) { c["aud"] = "another-app" }), "invalid_token", "not valid"},
		"bad signature":  {is.token(t, other, nil), "invalid_token", "not valid"},
		"wrong issuer":   {is.token(t, is.key, func(c map[string]any) { c["iss"] = "https://login.example.com" }), "invalid_token", "not valid"},
	} {
		t.Run(name, func(t *testing.T) {
			before := metricValue(t, h.reg, "reportd_facade_authentication_failures_total", map[string]string{"reason": tc.reason})
			resp := h.request(http.MethodPost, "/api/v1/reports", tc.token, salesBody).expect(t, http.StatusUnauthorized)
			expectNoField(t, resp, tc.msg)
			if got := metricValue(t, h.reg, "reportd_facade_authentication_failures_total", map[string]string{"reason": tc.reason}); got != before+1 {
				t.Errorf("failures{reason=%s} went from %v to %v", tc.reason, before, got)
			}
		})
	}
	if n := h.count(); n != 1 {
		t.Errorf("%d reports, want only dana's", n)
	}
}

func TestTrustedHeaderOnlyFromTheProxy(t *testing.T) {
	// The "proxy" connects from 127.0.0.2; everyone else from 127.0.0.1.
	th, err := auth.NewTrustedHeader("X-Forwarded-User", "X-Forwarded-Email", []string{"127.0.0.2/32"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{auth: auth.Chain{th, &auth.Bearer{Tokens: tokens}}})
	proxy := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	send := func(c *http.Client, user string) *response {
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, h.url+"/api/v1/reports", strings.NewReader(salesBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-User", user)
		req.Header.Set("X-Forwarded-Email", user+"@example.com")
		return do(t, c, req)
	}
	rep := send(proxy, "erin").expect(t, http.StatusAccepted).report(t)
	if rep.RequestedBy != "erin" || h.get(rep.ID).Spec.Notify.Email[0] != "erin@example.com" {
		t.Errorf("proxy user: %+v", rep)
	}
	send(http.DefaultClient, "erin").expect(t, http.StatusUnauthorized)
	if got := metricValue(t, h.reg, "reportd_facade_authentication_failures_total", map[string]string{"reason": "untrusted_source"}); got != 1 {
		t.Errorf("untrusted_source failures %v", got)
	}
	// Bearer tokens work from anywhere.
	h.request(http.MethodGet, "/api/v1/reports", aliceToken, "").expect(t, http.StatusOK)
	if n := h.count(); n != 1 {
		t.Errorf("%d reports", n)
	}
}
