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
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// smallSizes is large enough that every hard case appears.
var smallSizes = sampledata.Sizes{Users: 50, Orders: 500, Products: 40}

// shared is one cluster with smallSizes loaded, for the tests that do not
// change it (initdb costs seconds on a busy machine); tests that change
// data work on their own copy (clone).
var shared *testsupport.Postgres

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg, err := testsupport.StartPostgres(ctx, testsupport.PostgresOptions{LoadSample: &smallSizes})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	}
	shared = pg
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
		code = 1
	}
	os.Exit(code)
}

// clone returns the superuser URL of a fresh copy of the shared database.
func clone(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "_").Replace(t.Name()))
	url, err := shared.CloneDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// queryValue runs a one-value query and fails the test on error.
func queryValue[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestLoadCreatesTheDesignedSchema(t *testing.T) {
	conn := connect(t, shared.URL)

	got := queryValue[[]string](t, conn, `
SELECT array_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable ORDER BY table_name, ordinal_position)
FROM information_schema.columns WHERE table_schema = 'public'`)
	want := []string{
		"orders.id bigint NO",
		"orders.user_id bigint YES",
		"orders.customer_name text NO",
		"orders.total numeric NO",
		"orders.status text NO",
		"orders.created_at timestamp with time zone NO",
		"products.id bigint NO",
		"products.sku text NO",
		"products.name text NO",
		"products.stock integer NO",
		"products.reorder_level integer NO",
		"products.updated_at timestamp with time zone NO",
		"users.id bigint NO",
		"users.email text NO",
		"users.created_at timestamp with time zone NO",
		"users.last_login timestamp with time zone YES",
	}
	if !slices.Equal(got, want) {
		t.Errorf("columns:\n got %q\nwant %q", got, want)
	}
	if typ := queryValue[string](t, conn, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'total'`); typ != "numeric(12,2)" {
		t.Errorf("orders.total is %s, want numeric(12,2)", typ)
	}
	constraints := queryValue[[]string](t, conn, `
SELECT array_agg(conrelid::regclass || ' ' || pg_get_constraintdef(oid) ORDER BY 1) FROM pg_constraint WHERE connamespace = 'public'::regnamespace`)
	for _, c := range []string{
		"orders PRIMARY KEY (id)", "orders FOREIGN KEY (user_id) REFERENCES users(id)",
		"products PRIMARY KEY (id)", "products UNIQUE (sku)", "users PRIMARY KEY (id)", "users UNIQUE (email)",
	} {
		if !slices.Contains(constraints, c) {
			t.Errorf("constraint %q missing; have %q", c, constraints)
		}
	}
	index := queryValue[string](t, conn, `SELECT indexdef FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%(created_at)'`)
	if !strings.Contains(index, "btree (created_at)") {
		t.Errorf("orders has no created_at index: %q", index)
	}
}

func TestLoadFillsTheHardCases(t *testing.T) {
	conn := connect(t, shared.URL)

	for table, want := range map[string]int{"users": smallSizes.Users, "orders": smallSizes.Orders, "products": smallSizes.Products} {
		if n := queryValue[int](t, conn, "SELECT count(*) FROM "+table); n != want {
			t.Errorf("%s has %d rows, want %d", table, n, want)
		}
	}

	names := queryValue[[]string](t, conn, "SELECT array_agg(DISTINCT customer_name) FROM orders")
	for _, hard := range sampledata.HardCustomerNames {
		if !slices.Contains(names, hard) {
			t.Errorf("no order has the customer name %q", hard)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "\n") }) ||
		!slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "=") }) {
		t.Errorf("customer names lack a newline or a leading '=': %q", names)
	}

	var first, last time.Time
	var distinct int
	if err := conn.QueryRow(context.Background(), "SELECT min(created_at), max(created_at), count(DISTINCT created_at) FROM orders").Scan(&first, &last, &distinct); err != nil {
		t.Fatal(err)
	}
	if first.Before(sampledata.FirstOrderTime) || last.After(sampledata.LastOrderTime) {
		t.Errorf("orders span %s..%s, outside %s..%s", first, last, sampledata.FirstOrderTime, sampledata.LastOrderTime)
	}
	if distinct != smallSizes.Orders {
		t.Errorf("%d distinct created_at for %d orders: sorting by created_at would not be deterministic", distinct, smallSizes.Orders)
	}
	if ms := queryValue[int](t, conn, "SELECT count(*) FROM orders WHERE extract(milliseconds FROM created_at)::numeric % 1000 <> 0"); ms == 0 {
		t.Error("no order has fractional seconds")
	}

	statuses := queryValue[[]string](t, conn, "SELECT array_agg(DISTINCT status ORDER BY status) FROM orders")
	if want := slices.Sorted(slices.Values(sampledata.Statuses)); !slices.Equal(statuses, want) {
		t.Errorf("statuses %q, want %q", statuses, want)
	}
	if n := queryValue[int](t, conn, "SELECT count(*) FROM orders WHERE (status = 'refunded') <> (total < 0)"); n != 0 {
		t.Errorf("%d orders are negative but not refunded, or refunded but not negative", n)
	}
	checks := map[string]string{
		"users who never logged in":      "SELECT count(*) FROM users WHERE last_login IS NULL",
		"users without orders":           "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
		"products below reorder level":   "SELECT count(*) FROM products WHERE stock < reorder_level",
		"products at or above the level": "SELECT count(*) FROM products WHERE stock >= reorder_level",
		"totals with cents":              "SELECT count(*) FROM orders WHERE total <> trunc(total)",
	}
	for what, sql := range checks {
		if n := queryValue[int](t, conn, sql); n == 0 {
			t.Errorf("no %s", what)
		}
	}
	if n := queryValue[int](t, conn, "SELECT count(*) FROM users WHERE email = ANY($1)", sampledata.DemoUsers); n != len(sampledata.DemoUsers) {
		t.Errorf("%d of the demo users %q exist", n, sampledata.DemoUsers)
	}
}

func TestLoadIsDeterministicAndRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, shared.URL)
	if _, err := conn.Exec(ctx, "CREATE DATABASE again"); err != nil {
		t.Fatal(err)
	}
	again := connect(t, shared.DatabaseURL("again"))
	if err := sampledata.Load(ctx, again, smallSizes); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, table := range []string{"users", "orders", "products"} {
		sum := "SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM " + table + " t"
		if a, b := queryValue[string](t, conn, sum), queryValue[string](t, again, sum); a != b {
			t.Errorf("%s differs between two loads with the same sizes", table)
		}
	}

	err := sampledata.Load(ctx, again, smallSizes)
	if !errors.Is(err, sampledata.ErrSchemaExists) {
		t.Fatalf("second Load: got %v, want ErrSchemaExists", err)
	}
	if n := queryValue[int](t, again, "SELECT count(*) FROM orders"); n != smallSizes.Orders {
		t.Errorf("refused Load changed orders to %d rows", n)
	}
	if err := sampledata.Drop(ctx, again); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if err := sampledata.Load(ctx, again, sampledata.Sizes{Users: 3, Orders: 7, Products: 2}); err != nil {
		t.Fatalf("Load after Drop: %v", err)
	}
	if n := queryValue[int](t, again, "SELECT count(*) FROM orders"); n != 7 {
		t.Errorf("orders after reload: %d, want 7", n)
	}
}

func TestLoadRejectsNegativeSizes(t *testing.T) {
	err := sampledata.Load(context.Background(), nil, sampledata.Sizes{Orders: -1})
	if err == nil || !strings.Contains(err.Error(), "orders") {
		t.Errorf("got %v, want an error naming orders", err)
	}
}
