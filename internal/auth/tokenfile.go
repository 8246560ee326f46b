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
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// minTokenLength refuses tokens short enough to guess.
const minTokenLength = 16

// TokenFile holds static bearer tokens, for small installs and `reportd dev`.
// Tokens are kept only as SHA-256 digests, so a lookup's timing does not
// depend on how much of a guessed token is right.
type TokenFile struct {
	users map[[sha256.Size]byte]User
}

// LoadTokenFile reads a token file: one "token,user,email" line per user
// (CSV, so a field may be quoted; email may be empty), blank lines and
// lines starting with # ignored.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer func() { _ = f.Close() }()
	tf, err := ParseTokenFile(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tf, nil
}

// ParseTokenFile reads token file lines from r (see LoadTokenFile).
// Errors name the line, never the token.
func ParseTokenFile(r io.Reader) (*TokenFile, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tf := &TokenFile{users: map[[sha256.Size]byte]User{}}
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if err := tf.add(record); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if len(tf.users) == 0 {
		return nil, errors.New("no tokens")
	}
	return tf, nil
}

// add records one line's token.
func (tf *TokenFile) add(record []string) error {
	if len(record) < 2 || len(record) > 3 {
		return errors.New(`want "token,user,email" (email may be empty)`)
	}
	token, user := strings.TrimSpace(record[0]), strings.TrimSpace(record[1])
	email := ""
	if len(record) == 3 {
		email = strings.TrimSpace(record[2])
	}
	if len(token) < minTokenLength {
		return fmt.Errorf("the token is shorter than %d characters", minTokenLength)
	}
	if !validIdentity(user) {
		return errors.New("the user is empty, too long or not printable")
	}
	digest := sha256.Sum256([]byte(token))
	if _, dup := tf.users[digest]; dup {
		return errors.New("the token is used on an earlier line too")
	}
	tf.users[digest] = User{Name: user, Email: email, Method: "token"}
	return nil
}

// Lookup returns the user of token.
func (tf *TokenFile) Lookup(token string) (User, bool) {
	u, ok := tf.users[sha256.Sum256([]byte(token))]
	return u, ok
}

// Len is the number of tokens.
func (tf *TokenFile) Len() int { return len(tf.users) }
