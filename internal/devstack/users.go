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

package devstack

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// demoUsers are the facade's users: the second lets scripts and tests
// check that users never see each other's reports.
var demoUsers = []DemoUser{
	{Name: "alice", Email: "alice@example.com"},
	{Name: "bob", Email: "bob@example.com"},
}

// tokenFileName is the facade's token file in the data directory.
const tokenFileName = "tokens.csv"

// prepareUsers gives each demo user a random token and writes the token
// file ("token,user,email" lines) the facade reads. A persistent stack
// keeps the tokens of its earlier runs, so printed tokens stay valid.
func (s *Stack) prepareUsers() (string, error) {
	path := filepath.Join(s.dataDir, tokenFileName)
	if users, ok := readTokenFile(path); ok {
		s.Users = users
		return path, nil
	}
	s.Users = make([]DemoUser, len(demoUsers))
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for i, u := range demoUsers {
		token, err := randomToken()
		if err != nil {
			return "", err
		}
		u.Token = token
		s.Users[i] = u
		_ = w.Write([]string{u.Token, u.Name, u.Email})
	}
	w.Flush()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("write the token file: %w", err)
	}
	return path, nil
}

// readTokenFile reads a token file this package wrote; ok is false
// unless it holds every demo user, in order.
func readTokenFile(path string) ([]DemoUser, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(records) != len(demoUsers) {
		return nil, false
	}
	users := make([]DemoUser, len(records))
	for i, r := range records {
		if len(r) != 3 || r[1] != demoUsers[i].Name || len(r[0]) < 32 {
			return nil, false
		}
		users[i] = DemoUser{Token: r[0], Name: r[1], Email: r[2]}
	}
	return users, true
}

// randomToken returns 32 random bytes in hex.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
