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

package sampledata_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// sqlState returns the PostgreSQL error code of err, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestReaderRoleMaySelectOnly(t *testing.T) {
	ctx := context.Background()
	reader := connect(t, shared.ReaderURL)

	if n := queryValue[int](t, reader, "SELECT count(*) FROM orders JOIN users ON users.id = orders.user_id"); n != smallSizes.Orders {
		t.Errorf("reader sees %d orders, want %d", n, smallSizes.Orders)
	}
	const insufficientPrivilege = "42501"
	refused := map[string]string{
		"insert":       "INSERT INTO orders (id, customer_name, total, status, created_at) VALUES (0, 'x', 1, 'paid', now())",
		"update":       "UPDATE products SET stock = 0",
		"delete":       "DELETE FROM users",
		"create table": "CREATE TABLE stolen (id int)",
		"truncate":     "TRUNCATE orders",
	}
	for what, sql := range refused {
		if _, err := reader.Exec(ctx, sql); sqlState(err) != insufficientPrivilege {
			t.Errorf("reader may %s: got %v, want permission denied (%s)", what, err, insufficientPrivilege)
		}
	}
	var super, bypass bool
	if err := reader.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Errorf("reader is superuser=%v bypassrls=%v", super, bypass)
	}
}

func TestRowLevelSecurityBindsTheReader(t *testing.T) {
	ctx := context.Background()
	db := clone(t)
	admin := connect(t, db)
	for _, sql := range []string{
		"ALTER TABLE orders ENABLE ROW LEVEL SECURITY",
		`CREATE POLICY own_orders ON orders FOR SELECT USING
		   (user_id IN (SELECT id FROM users WHERE email = current_setting('reportd.requester', true)))`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	alice := sampledata.DemoUsers[0]
	want := queryValue[int](t, admin, "SELECT count(*) FROM orders JOIN users u ON u.id = user_id WHERE u.email = $1", alice)
	if want == 0 || want == smallSizes.Orders {
		t.Fatalf("the demo user has %d of %d orders; the test needs some but not all", want, smallSizes.Orders)
	}

	reader := connect(t, shared.ReaderURLFor(dbName(t, db)))
	err := pgx.BeginFunc(ctx, reader, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('reportd.requester', $1, true)", alice); err != nil {
			return err
		}
		var got int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&got); err != nil {
			return err
		}
		if got != want {
			t.Errorf("reader acting for %s sees %d orders, want only their %d", alice, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := queryValue[int](t, reader, "SELECT count(*) FROM orders"); n != 0 {
		t.Errorf("reader with no requester sees %d orders, want 0", n)
	}
}

func TestReaderRolePasswordIsChecked(t *testing.T) {
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &smallSizes})
	ctx := context.Background()
	admin := connect(t, pg.URL)

	// The test cluster trusts every loopback login; demand the password
	// from the reader alone, so the stored SCRAM verifier is what decides.
	hba := "host all " + sampledata.DefaultReaderRole + " 127.0.0.1/32 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\nlocal all all trust\n"
	if err := os.WriteFile(filepath.Join(pg.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if !queryValue[bool](t, admin, "SELECT pg_reload_conf()") {
		t.Fatal("pg_reload_conf failed")
	}
	stored := queryValue[string](t, admin, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", sampledata.DefaultReaderRole)
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
		t.Errorf("stored password is not a SCRAM verifier: %.20s...", stored)
	}

	conn, err := pgx.Connect(ctx, pg.ReaderURL)
	if err != nil {
		t.Fatalf("reader with the right password: %v", err)
	}
	conn.Close(ctx)
	const invalidPassword = "28P01"
	wrong := strings.Replace(pg.ReaderURL, ":"+passwordOf(t, pg.ReaderURL)+"@", ":wrong@", 1)
	if _, err := pgx.Connect(ctx, wrong); sqlState(err) != invalidPassword {
		t.Errorf("reader with a wrong password: got %v, want %s", err, invalidPassword)
	}

	// Re-running CreateReaderRole resets the password of the existing role.
	if err := sampledata.CreateReaderRole(ctx, admin, sampledata.DefaultReaderRole, "new-secret"); err != nil {
		t.Fatalf("CreateReaderRole again: %v", err)
	}
	if _, err := pgx.Connect(ctx, pg.ReaderURL); sqlState(err) != invalidPassword {
		t.Errorf("old password after a reset: got %v, want %s", err, invalidPassword)
	}
}

func TestCreateReaderRoleRefusesPowerfulRoles(t *testing.T) {
	admin := connect(t, shared.URL)
	err := sampledata.CreateReaderRole(context.Background(), admin, testsupport.PostgresSuperuser, "x")
	if err == nil || !strings.Contains(err.Error(), "superuser") {
		t.Errorf("making the superuser a reader: got %v, want a refusal naming superuser", err)
	}
	if err := sampledata.CreateReaderRole(context.Background(), admin, "", "x"); err == nil {
		t.Error("empty role name accepted")
	}
	if err := sampledata.CreateReaderRole(context.Background(), admin, "r", ""); err == nil {
		t.Error("empty password accepted")
	}
}

// dbName returns the database named in a URL.
func dbName(t *testing.T, raw string) string {
	t.Helper()
	config, err := pgx.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return config.Database
}

// passwordOf returns the password in a URL.
func passwordOf(t *testing.T, raw string) string {
	t.Helper()
	config, err := pgx.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return config.Password
}
