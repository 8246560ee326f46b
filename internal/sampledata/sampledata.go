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

// Package sampledata creates reportd's sample schema (users, orders,
// products) and fills it with deterministic data for the samples, `reportd
// dev`, tests and benchmarks. The rows are generated inside PostgreSQL with
// generate_series, so a million orders load in seconds, and the same Sizes
// always give the same rows.
//
// The data deliberately contains what breaks naive exporters: customer
// names with commas, quotes, newlines, unicode and spreadsheet formula
// prefixes, NULL last logins, negative totals (refunds) and products below
// their reorder level.
package sampledata

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Default sizes, used for any Sizes field left at zero.
const (
	DefaultUsers    = 1_000
	DefaultOrders   = 10_000
	DefaultProducts = 200
)

// Sizes says how many rows of each table Load generates. A zero field
// means its default; a negative one is an error.
type Sizes struct {
	// Users is the number of users; the last tenth of them has no orders,
	// so a per-user count shows zeros too.
	Users int
	// Orders is the number of orders.
	Orders int
	// Products is the number of products.
	Products int
}

// DefaultSizes returns the sizes used when nothing is said.
func DefaultSizes() Sizes {
	return Sizes{Users: DefaultUsers, Orders: DefaultOrders, Products: DefaultProducts}
}

// Validate reports a negative size, naming the field.
func (s Sizes) Validate() error {
	_, err := s.withDefaults()
	return err
}

// withDefaults fills zero fields with their defaults and rejects negatives.
func (s Sizes) withDefaults() (Sizes, error) {
	fields := []struct {
		name  string
		value *int
		def   int
	}{
		{"users", &s.Users, DefaultUsers},
		{"orders", &s.Orders, DefaultOrders},
		{"products", &s.Products, DefaultProducts},
	}
	for _, f := range fields {
		switch {
		case *f.value < 0:
			return s, fmt.Errorf("sample data size %s: must not be negative, got %d", f.name, *f.value)
		case *f.value == 0:
			*f.value = f.def
		}
	}
	return s, nil
}

// Order times: every generated order's created_at lies in
// [FirstOrderTime, LastOrderTime], both UTC.
var (
	FirstOrderTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	LastOrderTime  = time.Date(2025, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
)

// Statuses are the order statuses the sample data uses. Refunded orders
// have a negative total.
var Statuses = []string{"pending", "paid", "shipped", "refunded", "cancelled"}

// HardCustomerNames are the customer names that break naive CSV, JSON and
// spreadsheet writers. Order id 10k+1 gets HardCustomerNames[k mod len],
// so every one of them appears once Orders >= 10*len(HardCustomerNames).
var HardCustomerNames = []string{
	"Smith, John",
	`Dwayne "The Rock" Johnson`,
	"Line One\nLine Two",
	"Carriage\r\nReturn",
	"Zoë Ünal",
	"山田 太郎",
	"=1+2",
	"=HYPERLINK(\"http://evil.example/\",\"Click me\")",
	"+31 20 555 0100",
	"-Minus Leading",
	"@SUM(A1:A9)",
	"\tTabbed Name",
	"\rCarriage First",
	"O'Brien",
	"",
	"  Padded Name  ",
	`"Fully Quoted"`,
	"Party 🎉 Planner",
	`\N`,
	"Back\\slash",
}

// DemoUsers are the emails of the first users (ids 1, 2, ...), so a demo or
// a row-level security test can sign in as a user who has orders.
var DemoUsers = []string{"alice@example.com", "bob@example.com"}

// Names the ordinary orders and products are built from.
var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Dennis",
		"Frances", "Ken", "Radia", "Niklaus", "Shafi", "Tim", "Leslie", "John"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Ritchie",
		"Allen", "Thompson", "Perlman", "Wirth", "Goldwasser", "Berners-Lee", "Lamport", "Backus", "McCarthy"}
	hardProductNames  = []string{"Widget, large", `12" Ruler`, "Café crème", "=2*3", "Two\nLines", "-40 Thermometer"}
	productAdjectives = []string{"Small", "Large", "Blue", "Red", "Steel", "Wooden", "Compact", "Deluxe"}
	productNouns      = []string{"Widget", "Gadget", "Bracket", "Valve", "Lamp", "Cable", "Hinge", "Sensor", "Panel"}
	// orderStatuses repeats statuses to weight them: mostly paid or shipped.
	orderStatuses = []string{"paid", "paid", "paid", "paid", "shipped", "shipped", "shipped", "pending", "refunded", "cancelled"}
)

//go:embed schema.sql
var schemaSQL string

//go:embed constraints.sql
var constraintsSQL string

// Schema returns the DDL that creates the sample tables, without their
// keys and indexes (see Constraints).
func Schema() string { return schemaSQL }

// Constraints returns the primary keys, unique constraints, foreign key and
// the orders(created_at) index that Load adds once the rows are in.
func Constraints() string { return constraintsSQL }

// sampleTables are the tables Load creates, in the order Drop removes them.
var sampleTables = []string{"orders", "users", "products"}

// ErrSchemaExists is returned (wrapped) by Load when a sample table already
// exists in the database; nothing was changed.
var ErrSchemaExists = errors.New("sample tables already exist")

// DB is what Load, Drop and CreateReaderRole need: *pgx.Conn,
// *pgxpool.Pool and pgx.Tx all satisfy it. Each call runs in one
// transaction, so a failure leaves the database as it was.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Load creates the sample schema in the connection's current schema and
// fills it with sizes rows (zero fields take their defaults). It refuses,
// with an error wrapping ErrSchemaExists, when any sample table is already
// there, so it never mixes with or overwrites existing data.
func Load(ctx context.Context, db DB, sizes Sizes) error {
	sizes, err := sizes.withDefaults()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := refuseExisting(ctx, tx); err != nil {
			return err
		}
		// Sorting for the index builds in memory rather than on disk; LOCAL
		// ends with the transaction and needs no privilege.
		if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
			return fmt.Errorf("tune the load: %w", err)
		}
		steps := []struct {
			what string
			sql  string
			args []any
		}{
			{"create the sample tables", schemaSQL, nil},
			{"insert users", insertUsersSQL, []any{sizes.Users, DemoUsers}},
			{"insert orders", insertOrdersSQL, []any{sizes.Orders, sizes.Users, HardCustomerNames, firstNames, lastNames, orderStatuses}},
			{"insert products", insertProductsSQL, []any{sizes.Products, hardProductNames, productAdjectives, productNouns}},
			{"add keys and indexes", constraintsSQL, nil},
			{"analyze the sample tables", "ANALYZE users, orders, products", nil},
		}
		for _, step := range steps {
			if _, err := tx.Exec(ctx, step.sql, step.args...); err != nil {
				return fmt.Errorf("%s: %w", step.what, err)
			}
		}
		return nil
	})
}

// refuseExisting fails when any sample table exists in the search path.
func refuseExisting(ctx context.Context, tx pgx.Tx) error {
	var existing []string
	err := tx.QueryRow(ctx,
		`SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL`,
		sampleTables).Scan(&existing)
	if err != nil {
		return fmt.Errorf("look for existing sample tables: %w", err)
	}
	if len(existing) > 0 {
		return fmt.Errorf("%w: %s (drop them first, e.g. `reportd sample-data --replace`)", ErrSchemaExists, strings.Join(existing, ", "))
	}
	return nil
}

// Drop removes the sample tables (and whatever depends on them, such as
// row-level security policies), if they exist.
func Drop(ctx context.Context, db DB) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		ids := make([]string, len(sampleTables))
		for i, name := range sampleTables {
			ids[i] = pgx.Identifier{name}.Sanitize()
		}
		if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+strings.Join(ids, ", ")+" CASCADE"); err != nil {
			return fmt.Errorf("drop the sample tables: %w", err)
		}
		return nil
	})
}

// The generating statements. Every pseudo-random choice is arithmetic on
// the row number g (h is Knuth's multiplicative hash of g), never random(),
// so the same sizes give the same rows on every run and in parallel plans.

// insertUsersSQL: $1 users, $2 demo emails for the first ids. Users were
// created in 2023-2024; every fifth has never logged in (NULL last_login).
const insertUsersSQL = `
INSERT INTO users (id, email, created_at, last_login)
SELECT g,
       coalesce(($2::text[])[g], 'user' || g || '@example.com'),
       c.created_at,
       CASE WHEN g % 5 = 0 THEN NULL
            ELSE c.created_at + ((g * 40503) % 34560000) * interval '1 second' END
FROM generate_series(1, $1::bigint) AS g,
     LATERAL (SELECT timestamptz '2023-01-01 00:00:00+00'
                     + ((g * 2654435761) % 63158400) * interval '1 second' AS created_at) AS c`

// insertOrdersSQL: $1 orders, $2 users, $3 hard customer names, $4 first
// names, $5 last names, $6 weighted statuses. 2654435761 is prime, so
// g -> g*2654435761 mod 63158400 (the seconds of 2024-2025) is one-to-one:
// no two orders share a created_at, and sorting by it is deterministic.
// Every fourth order also has milliseconds. Only the first nine tenths of
// the users place orders. Refunds are negative; every thousandth order is
// large.
const insertOrdersSQL = `
INSERT INTO orders (id, user_id, customer_name, total, status, created_at)
SELECT g,
       1 + (g * 7919) % greatest($2::bigint * 9 / 10, 1),
       CASE WHEN g % 10 = 1
            THEN ($3::text[])[1 + (g / 10) % cardinality($3::text[])]
            ELSE ($4::text[])[1 + (h / 7) % cardinality($4::text[])] || ' '
                 || ($5::text[])[1 + (h / 11) % cardinality($5::text[])] END,
       CASE WHEN s.status = 'refunded' THEN -s.amount ELSE s.amount END,
       s.status,
       timestamptz '2024-01-01 00:00:00+00'
         + ((g * 2654435761) % 63158400) * interval '1 second'
         + CASE WHEN g % 4 = 0 THEN (g % 997) * interval '1 millisecond' ELSE interval '0' END
FROM generate_series(1, $1::bigint) AS g,
     LATERAL (SELECT (g * 2654435761) % 4294967296 AS h) AS k,
     LATERAL (SELECT ($6::text[])[1 + (h / 3) % cardinality($6::text[])] AS status,
                     ((h / 13) % 100000)::numeric / 100 * CASE WHEN g % 1000 = 500 THEN 1000 ELSE 1 END AS amount) AS s`

// insertProductsSQL: $1 products, $2 hard product names, $3 adjectives, $4
// nouns. Every fifth product is below its reorder level, every 25th is out
// of stock; the rest are random around it.
const insertProductsSQL = `
INSERT INTO products (id, sku, name, stock, reorder_level, updated_at)
SELECT g,
       'SKU-' || repeat('0', greatest(0, 6 - length(g::text))) || g,
       CASE WHEN g % 10 = 3
            THEN ($2::text[])[1 + (g / 10) % cardinality($2::text[])]
            ELSE ($3::text[])[1 + (h / 5) % cardinality($3::text[])] || ' '
                 || ($4::text[])[1 + (h / 17) % cardinality($4::text[])] END,
       CASE WHEN g % 25 = 0 THEN 0
            WHEN g % 5 = 0 THEN (h % r.level)::int
            ELSE ((h / 3) % 500)::int END,
       r.level,
       timestamptz '2025-01-01 00:00:00+00' + (h % 31536000) * interval '1 second'
FROM generate_series(1, $1::bigint) AS g,
     LATERAL (SELECT (g * 2654435761) % 4294967296 AS h) AS k,
     LATERAL (SELECT (10 + (h / 11) % 90)::int AS level) AS r`
