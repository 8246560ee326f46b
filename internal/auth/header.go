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

package auth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedHeader takes the user from a header set by an authenticating
// proxy (oauth2-proxy, an ingress with external auth), but only on
// connections from the proxy's own addresses: anyone else could set the
// header too. A request from elsewhere that carries the header is refused
// rather than silently authenticated some other way.
type TrustedHeader struct {
	userHeader  string
	emailHeader string
	sources     []netip.Prefix
}

// NewTrustedHeader returns a TrustedHeader reading the user from userHeader
// and the email from emailHeader (optional), trusting connections from
// sources (CIDRs or single addresses; at least one).
func NewTrustedHeader(userHeader, emailHeader string, sources []string) (*TrustedHeader, error) {
	if userHeader == "" {
		return nil, errors.New("the trusted user header needs a name")
	}
	if len(sources) == 0 {
		return nil, errors.New("the trusted user header needs the proxy's source addresses: without them anyone could set it")
	}
	t := &TrustedHeader{userHeader: http.CanonicalHeaderKey(userHeader), emailHeader: http.CanonicalHeaderKey(emailHeader)}
	for _, s := range sources {
		p, err := parseSource(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		t.sources = append(t.sources, p)
	}
	return t, nil
}

// parseSource reads "10.0.0.0/8" or "10.1.2.3".
func parseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted source %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted source %q: %w", s, err)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Authenticate implements Authenticator.
func (t *TrustedHeader) Authenticate(r *http.Request) (User, error) {
	values := r.Header.Values(t.userHeader)
	if len(values) == 0 {
		return User{}, ErrNoCredentials
	}
	if !t.trusted(r.RemoteAddr) {
		return User{}, fail(ReasonUntrustedSource, fmt.Errorf("header %s from an untrusted address", t.userHeader))
	}
	if len(values) != 1 || !validIdentity(strings.TrimSpace(values[0])) {
		return User{}, fail(ReasonMalformed, fmt.Errorf("header %s must hold exactly one identity", t.userHeader))
	}
	u := User{Name: strings.TrimSpace(values[0]), Method: "header"}
	if t.emailHeader != "" {
		u.Email = strings.TrimSpace(r.Header.Get(t.emailHeader))
	}
	return u, nil
}

// trusted reports whether the connection's peer is one of the sources.
func (t *TrustedHeader) trusted(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range t.sources {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
