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

package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"reportd.io/reportd/internal/sampledata"
)

func init() { addCommand(newSampleDataCommand) }

// sampleDataOptions are the flags of `reportd sample-data`.
type sampleDataOptions struct {
	databaseURL    string
	sizes          sampledata.Sizes
	replace        bool
	readerRole     string
	readerPassword string
}

// newSampleDataCommand returns `reportd sample-data`, which loads the
// sample schema the samples, dev stack and benchmarks use.
func newSampleDataCommand() *cobra.Command {
	opts := sampleDataOptions{sizes: sampledata.DefaultSizes()}
	cmd := &cobra.Command{
		Use:   "sample-data",
		Short: "Create and fill the sample schema (users, orders, products) in PostgreSQL",
		Long: `Create the sample tables users, orders and products in the database's
current schema and fill them with deterministic data generated inside
PostgreSQL: orders between 2024-01-01 and 2025-12-31 UTC, customer names
that exercise CSV and spreadsheet escaping, refunds with negative totals,
products below their reorder level. A million orders load in seconds.

With --reader-password it also creates (or resets) a read-only LOGIN role
for report definitions' datasource: no superuser, owns nothing, SELECT on
the sample tables only, so row-level security policies bind it. Prefer
REPORTD_READER_PASSWORD and REPORTD_DATABASE_URL to flags: command lines
are visible to other users.`,
		Example: `  reportd sample-data --database-url postgres://app@127.0.0.1:5432/reportd --orders 1000000
  REPORTD_READER_PASSWORD=secret reportd sample-data --database-url "$URL" --reader-role reportd_reader`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSampleData(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.databaseURL, "database-url", "", "PostgreSQL URL of the database to fill (required)")
	f.IntVar(&opts.sizes.Users, "users", opts.sizes.Users, "number of users (0 means the default)")
	f.IntVar(&opts.sizes.Orders, "orders", opts.sizes.Orders, "number of orders (0 means the default)")
	f.IntVar(&opts.sizes.Products, "products", opts.sizes.Products, "number of products (0 means the default)")
	f.BoolVar(&opts.replace, "replace", false, "drop existing sample tables first (they are refused otherwise)")
	f.StringVar(&opts.readerRole, "reader-role", sampledata.DefaultReaderRole, "name of the read-only role created when --reader-password is set")
	f.StringVar(&opts.readerPassword, "reader-password", "", "password of the read-only role; no role is created without it")
	return cmd
}

// runSampleData connects, loads the data, creates the reader role if asked,
// and prints what it did and how long it took.
func runSampleData(cmd *cobra.Command, opts sampleDataOptions) error {
	if opts.databaseURL == "" {
		return errors.New("--database-url is required (or REPORTD_DATABASE_URL)")
	}
	if err := opts.sizes.Validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	conn, err := pgx.Connect(ctx, opts.databaseURL)
	if err != nil {
		// pgx's connect errors name host and user, never the password.
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(ctx)

	out := cmd.OutOrStdout()
	if opts.replace {
		if err := sampledata.Drop(ctx, conn); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := sampledata.Load(ctx, conn, opts.sizes); err != nil {
		return err
	}
	fmt.Fprintf(out, "Loaded %d users, %d orders and %d products in %s\n",
		orDefault(opts.sizes.Users, sampledata.DefaultUsers), orDefault(opts.sizes.Orders, sampledata.DefaultOrders),
		orDefault(opts.sizes.Products, sampledata.DefaultProducts), time.Since(start).Round(time.Millisecond))
	if opts.readerPassword == "" {
		return nil
	}
	if err := sampledata.CreateReaderRole(ctx, conn, opts.readerRole, opts.readerPassword); err != nil {
		return err
	}
	fmt.Fprintf(out, "Read-only role %s may SELECT the sample tables\n", opts.readerRole)
	return nil
}

// orDefault returns n, or def when n is zero (as sampledata.Load reads it).
func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
