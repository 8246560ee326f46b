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

package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	jose "github.com/go-jose/go-jose/v4"

	"reportd.io/reportd/internal/auth"
)

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	content := "# token,user,email\n" +
		"alice-token-0123456789,alice,alice@example.com\n" +
		"\n" +
		"bob-token-0123456789abc, bob ,\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := auth.LoadTokenFile(path)
	if err != nil {
		t.Fatalf("LoadTokenFile: %v", err)
	}
	if u, ok := tf.Lookup("alice-token-0123456789"); !ok || u.Name != "alice" || u.Email != "alice@example.com" {
		t.Errorf("alice's token gave %+v, %v", u, ok)
	}
	if u, ok := tf.Lookup("bob-token-0123456789abc"); !ok || u.Name != "bob" || u.Email != "" {
		t.Errorf("bob's token gave %+v, %v", u, ok)
	}
	if _, ok := tf.Lookup("alice-token-012345678"); ok {
		t.Error("a prefix of alice's token was accepted")
	}
}

func TestTokenFileRejects(t *testing.T) {
	for name, content := range map[string]string{
		"short token":     "short,alice,\n",
		"no user":         "alice-token-0123456789,,\n",
		"duplicate token": "alice-token-0123456789,alice,\nalice-token-0123456789,bob,\n",
		"too many fields": "alice-token-0123456789,alice,a@example.com,extra\n",
		"empty":           "# nothing\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := auth.ParseTokenFile(strings.NewReader(content))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "alice-token") {
				t.Errorf("the error repeats the token: %v", err)
			}
		})
	}
}

// request builds a request with an Authorization header from remoteAddr.
func request(authz, remoteAddr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/reports", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	r.RemoteAddr = remoteAddr
	return r
}

func TestTrustedHeader(t *testing.T) {
	th, err := auth.NewTrustedHeader("X-Forwarded-User", "X-Forwarded-Email", []string{"10.0.0.0/8", "192.168.1.5"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote, user string
		wantUser, reason   string
	}{
		{name: "proxy in CIDR", remote: "10.1.2.3:5000", user: "alice", wantUser: "alice"},
		{name: "proxy single address", remote: "192.168.1.5:5000", user: "alice", wantUser: "alice"},
		{name: "elsewhere", remote: "192.168.1.6:5000", user: "alice", reason: auth.ReasonUntrustedSource},
		{name: "no header", remote: "10.1.2.3:5000", reason: auth.ReasonMissing},
		{name: "control character", remote: "10.1.2.3:5000", user: "al\x01ice", reason: auth.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request("", tc.remote)
			if tc.user != "" {
				r.Header.Set("X-Forwarded-User", tc.user)
				r.Header.Set("X-Forwarded-Email", tc.user+"@example.com")
			}
			u, err := th.Authenticate(r)
			if tc.reason != "" {
				if err == nil || auth.Reason(err) != tc.reason {
					t.Fatalf("got %+v, %v; want reason %s", u, err, tc.reason)
				}
				return
			}
			if err != nil || u.Name != tc.wantUser || u.Email != tc.wantUser+"@example.com" {
				t.Fatalf("got %+v, %v", u, err)
			}
		})
	}
	if _, err := auth.NewTrustedHeader("X-Forwarded-User", "", nil); err == nil {
		t.Error("a trusted header without sources was accepted")
	}
}

// issuer is an OIDC issuer served by the test: discovery and JWKS over
// HTTP on loopback, and tokens signed with its key.
type issuer struct {
	url string
	key *rsa.PrivateKey
}

const testAudience = "reportd"

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

// sign signs claims with key under key id k1.
func sign(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// claims returns valid claims for the issuer, changed by edit.
func (is *issuer) claims(edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": is.url, "aud": testAudience, "sub": "u-123",
		"email": "alice@example.com", "email_verified": true,
		"preferred_username": "alice",
		"iat":                time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestOIDC(t *testing.T) {
	is := newIssuer(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		claim    string
		token    string
		wantUser string
		reason   string
	}{
		{name: "verified email", token: sign(t, is.key, is.claims(nil)), wantUser: "alice@example.com"},
		{name: "unverified email falls back to sub", token: sign(t, is.key, is.claims(func(c map[string]any) { c["email_verified"] = false })), wantUser: "u-123"},
		{name: "configured claim", claim: "preferred_username", token: sign(t, is.key, is.claims(nil)), wantUser: "alice"},
		{name: "configured claim missing", claim: "groups", token: sign(t, is.key, is.claims(nil)), reason: auth.ReasonNoIdentity},
		{name: "expired", token: sign(t, is.key, is.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), reason: auth.ReasonExpired},
		{name: "wrong audience", token: sign(t, is.key, is.claims(func(c map[string]any) { c["aud"] = "someone-else" })), reason: auth.ReasonInvalidToken},
		{name: "wrong issuer", token: sign(t, is.key, is.claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), reason: auth.ReasonInvalidToken},
		{name: "bad signature", token: sign(t, other, is.claims(nil)), reason: auth.ReasonInvalidToken},
		{name: "tampered payload", token: tamper(sign(t, is.key, is.claims(nil))), reason: auth.ReasonInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := auth.NewOIDC(auth.OIDCConfig{IssuerURL: is.url, Audience: testAudience, UserClaim: tc.claim})
			if err != nil {
				t.Fatal(err)
			}
			u, err := o.Authenticate(request("Bearer "+tc.token, "127.0.0.1:1"))
			if tc.reason != "" {
				if err == nil || auth.Reason(err) != tc.reason {
					t.Fatalf("got %+v, %v; want reason %s", u, err, tc.reason)
				}
				return
			}
			if err != nil || u.Name != tc.wantUser {
				t.Fatalf("got %+v, %v; want %s", u, err, tc.wantUser)
			}
		})
	}
}

// tamper changes the payload of a compact JWS and keeps the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload := []byte(parts[1])
	payload[len(payload)/2] ^= 1
	parts[1] = string(payload)
	return strings.Join(parts, ".")
}

func TestOIDCIssuerUnreachable(t *testing.T) {
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	o, err := auth.NewOIDC(auth.OIDCConfig{IssuerURL: "http://" + addr, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Discover(ctx); err == nil {
		t.Fatal("discovery of a closed port succeeded")
	}
	_, err = o.Authenticate(request("Bearer a.b.c", "127.0.0.1:1"))
	if auth.Reason(err) != auth.ReasonUnavailable {
		t.Fatalf("got %v, want reason %s", err, auth.ReasonUnavailable)
	}
}

func TestChain(t *testing.T) {
	tf, err := auth.ParseTokenFile(strings.NewReader("alice-token-0123456789,alice,alice@example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	th, err := auth.NewTrustedHeader("X-Forwarded-User", "", []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	chain := auth.Chain{th, &auth.Bearer{Tokens: tf}}
	cases := []struct {
		name, authz, remote, header string
		wantUser, reason            string
	}{
		{name: "token", authz: "Bearer alice-token-0123456789", remote: "10.0.0.2:1", wantUser: "alice"},
		{name: "proxy", remote: "10.0.0.1:1", header: "bob", wantUser: "bob"},
		{name: "spoofed header with a token", authz: "Bearer alice-token-0123456789", remote: "10.0.0.2:1", header: "bob", reason: auth.ReasonUntrustedSource},
		{name: "unknown token", authz: "Bearer nobody-token-0123456789", remote: "10.0.0.2:1", reason: auth.ReasonUnknownToken},
		{name: "basic auth", authz: "Basic YWxpY2U6cHc=", remote: "10.0.0.2:1", reason: auth.ReasonMalformed},
		{name: "nothing", remote: "10.0.0.2:1", reason: auth.ReasonMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.authz, tc.remote)
			if tc.header != "" {
				r.Header.Set("X-Forwarded-User", tc.header)
			}
			u, err := chain.Authenticate(r)
			if tc.reason != "" {
				if err == nil || auth.Reason(err) != tc.reason {
					t.Fatalf("got %+v, %v; want reason %s", u, err, tc.reason)
				}
				if tc.reason == auth.ReasonMissing && !errors.Is(err, auth.ErrNoCredentials) {
					t.Errorf("no credentials gave %v", err)
				}
				return
			}
			if err != nil || u.Name != tc.wantUser {
				t.Fatalf("got %+v, %v", u, err)
			}
		})
	}
}
