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
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"syscall"
)

// deniedRange is an address range webhooks may not reach unless allowed.
type deniedRange struct {
	prefix netip.Prefix
	what   string
}

// deniedRanges are the ranges a webhook URL written by any user could use
// to reach what only the cluster should: the node itself, the cloud's
// metadata service (link-local), and private networks.
var deniedRanges = func() []deniedRange {
	var out []deniedRange
	for _, r := range []struct{ cidr, what string }{
		{"0.0.0.0/8", "an unspecified address"},
		{"127.0.0.0/8", "a loopback address"},
		{"10.0.0.0/8", "a private address"},
		{"172.16.0.0/12", "a private address"},
		{"192.168.0.0/16", "a private address"},
		{"100.64.0.0/10", "a shared (carrier-grade NAT) address"},
		{"169.254.0.0/16", "a link-local address (cloud metadata services live here)"},
		{"192.0.0.0/24", "an IETF protocol address"},
		{"198.18.0.0/15", "a benchmarking address"},
		{"224.0.0.0/4", "a multicast address"},
		{"240.0.0.0/4", "a reserved address"},
		{"::/128", "an unspecified address"},
		{"::1/128", "a loopback address"},
		{"fc00::/7", "a private (unique local) address"},
		{"fe80::/10", "a link-local address"},
		{"ff00::/8", "a multicast address"},
	} {
		out = append(out, deniedRange{prefix: netip.MustParsePrefix(r.cidr), what: r.what})
	}
	return out
}()

// AllowCIDRsFlag is the manager flag that allows denied ranges, named in
// refusals so an operator knows what to change.
const AllowCIDRsFlag = "--webhook-allow-cidrs"

// RefusedError says that a webhook target's address is not allowed. It is
// permanent: the same URL resolves to the same kind of address next time.
type RefusedError struct {
	// Addr is the address the target resolved to.
	Addr netip.Addr
	// What names the kind of address, e.g. "a private address (10.0.0.0/8)".
	What string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: it is %s; allow it with %s if this webhook is meant to reach it",
		e.Addr, e.What, AllowCIDRsFlag)
}

// AddressPolicy says which webhook addresses and e-mail recipients
// reportd may send to, so that users who write a ReportRequest cannot make
// the manager reach into the cluster's network or relay mail anywhere.
type AddressPolicy struct {
	allow        []netip.Prefix
	apiServer    []netip.Addr
	emailDomains []string
}

// NewAddressPolicy builds a policy. allowCIDRs are ranges webhooks may
// reach although denied by default (e.g. "10.20.0.0/16" for an in-cluster
// receiver); apiServer are the Kubernetes API server's addresses, refused
// too; emailDomains limit recipients to those domains ("example.com"
// exactly, "*.example.com" any subdomain), any domain when empty.
func NewAddressPolicy(allowCIDRs, emailDomains []string, apiServer []netip.Addr) (*AddressPolicy, error) {
	p := &AddressPolicy{}
	for _, c := range allowCIDRs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(c)
		if err != nil {
			addr, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR such as 10.0.0.0/8 or an IP address", AllowCIDRsFlag, c)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		p.allow = append(p.allow, prefix.Masked())
	}
	for _, a := range apiServer {
		p.apiServer = append(p.apiServer, a.Unmap())
	}
	for _, d := range emailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@ ") || strings.Trim(strings.TrimPrefix(d, "*."), ".") == "" {
			return nil, fmt.Errorf("--email-allowed-domains: %q is not a domain such as example.com or *.example.com", d)
		}
		p.emailDomains = append(p.emailDomains, d)
	}
	return p, nil
}

// CheckIP returns a *RefusedError when webhooks may not reach addr.
func (p *AddressPolicy) CheckIP(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, a := range p.allow {
		if a.Contains(addr) {
			return nil
		}
	}
	if slices.Contains(p.apiServer, addr) {
		return &RefusedError{Addr: addr, What: "the Kubernetes API server"}
	}
	for _, d := range deniedRanges {
		if d.prefix.Contains(addr) {
			return &RefusedError{Addr: addr, What: fmt.Sprintf("%s (%s)", d.what, d.prefix)}
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses denied addresses.
// It runs after name resolution, on the address actually dialled, so a
// name that resolves to a public address when checked and to a private
// one when used (DNS rebinding) is still refused.
func (p *AddressPolicy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return Permanent(fmt.Errorf("dialing %q: %w", address, err))
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return Permanent(fmt.Errorf("dialing %q: not an IP address", address))
	}
	return p.CheckIP(addr)
}

// CheckEmail checks a recipient: a plain address (no display name) in an
// allowed domain. Its error is permanent.
func (p *AddressPolicy) CheckEmail(recipient string) error {
	parsed, err := mail.ParseAddress(recipient)
	if err != nil || parsed.Address != recipient {
		return Permanent(fmt.Errorf("%q is not a plain e-mail address such as alice@example.com", recipient))
	}
	if len(p.emailDomains) == 0 {
		return nil
	}
	domain := strings.ToLower(recipient[strings.LastIndexByte(recipient, '@')+1:])
	for _, d := range p.emailDomains {
		if domain == d || (strings.HasPrefix(d, "*.") && strings.HasSuffix(domain, d[1:])) {
			return nil
		}
	}
	return Permanent(fmt.Errorf("%s is not in an allowed e-mail domain (%s); reportd does not send mail elsewhere",
		recipient, strings.Join(p.emailDomains, ", ")))
}
