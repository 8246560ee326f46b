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

package sampledata

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultReaderRole is the name of the read-only datasource role the test
// servers and `reportd dev` create next to the sample data.
const DefaultReaderRole = "reportd_reader"

// CreateReaderRole creates the read-only datasource role that reports run
// as: it may log in with password, is no superuser, cannot bypass
// row-level security, owns nothing, and may only SELECT the sample tables
// (plus USAGE on their schema and CONNECT on the database). PostgreSQL's
// row-level security binds only such a role, so policies on the sample
// tables restrict what it reads.
//
// If the role exists it is reset to exactly that (attributes, password,
// grants), unless it is a superuser, may bypass row-level security, or
// owns tables: then CreateReaderRole refuses rather than weaken a role it
// did not make. The password never reaches the server in clear text: it is
// sent as a SCRAM-SHA-256 verifier, so statement logs cannot leak it.
func CreateReaderRole(ctx context.Context, db DB, role, password string) error {
	if err := validateRole(role, password); err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		exists, err := checkExistingRole(ctx, tx, role)
		if err != nil {
			return err
		}
		ident := pgx.Identifier{role}.Sanitize()
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		// Utility statements take no bound parameters; the verifier is
		// base64 and '$'/':' only, and quoteLiteral covers it regardless.
		stmt := verb + " ROLE " + ident +
			" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD " + quoteLiteral(verifier)
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), role, err)
		}
		return grantReads(ctx, tx, ident)
	})
}

// validateRole rejects names PostgreSQL would truncate and passwords whose
// SCRAM normalisation we do not reproduce.
func validateRole(role, password string) error {
	if role == "" || len(role) > 63 {
		return fmt.Errorf("reader role name: must be 1 to 63 bytes, got %d", len(role))
	}
	if password == "" {
		return errors.New("reader role password: must not be empty")
	}
	for _, r := range password {
		if r < 0x20 || r > 0x7e {
			return errors.New("reader role password: must be printable ASCII")
		}
	}
	return nil
}

// checkExistingRole reports whether role exists, and fails if it is one
// that row-level security would not bind.
func checkExistingRole(ctx context.Context, tx pgx.Tx, role string) (bool, error) {
	var super, bypass bool
	var owned int
	err := tx.QueryRow(ctx, `
SELECT r.rolsuper, r.rolbypassrls, (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
FROM pg_roles r WHERE r.rolname = $1`, role).Scan(&super, &bypass, &owned)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up role %s: %w", role, err)
	case super || bypass:
		return false, fmt.Errorf("role %s exists and is a superuser or bypasses row-level security; choose another reader role name", role)
	case owned > 0:
		return false, fmt.Errorf("role %s exists and owns %d relations, so row-level security would not bind it; choose another reader role name", role, owned)
	}
	return true, nil
}

// grantReads gives the role CONNECT on the database, USAGE on the current
// schema and SELECT on the sample tables.
func grantReads(ctx context.Context, tx pgx.Tx, roleIdent string) error {
	var schema, database string
	if err := tx.QueryRow(ctx, "SELECT current_schema(), current_database()").Scan(&schema, &database); err != nil {
		return fmt.Errorf("find the current schema: %w", err)
	}
	tables := make([]string, len(sampleTables))
	for i, name := range sampleTables {
		tables[i] = pgx.Identifier{schema, name}.Sanitize()
	}
	grants := []string{
		// PUBLIC usually has CONNECT already; granting it keeps the role
		// usable where an administrator revoked that.
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{database}.Sanitize() + " TO " + roleIdent,
		"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + roleIdent,
		"GRANT SELECT ON TABLE " + strings.Join(tables, ", ") + " TO " + roleIdent,
	}
	for _, grant := range grants {
		if _, err := tx.Exec(ctx, grant); err != nil {
			return fmt.Errorf("grant read access: %w", err)
		}
	}
	return nil
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier builds the SCRAM-SHA-256 secret PostgreSQL stores for a
// password (RFC 5802/7677, in PostgreSQL's text form), as psql's \password
// does, so the clear-text password is never sent to the server.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("make a password salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("derive the password key: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

// hmacSHA256 returns HMAC-SHA-256(key, message).
func hmacSHA256(key []byte, message string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(message))
	return mac.Sum(nil)
}

// quoteLiteral quotes s as a standard SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
