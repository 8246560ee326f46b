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
	"net/http"
	"strings"
)

// Bearer authenticates "Authorization: Bearer" tokens: first against the
// token file, then, when the token is a JWT, against the OIDC issuer.
// Either may be nil.
type Bearer struct {
	// Tokens is the static token file, or nil.
	Tokens *TokenFile
	// OIDC verifies JWTs, or nil.
	OIDC *OIDC
}

// Authenticate implements Authenticator.
func (b *Bearer) Authenticate(r *http.Request) (User, error) {
	token, err := bearerToken(r)
	if err != nil {
		return User{}, err
	}
	if b.Tokens != nil {
		if u, ok := b.Tokens.Lookup(token); ok {
			return u, nil
		}
	}
	if b.OIDC != nil && looksLikeJWT(token) {
		return b.OIDC.Verify(r.Context(), token)
	}
	return User{}, fail(ReasonUnknownToken, errors.New("the bearer token is not known"))
}

// looksLikeJWT reports whether token has the three dot-separated parts of a
// compact JWS, so opaque static tokens never reach the issuer's verifier.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}
