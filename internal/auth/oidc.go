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
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Defaults of OIDCConfig.
const (
	// DefaultDiscoveryRetry is how long a failed discovery is remembered
	// before the next request tries again, so an unreachable issuer is not
	// asked once per request.
	DefaultDiscoveryRetry = 10 * time.Second
	// discoveryTimeout bounds one discovery request.
	discoveryTimeout = 10 * time.Second
)

// OIDCConfig configures JWT verification against an OpenID Connect issuer.
type OIDCConfig struct {
	// IssuerURL is the issuer; its keys are found through
	// <IssuerURL>/.well-known/openid-configuration.
	IssuerURL string
	// Audience is the client ID the tokens must be issued for (aud).
	Audience string
	// UserClaim names the claim that holds the identity. Empty means the
	// verified email (email with email_verified true), else sub.
	UserClaim string
	// UserPrefix is prepended to every identity (e.g. "oidc:"), so OIDC
	// users cannot collide with token-file or proxy users of the same name.
	UserPrefix string
	// HTTPClient reaches the issuer; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Now is the clock for expiry checks; time.Now when nil.
	Now func() time.Time
	// DiscoveryRetry overrides DefaultDiscoveryRetry.
	DiscoveryRetry time.Duration
}

// OIDC verifies bearer JWTs: signature against the issuer's published keys
// (fetched and refreshed by go-oidc when a token names an unknown key id),
// issuer, audience and expiry. Discovery happens on first use and is
// retried after a failure, so the facade starts even while the issuer is
// briefly unreachable.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastErr  error
	lastTry  time.Time
}

// NewOIDC checks cfg and returns an OIDC authenticator.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if cfg.IssuerURL == "" {
		return nil, errors.New("OIDC needs an issuer URL")
	}
	if cfg.Audience == "" {
		return nil, errors.New("OIDC needs an audience (the client ID tokens are issued for)")
	}
	if cfg.DiscoveryRetry <= 0 {
		cfg.DiscoveryRetry = DefaultDiscoveryRetry
	}
	return &OIDC{cfg: cfg}, nil
}

// Discover fetches the issuer's configuration now, for a clear error at
// start-up. Verify discovers on demand anyway.
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.verifierFor(ctx, true)
	return err
}

// Authenticate implements Authenticator for bearer JWTs.
func (o *OIDC) Authenticate(r *http.Request) (User, error) {
	token, err := bearerToken(r)
	if err != nil {
		return User{}, err
	}
	return o.Verify(r.Context(), token)
}

// Verify checks a raw JWT and returns its user.
func (o *OIDC) Verify(ctx context.Context, raw string) (User, error) {
	v, err := o.verifierFor(ctx, false)
	if err != nil {
		return User{}, fail(ReasonUnavailable, err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return User{}, fail(ReasonExpired, err)
		}
		return User{}, fail(ReasonInvalidToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return User{}, fail(ReasonInvalidToken, err)
	}
	return o.userFromClaims(claims)
}

// userFromClaims picks the identity and the verified email.
func (o *OIDC) userFromClaims(claims map[string]any) (User, error) {
	email := ""
	if e, _ := claims["email"].(string); e != "" && isTrue(claims["email_verified"]) {
		email = e
	}
	var name string
	switch {
	case o.cfg.UserClaim != "":
		name, _ = claims[o.cfg.UserClaim].(string)
	case email != "":
		name = email
	default:
		name, _ = claims["sub"].(string)
	}
	name = o.cfg.UserPrefix + name
	if name == o.cfg.UserPrefix || !validIdentity(name) {
		return User{}, fail(ReasonNoIdentity, fmt.Errorf("the token has no usable %s claim", o.claimName()))
	}
	return User{Name: name, Email: email, Method: "oidc"}, nil
}

// claimName describes the identity claim for errors.
func (o *OIDC) claimName() string {
	if o.cfg.UserClaim != "" {
		return o.cfg.UserClaim
	}
	return "email or sub"
}

// isTrue reads a boolean claim; some issuers send "true" as a string.
func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// verifierFor returns the verifier, discovering the issuer if needed. A
// recent failure is returned again without a new attempt unless force.
func (o *OIDC) verifierFor(ctx context.Context, force bool) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	if !force && o.lastErr != nil && time.Since(o.lastTry) < o.cfg.DiscoveryRetry {
		return nil, o.lastErr
	}
	o.lastTry = time.Now()
	o.verifier, o.lastErr = o.discover(ctx)
	return o.verifier, o.lastErr
}

// discover reads the issuer's configuration and builds the verifier. Its
// key set lives as long as the process, so it gets a background context.
func (o *OIDC) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if o.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, o.cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("discovering OIDC issuer %s: %w", o.cfg.IssuerURL, err)
	}
	keysCtx := context.Background()
	if o.cfg.HTTPClient != nil {
		keysCtx = oidc.ClientContext(keysCtx, o.cfg.HTTPClient)
	}
	return provider.VerifierContext(keysCtx, &oidc.Config{ClientID: o.cfg.Audience, Now: o.cfg.Now}), nil
}
