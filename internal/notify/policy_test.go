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
	"net/netip"
	"strings"
	"testing"
)

func TestCheckIP(t *testing.T) {
	apiServer := netip.MustParseAddr("203.0.113.7")
	cases := []struct {
		addr  string
		allow []string
		// refused is a part of the refusal's text; empty when allowed.
		refused string
	}{
		{addr: "93.184.216.34"},
		{addr: "2606:2800:220:1:248:1893:25c8:1946"},
		{addr: "127.0.0.1", refused: "loopback"},
		{addr: "::1", refused: "loopback"},
		{addr: "::ffff:127.0.0.1", refused: "loopback"},
		{addr: "10.1.2.3", refused: "private address (10.0.0.0/8)"},
		{addr: "172.20.0.1", refused: "private"},
		{addr: "192.168.1.1", refused: "private"},
		{addr: "169.254.169.254", refused: "link-local"},
		{addr: "fe80::1", refused: "link-local"},
		{addr: "fd00::1", refused: "private"},
		{addr: "100.64.0.1", refused: "carrier-grade NAT"},
		{addr: "0.0.0.0", refused: "unspecified"},
		{addr: "224.0.0.1", refused: "multicast"},
		{addr: "203.0.113.7", refused: "Kubernetes API server"},
		// The allow-list opens exactly what it names.
		{addr: "127.0.0.1", allow: []string{"127.0.0.0/8"}},
		{addr: "10.20.30.40", allow: []string{"10.20.0.0/16"}},
		{addr: "10.21.0.1", allow: []string{"10.20.0.0/16"}, refused: "private"},
		{addr: "10.9.9.9", allow: []string{"10.9.9.9"}},
		{addr: "203.0.113.7", allow: []string{"203.0.113.7/32"}},
	}
	for _, c := range cases {
		p, err := NewAddressPolicy(c.allow, nil, []netip.Addr{apiServer})
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckIP(netip.MustParseAddr(c.addr))
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s (allow %v): refused: %v", c.addr, c.allow, err)
		case c.refused != "" && err == nil:
			t.Errorf("%s (allow %v): allowed, want refused as %q", c.addr, c.allow, c.refused)
		case c.refused != "" && !strings.Contains(err.Error(), c.refused):
			t.Errorf("%s: %q does not say %q", c.addr, err, c.refused)
		case c.refused != "" && (!IsPermanent(err) || !strings.Contains(err.Error(), AllowCIDRsFlag)):
			t.Errorf("%s: %q should be permanent and name %s", c.addr, err, AllowCIDRsFlag)
		}
	}
}

func TestNewAddressPolicyRejectsBadSettings(t *testing.T) {
	if _, err := NewAddressPolicy([]string{"10.0.0.0/33"}, nil, nil); err == nil || !strings.Contains(err.Error(), AllowCIDRsFlag) {
		t.Errorf("a bad CIDR: %v", err)
	}
	if _, err := NewAddressPolicy(nil, []string{"alice@example.com"}, nil); err == nil || !strings.Contains(err.Error(), "--email-allowed-domains") {
		t.Errorf("an address as a domain: %v", err)
	}
}

func TestCheckEmail(t *testing.T) {
	p, err := NewAddressPolicy(nil, []string{"example.com", "*.corp.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	open, _ := NewAddressPolicy(nil, nil, nil)
	for addr, ok := range map[string]bool{
		"alice@example.com":        true,
		"Alice@EXAMPLE.com":        true,
		"bob@eu.corp.example":      true,
		"bob@corp.example":         false,
		"eve@example.com.evil.org": false,
		"eve@evil.org":             false,
	} {
		err := p.CheckEmail(addr)
		if ok != (err == nil) {
			t.Errorf("%s: allowed %v, want %v (%v)", addr, err == nil, ok, err)
		}
		if err != nil && (!IsPermanent(err) || !strings.Contains(err.Error(), "allowed e-mail domain")) {
			t.Errorf("%s: %q should be permanent and say why", addr, err)
		}
		if err := open.CheckEmail(addr); err != nil {
			t.Errorf("%s without a domain list: %v", addr, err)
		}
	}
	for _, bad := range []string{"Alice <alice@example.com>", "not an address", "a@b@c"} {
		if err := open.CheckEmail(bad); err == nil || !IsPermanent(err) {
			t.Errorf("%q: %v, want a permanent refusal", bad, err)
		}
	}
}
