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
	"context"
	"errors"

	"github.com/spf13/pflag"
)

// Config selects the authenticators; at least one must be configured.
// The facade's command and the manager's both read it from flags.
type Config struct {
	// TokenFile is the path of a token file ("token,user,email" lines).
	TokenFile string
	// OIDC verifies bearer JWTs when IssuerURL is set.
	OIDC OIDCConfig
	// UserHeader is the header an authenticating proxy sets; off when empty.
	UserHeader string
	// EmailHeader is the proxy's email header (optional).
	EmailHeader string
	// TrustedSources are the proxy's addresses (CIDRs), the only peers
	// whose UserHeader is believed.
	TrustedSources []string
}

// AddFlags registers the authentication flags.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, `file of static bearer tokens, one "token,user,email" line each`)
	fs.StringVar(&c.OIDC.IssuerURL, "oidc-issuer-url", c.OIDC.IssuerURL, "OpenID Connect issuer whose signed JWTs are accepted as bearer tokens")
	fs.StringVar(&c.OIDC.Audience, "oidc-audience", c.OIDC.Audience, "client ID the JWTs must be issued for (aud)")
	fs.StringVar(&c.OIDC.UserClaim, "oidc-user-claim", c.OIDC.UserClaim, "JWT claim holding the user identity (default: the verified email, else sub)")
	fs.StringVar(&c.OIDC.UserPrefix, "oidc-user-prefix", c.OIDC.UserPrefix, `prefix added to OIDC identities, e.g. "oidc:"`)
	fs.StringVar(&c.UserHeader, "trusted-user-header", c.UserHeader, "header carrying the user from an authenticating proxy (needs --trusted-sources)")
	fs.StringVar(&c.EmailHeader, "trusted-email-header", c.EmailHeader, "header carrying the user's email from the authenticating proxy")
	fs.StringSliceVar(&c.TrustedSources, "trusted-sources", c.TrustedSources, "addresses or CIDRs of the authenticating proxy; the user header is refused from anywhere else")
}

// New builds the configured authenticators: the trusted header first (a
// proxy's user wins), then bearer tokens from the token file or OIDC.
func New(c Config) (Authenticator, error) {
	var chain Chain
	if c.UserHeader != "" || len(c.TrustedSources) > 0 {
		th, err := NewTrustedHeader(c.UserHeader, c.EmailHeader, c.TrustedSources)
		if err != nil {
			return nil, err
		}
		chain = append(chain, th)
	}
	bearer := &Bearer{}
	if c.TokenFile != "" {
		tf, err := LoadTokenFile(c.TokenFile)
		if err != nil {
			return nil, err
		}
		bearer.Tokens = tf
	}
	if c.OIDC.IssuerURL != "" {
		o, err := NewOIDC(c.OIDC)
		if err != nil {
			return nil, err
		}
		bearer.OIDC = o
	}
	if bearer.Tokens != nil || bearer.OIDC != nil {
		chain = append(chain, bearer)
	}
	if len(chain) == 0 {
		return nil, errors.New("no authentication configured: set --token-file, --oidc-issuer-url or --trusted-user-header")
	}
	return chain, nil
}

// Discover contacts the OIDC issuer of a (possibly chained) authenticator
// now, so a misconfiguration shows at start-up; nil when there is none.
// Verification retries discovery on demand, so an error is a warning.
func Discover(ctx context.Context, a Authenticator) error {
	switch v := a.(type) {
	case Chain:
		for _, inner := range v {
			if err := Discover(ctx, inner); err != nil {
				return err
			}
		}
	case *Bearer:
		if v.OIDC != nil {
			return v.OIDC.Discover(ctx)
		}
	case *OIDC:
		return v.Discover(ctx)
	}
	return nil
}
