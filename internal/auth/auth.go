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

// Package auth tells the facade who is calling. Three sources are
// supported and may be combined: a token file (token, user, email a line),
// OpenID Connect bearer JWTs verified against the issuer's published keys,
// and an identity header set by an authenticating proxy, trusted only from
// configured source addresses.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// User is an authenticated caller.
type User struct {
	// Name is the identity reportd records in spec.requestedBy and compares
	// with spec.sharedWith.
	Name string
	// Email is the caller's address when known (notifications go there).
	Email string
	// Method names the authenticator that accepted the caller, for logs.
	Method string
}

// Authenticator finds the user of a request.
type Authenticator interface {
	// Authenticate returns the request's user. It returns an error wrapping
	// ErrNoCredentials when the request carries no credentials this
	// authenticator reads, and an *Error when it carries bad ones.
	Authenticate(r *http.Request) (User, error)
}

// ErrNoCredentials means the request carries no credentials at all.
var ErrNoCredentials = errors.New("no credentials")

// Reasons for a failed authentication, used as a metric label: a small,
// fixed set, never anything taken from the request.
const (
	ReasonMissing         = "missing"
	ReasonMalformed       = "malformed"
	ReasonUnknownToken    = "unknown_token"
	ReasonExpired         = "expired"
	ReasonInvalidToken    = "invalid_token"
	ReasonNoIdentity      = "no_identity"
	ReasonUntrustedSource = "untrusted_source"
	ReasonUnavailable     = "unavailable"
)

// Error is a failed authentication.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Err is the underlying cause, for logs; never shown to the caller,
	// since it may describe the token.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err == nil {
		return "authentication failed: " + e.Reason
	}
	return fmt.Sprintf("authentication failed (%s): %v", e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Reason returns the metric reason of an authentication error.
func Reason(err error) string {
	var authErr *Error
	if errors.As(err, &authErr) {
		return authErr.Reason
	}
	if errors.Is(err, ErrNoCredentials) {
		return ReasonMissing
	}
	return ReasonInvalidToken
}

// fail builds an *Error.
func fail(reason string, err error) error { return &Error{Reason: reason, Err: err} }

// Chain tries authenticators in order: the first that finds credentials
// decides. A request with none gets ErrNoCredentials.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (User, error) {
	for _, a := range c {
		u, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return u, err
	}
	return User{}, ErrNoCredentials
}

// bearerToken returns the token of an "Authorization: Bearer" header, or
// ErrNoCredentials when there is no such header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fail(ReasonMalformed, errors.New("the Authorization header is not a bearer token"))
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fail(ReasonMalformed, errors.New("the bearer token is empty"))
	}
	return token, nil
}

// maxIdentityLength matches spec.requestedBy's bound.
const maxIdentityLength = 256

// validIdentity reports whether s can be recorded as a user identity:
// not empty, within spec.requestedBy's bound, and printable.
func validIdentity(s string) bool {
	if s == "" || len(s) > maxIdentityLength {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
