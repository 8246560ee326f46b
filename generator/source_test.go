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

package generator

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator/encode"
	"reportd.io/reportd/internal/params"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// sourceTestTimeout bounds each database test.
const sourceTestTimeout = 2 * time.Minute

// edgeTableSQL creates a table holding what breaks exporters, in every
// column type the encoders treat differently, readable by the reader role.
const edgeTableSQL = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('=happy', 'sad');
CREATE TABLE edge (
    id  int PRIMARY KEY,
    t   text, n int, x numeric, f float8, b boolean,
    ts  timestamptz, tsl timestamp, d date,
    j   json, jb jsonb, u uuid, iv interval, by bytea, arr text[], m mood, c citext
);
INSERT INTO edge VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, '', 0, 0, 0, false, '2024-03-31 01:30:00+00', '2024-01-01 00:00:00', '2024-01-01',
     '{}', '{}', '00000000-0000-0000-0000-000000000000', '0', '', '{}', 'sad', ''),
 (3, 'Smith, John', -5, -12345678901234567890.123456789, 1e100, true, '2024-01-02 03:04:05.123+01',
     '2024-07-01 12:00:00.5', '2024-02-29', E'{\n  "a": "x,y"\n}', '{"a": [1, "=x"]}',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '-1 days +02:03:04', '\x00ff', '{"=1","a,b",NULL}', '=happy', '=Citext'),
 (4, E'Line One\nLine Two', 2147483647, 'NaN', 'Infinity', NULL, '1890-01-01 00:00:00 Europe/Amsterdam',
     'infinity', '0044-03-15 BC', '"=string"', '-5', NULL, NULL, NULL, NULL, NULL, '-citext'),
 (5, '\.', -2147483648, 1e-20, '-0', NULL, 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, '"Fully Quoted"', NULL, 0.1, 1.5e-7, NULL, '-infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, '=1+2', NULL, NULL, '-1.25', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, '-5', NULL, '-5', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (9, E'\tTab', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (10, E'\rCR', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (11, E'a\r\nb', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO edge (id, t) SELECT 100 + i, name FROM unnest($1::text[]) WITH ORDINALITY AS h(name, i);
GRANT SELECT ON edge TO reportd_reader;`

// edgeQuery reads the edge table with a header that needs quoting too.
const edgeQuery = `SELECT id, t AS "Text, quoted", n, x, f, b, ts, tsl, d, j, jb, u, iv, by, arr, m, c FROM edge ORDER BY id`

// sourceDB is a PostgreSQL server with the sample data and the edge table.
type sourceDB struct {
	pg     *testsupport.Postgres
	admin  *pgx.Conn // superuser
	reader *pgx.Conn // reportd_reader, bound by row-level security
}

// newSourceDB starts the server; everything stops when the test ends.
func newSourceDB(t *testing.T, ctx context.Context) *sourceDB {
	t.Helper()
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &sampledata.Sizes{Users: 200, Orders: 5_000, Products: 100}})
	db := &sourceDB{pg: pg, admin: connect(t, ctx, pg.URL)}
	// The edge table's INSERT takes a parameter, so it runs as separate
	// statements in one transaction.
	err := pgx.BeginFunc(ctx, db.admin, func(tx pgx.Tx) error {
		for _, stmt := range strings.Split(edgeTableSQL, ";\n") {
			var args []any
			if strings.Contains(stmt, "$1") {
				args = append(args, sampledata.HardCustomerNames)
			}
			if _, err := tx.Exec(ctx, stmt, args...); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create the edge table: %v", err)
	}
	db.reader = connect(t, ctx, pg.ReaderURL)
	return db
}

// connect opens a connection closed when the test ends.
func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// copyCSV is what PostgreSQL's COPY ... CSV HEADER writes for query, in a
// session with the given zone.
func copyCSV(t *testing.T, ctx context.Context, conn *pgx.Conn, query, zone string) []byte {
	t.Helper()
	if _, err := conn.Exec(ctx, "SELECT set_config('TimeZone', $1, false), set_config('DateStyle', 'ISO, MDY', false)", zone); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &buf, "COPY ("+query+") TO STDOUT WITH (FORMAT csv, HEADER)"); err != nil {
		t.Fatalf("COPY: %v", err)
	}
	return buf.Bytes()
}

// streamTo runs q through an encoder of format and returns the file.
func streamTo(t *testing.T, ctx context.Context, db TxBeginner, q Query, format v1alpha1.ReportFormat, opts encode.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := encode.New(format, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Stream(ctx, db, q, Handler{Begin: enc.Begin, Row: enc.Row})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if rows == 0 {
		t.Fatal("the query returned no rows; the test would prove nothing")
	}
	return buf.Bytes()
}

func TestStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTestTimeout)
	defer cancel()
	db := newSourceDB(t, ctx)
	t.Run("CSV equals COPY byte for byte", func(t *testing.T) { testCSVEqualsCopy(t, ctx, db) })
	t.Run("neutralised formulas are the only difference from COPY", func(t *testing.T) { testOnlyFormulasDiffer(t, ctx, db) })
	t.Run("a lone \\. in a one-column result is quoted as COPY quotes it", func(t *testing.T) { testSingleColumn(t, ctx, db) })
	t.Run("row-level security gives each requester only their rows", func(t *testing.T) { testRowLevelSecurity(t, ctx, db) })
	t.Run("every exec mode binds the same values and reads text", func(t *testing.T) { testExecModes(t, ctx, db) })
	t.Run("the session runs read-only, repeatable read, in the report's zone", func(t *testing.T) { testSession(t, ctx, db) })
	t.Run("the count and the rows see one snapshot", func(t *testing.T) { testCountSnapshot(t, ctx, db) })
	t.Run("a handler error stops a huge query at once", func(t *testing.T) { testHandlerErrorStops(t, ctx, db) })
	t.Run("errors are classified permanent or transient", func(t *testing.T) { testClassification(t, ctx, db) })
}

// testCSVEqualsCopy compares our CSV, formulas kept, with COPY's.
func testCSVEqualsCopy(t *testing.T, ctx context.Context, db *sourceDB) {
	for _, zone := range []string{"UTC", "Europe/Amsterdam", "Asia/Kolkata"} {
		want := copyCSV(t, ctx, db.admin, edgeQuery, zone)
		got := streamTo(t, ctx, db.reader, Query{SQL: edgeQuery, TimeZone: zone}, v1alpha1.FormatCSV, encode.Options{KeepFormulas: true})
		if !bytes.Equal(got, want) {
			t.Errorf("zone %s: CSV differs from COPY:\n%s", zone, cmp.Diff(string(want), string(got)))
		}
	}
	sales := `SELECT created_at AS "Date", id AS "OrderId", customer_name AS "Customer", total AS "Amount", status AS "Status" FROM orders ORDER BY created_at`
	want := copyCSV(t, ctx, db.admin, sales, "UTC")
	got := streamTo(t, ctx, db.reader, Query{SQL: sales, TimeZone: "UTC"}, v1alpha1.FormatCSV, encode.Options{KeepFormulas: true})
	if !bytes.Equal(got, want) {
		t.Errorf("sales CSV differs from COPY:\n%s", cmp.Diff(string(want), string(got)))
	}
}

// testOnlyFormulasDiffer reads both files as a spreadsheet would and
// allows only a leading ' on text cells that start like a formula.
func testOnlyFormulasDiffer(t *testing.T, ctx context.Context, db *sourceDB) {
	want := readCSV(t, copyCSV(t, ctx, db.admin, edgeQuery, "UTC"))
	got := readCSV(t, streamTo(t, ctx, db.reader, Query{SQL: edgeQuery, TimeZone: "UTC"}, v1alpha1.FormatCSV, encode.Options{}))
	if len(got) != len(want) {
		t.Fatalf("%d records, COPY has %d", len(got), len(want))
	}
	textColumns := map[string]bool{"Text, quoted": true, "m": true, "c": true}
	neutralised := map[string]int{}
	for i := range want {
		for j := range want[i] {
			w, g := want[i][j], got[i][j]
			switch {
			case g == w:
			case i > 0 && textColumns[want[0][j]] && strings.ContainsAny(w[:1], "=+-@\t\r") && g == "'"+w:
				neutralised[want[0][j]]++
			default:
				t.Errorf("record %d column %q: got %q, COPY wrote %q", i, want[0][j], g, w)
			}
		}
	}
	// The edge rows hold formulas in the text, enum and citext columns,
	// and -5 in the integer, numeric and jsonb columns, which stay as they are.
	if neutralised["Text, quoted"] < 8 || neutralised["m"] != 1 || neutralised["c"] != 2 {
		t.Errorf("neutralised cells per column = %v", neutralised)
	}
}

// readCSV parses a CSV file.
func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	return records
}

func testSingleColumn(t *testing.T, ctx context.Context, db *sourceDB) {
	for _, query := range []string{`SELECT t FROM edge ORDER BY id`, `SELECT t, id FROM edge ORDER BY id`} {
		want := copyCSV(t, ctx, db.admin, query, "UTC")
		got := streamTo(t, ctx, db.reader, Query{SQL: query, TimeZone: "UTC"}, v1alpha1.FormatCSV, encode.Options{KeepFormulas: true})
		if !bytes.Equal(got, want) {
			t.Errorf("%s: CSV differs from COPY:\n%s", query, cmp.Diff(string(want), string(got)))
		}
	}
}

// testRowLevelSecurity reads a table with a policy on reportd.requester
// through the reader role, which neither owns it nor is a superuser.
func testRowLevelSecurity(t *testing.T, ctx context.Context, db *sourceDB) {
	_, err := db.admin.Exec(ctx, `
CREATE TABLE secrets (owner text NOT NULL, item text NOT NULL);
INSERT INTO secrets VALUES ('alice@example.com', 'a1'), ('alice@example.com', 'a2'), ('bob@example.com', 'b1');
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secrets FOR SELECT USING (owner = current_setting('reportd.requester', true));
GRANT SELECT ON secrets TO reportd_reader;`)
	if err != nil {
		t.Fatal(err)
	}
	query := `SELECT item FROM secrets ORDER BY item`
	cases := map[string]struct {
		db        TxBeginner
		requester string
		want      []string
	}{
		"alice sees her two rows":                        {db: db.reader, requester: "alice@example.com", want: []string{"a1", "a2"}},
		"bob sees his one row":                           {db: db.reader, requester: "bob@example.com", want: []string{"b1"}},
		"a stranger sees nothing":                        {db: db.reader, requester: "mallory@example.com", want: nil},
		"a requester like a SQL injection is just text":  {db: db.reader, requester: "' OR true --", want: nil},
		"the table owner is not bound: it sees all rows": {db: db.admin, requester: "mallory@example.com", want: []string{"a1", "a2", "b1"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			_, err := Stream(ctx, tc.db, Query{SQL: query, Requester: tc.requester, TimeZone: "UTC"}, Handler{
				Row: func(values [][]byte) error { got = append(got, string(values[0])); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// testExecModes binds one value of every parameter type in each of pgx's
// exec modes and checks the text PostgreSQL sends back.
func testExecModes(t *testing.T, ctx context.Context, db *sourceDB) {
	spec := &v1alpha1.ReportDefinitionSpec{
		Query: "q",
		Parameters: []v1alpha1.ReportParameter{
			{Name: "s", Type: v1alpha1.ParameterString}, {Name: "n", Type: v1alpha1.ParameterInteger},
			{Name: "x", Type: v1alpha1.ParameterNumber}, {Name: "b", Type: v1alpha1.ParameterBoolean},
			{Name: "d", Type: v1alpha1.ParameterDate}, {Name: "t", Type: v1alpha1.ParameterDateTime},
		},
	}
	bound, err := params.Bind(spec, map[string]v1alpha1.ParameterValue{
		"s": "O'Brien'); DROP TABLE edge; --", "n": "-42", "x": "12345678901234567890.123456789",
		"b": "true", "d": "2024-03-31", "t": "2024-03-31T01:30:00Z",
	}, "Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	query := `SELECT @s::text AS s, @n::bigint AS n, @x::numeric AS x, @b::boolean AS b,
	                 @d::date AS d, @d::timestamptz AS day_start, @t::timestamptz AS t, 42 AS answer`
	want := []string{"O'Brien'); DROP TABLE edge; --", "-42", "12345678901234567890.123456789", "t",
		"2024-03-31", "2024-03-31 00:00:00+01", "2024-03-31 03:30:00+02", "42"}
	sales := `SELECT created_at AS "Date", id AS "OrderId", customer_name AS "Customer", total AS "Amount"
	          FROM orders WHERE created_at >= @d::timestamptz AND created_at < @d::timestamptz + interval '7 days' ORDER BY created_at`
	var firstSales []byte
	for _, mode := range []v1alpha1.QueryExecMode{"", "CacheStatement", "CacheDescribe", "DescribeExec", "Exec", "SimpleProtocol"} {
		var got []string
		q := Query{SQL: query, Params: bound.Values, TimeZone: bound.TimeZone, ExecMode: mode}
		_, err := Stream(ctx, db.reader, q, Handler{Row: func(values [][]byte) error {
			for _, v := range values {
				got = append(got, string(v))
			}
			return nil
		}})
		if err != nil {
			t.Fatalf("mode %q: %v", mode, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mode %q values (-want +got):\n%s", mode, diff)
		}
		q.SQL = sales
		csvFile := streamTo(t, ctx, db.reader, q, v1alpha1.FormatCSV, encode.Options{})
		if firstSales == nil {
			firstSales = csvFile
		} else if !bytes.Equal(csvFile, firstSales) {
			t.Errorf("mode %q: the sales CSV differs from CacheStatement's", mode)
		}
	}
	if _, err := ExecMode("Turbo"); err == nil {
		t.Error("an unknown exec mode was accepted")
	}
}

// testSession checks the transaction's settings as the query sees them.
func testSession(t *testing.T, ctx context.Context, db *sourceDB) {
	query := `SELECT current_setting('reportd.requester', true), current_setting('TimeZone'),
	                 current_setting('statement_timeout'), current_setting('transaction_read_only'),
	                 current_setting('transaction_isolation'), current_setting('DateStyle'), now()::text`
	var got []string
	q := Query{SQL: query, Requester: "alice@example.com", TimeZone: "America/New_York", StatementTimeout: 90 * time.Second}
	_, err := Stream(ctx, db.reader, q, Handler{Row: func(values [][]byte) error {
		for _, v := range values {
			got = append(got, string(v))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice@example.com", "America/New_York", "90s", "on", "repeatable read", "ISO, MDY"}
	if diff := cmp.Diff(want, got[:6]); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if off := got[6][len(got[6])-3:]; off != "-05" && off != "-04" {
		t.Errorf("now() = %q, not in New York's zone", got[6])
	}
	// The settings are local to the report's transaction.
	var zone string
	if err := db.reader.QueryRow(ctx, "SELECT current_setting('TimeZone')").Scan(&zone); err != nil || zone == "America/New_York" {
		t.Errorf("the session's zone after the report is %q (%v), want the server default back", zone, err)
	}
	// The statement timeout stops a slow query, and that is not permanent.
	_, err = Stream(ctx, db.reader, Query{SQL: "SELECT pg_sleep(5)", StatementTimeout: 200 * time.Millisecond}, Handler{})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" || IsPermanent(err) {
		t.Errorf("a statement over its timeout gave %v (permanent %v), want a transient 57014", err, IsPermanent(err))
	}
}

// testCountSnapshot inserts an order between the count and the query: in
// one REPEATABLE READ snapshot, the query does not see it either.
func testCountSnapshot(t *testing.T, ctx context.Context, db *sourceDB) {
	var total int64
	q := Query{SQL: "SELECT id FROM orders; ", Count: true, TimeZone: "UTC"}
	rows, err := Stream(ctx, db.reader, q, Handler{
		Total: func(n int64) error {
			total = n
			_, err := db.admin.Exec(ctx, `INSERT INTO orders (id, user_id, customer_name, total, status, created_at)
			                              VALUES (999999, 1, 'Late Arrival', 1, 'paid', now())`)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5_000 || rows != total {
		t.Errorf("count %d, rows %d, want both 5000 (the order inserted meanwhile is in neither)", total, rows)
	}
	// A query ending in a comment still counts: the wrapper breaks the line.
	q.SQL = "SELECT id FROM orders -- all of them"
	if _, err := Stream(ctx, db.reader, q, Handler{Total: func(n int64) error { total = n; return nil }}); err != nil || total != 5_001 {
		t.Errorf("count with a trailing comment = %d, %v; want 5001", total, err)
	}
}

// testHandlerErrorStops fails the handler after ten rows of a billion:
// Stream must return that error without reading the rest (draining them
// took minutes when measured; cancelling, under a second).
func testHandlerErrorStops(t *testing.T, ctx context.Context, db *sourceDB) {
	conn := connect(t, ctx, db.pg.ReaderURL)
	errEnough := errors.New("enough")
	start := time.Now()
	var seen int
	rows, err := Stream(ctx, conn, Query{SQL: "SELECT a FROM generate_series(1, 1000) AS a, generate_series(1, 1000) AS b, generate_series(1, 1000) AS c"}, Handler{
		Row: func([][]byte) error {
			seen++
			if seen > 10 {
				return errEnough
			}
			return nil
		},
	})
	elapsed := time.Since(start)
	if !errors.Is(err, errEnough) || rows != 10 {
		t.Fatalf("Stream = %d, %v; want 10 rows and the handler's error", rows, err)
	}
	if elapsed > 20*time.Second {
		t.Errorf("Stream took %v to stop; it drained the result instead of cancelling", elapsed)
	}
	t.Logf("stopped after %v", elapsed)
}

// testClassification checks IsPermanent on real failures.
func testClassification(t *testing.T, ctx context.Context, db *sourceDB) {
	if _, err := db.admin.Exec(ctx, "CREATE TABLE private_notes (note text)"); err != nil {
		t.Fatal(err)
	}
	streamErr := func(sql string, mode v1alpha1.QueryExecMode) error {
		_, err := Stream(ctx, db.reader, Query{SQL: sql, ExecMode: mode}, Handler{})
		return err
	}
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	connectErr := func(url string) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, url)
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
	// The test server trusts every password, so a missing database stands
	// in for bad datasource settings.
	noDatabase := strings.Replace(db.pg.ReaderURL, "/reportd?", "/nosuchdb?", 1)
	cases := map[string]struct {
		err  error
		want bool
	}{
		"a syntax error":                         {streamErr("SELEC 1", ""), true},
		"an undefined column":                    {streamErr("SELECT nope FROM orders", ""), true},
		"an undefined column, in Exec mode":      {streamErr("SELECT nope FROM orders", "Exec"), true},
		"an undefined table, simple protocol":    {streamErr("SELECT * FROM nowhere", "SimpleProtocol"), true},
		"a table the reader may not read":        {streamErr("SELECT * FROM private_notes", ""), true},
		"division by zero":                       {streamErr("SELECT 1/0", ""), true},
		"a query that writes":                    {streamErr("INSERT INTO orders (id) VALUES (1) RETURNING id", ""), true},
		"no columns":                             {streamErr("SELECT FROM orders", ""), true},
		"a database that does not exist":         {connectErr(noDatabase), true},
		"a refused connection":                   {connectErr("postgres://reportd_reader@" + closedPort + "/reportd?sslmode=disable"), false},
		"rejected parameters":                    {params.Errors{{Parameter: "x", Message: "bad"}}, true},
		"a cell too long for Excel":              {fmt.Errorf("row 1: %w", encode.ErrCellTooLong), true},
		"a cancelled context":                    {context.Canceled, false},
		"an administrator terminating the query": {&pgconn.PgError{Code: "57P01"}, false},
		"a serialization failure":                {&pgconn.PgError{Code: "40001"}, false},
	}
	for name, tc := range cases {
		if tc.err == nil {
			t.Errorf("%s: no error at all", name)
			continue
		}
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", name, tc.err, got, tc.want)
		}
	}
}
