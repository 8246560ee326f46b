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
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator/encode"
	"reportd.io/reportd/internal/params"
)

// TxBeginner starts transactions: *pgx.Conn and *pgxpool.Pool satisfy it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Query is one report's query and the session it runs in.
type Query struct {
	// SQL is the definition's query with @name parameters.
	SQL string
	// Params are the bound parameters (params.Bound.Values), by name.
	Params map[string]any
	// Requester is the request's requestedBy; the query reads it as
	// current_setting('reportd.requester', true), e.g. in a row-level
	// security policy.
	Requester string
	// TimeZone is the session's TimeZone (params.Bound.TimeZone), so
	// timestamptz values are written in the report's zone; "" keeps the
	// server's.
	TimeZone string
	// StatementTimeout stops each statement after this long; 0 keeps the
	// server's or role's setting.
	StatementTimeout time.Duration
	// ExecMode is the definition's datasource.queryExecMode; "" means
	// CacheStatement. SimpleProtocol or Exec work behind PgBouncer in
	// transaction mode.
	ExecMode v1alpha1.QueryExecMode
	// Count asks for the number of rows first, in the same snapshot, for
	// the Count progress mode. It runs the query once more inside
	// count(*), ORDER BY included: use KeyRange progress for big reports.
	Count bool
}

// Handler receives a query's result. Every function may be nil. An error
// from one stops the query and is returned by Stream as it is.
type Handler struct {
	// Total receives the row count before Begin, when Query.Count asked.
	Total func(total int64) error
	// Begin receives the result's columns, before the first row (and also
	// when there are no rows).
	Begin func(cols []encode.Column) error
	// Row receives one row's values in PostgreSQL's text format, nil for
	// NULL. They are only valid until Row returns.
	Row func(values [][]byte) error
}

// sessionSQL sets the transaction's settings, all bound: the requester for
// row-level security, the report's zone and the statement timeout (each
// kept as it is when empty), and the ISO date style the encoders read.
const sessionSQL = `SELECT set_config('reportd.requester', $1, true),
       set_config('TimeZone', coalesce(nullif($2, ''), current_setting('TimeZone')), true),
       set_config('statement_timeout', coalesce(nullif($3, ''), current_setting('statement_timeout')), true),
       set_config('DateStyle', 'ISO, MDY', true),
       set_config('IntervalStyle', 'postgres', true)`

// Stream runs q in one REPEATABLE READ, READ ONLY transaction (so the count
// and the rows see one snapshot) and hands every row to h as it arrives:
// one query, read in text format, nothing held in memory. It returns the
// number of rows handed to h.Row.
//
// When a handler fails, the query is abandoned by cancelling its read
// rather than draining the remaining rows; with a pool, that connection is
// closed rather than reused.
func Stream(ctx context.Context, db TxBeginner, q Query, h Handler) (int64, error) {
	mode, err := ExecMode(q.ExecMode)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("begin the report's transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read only: nothing to commit
	if _, err := tx.Exec(ctx, sessionSQL, mode, q.Requester, q.TimeZone, timeoutSetting(q.StatementTimeout)); err != nil {
		return 0, fmt.Errorf("set up the report's session: %w", err)
	}
	args := pgx.NamedArgs(bindArgs(q.Params, mode))
	sql := trimQuery(q.SQL)
	if q.Count && h.Total != nil {
		if err := countRows(ctx, tx, sql, mode, args, h.Total); err != nil {
			return 0, err
		}
	}
	return readRows(ctx, cancel, tx, sql, mode, args, h)
}

// countRows counts the query's rows in the transaction's snapshot.
func countRows(ctx context.Context, tx pgx.Tx, sql string, mode pgx.QueryExecMode, args pgx.NamedArgs, total func(int64) error) error {
	// Line breaks keep a trailing -- comment from swallowing the ')'.
	countSQL := "SELECT count(*) FROM (\n" + sql + "\n) AS reportd_count"
	var n int64
	if err := tx.QueryRow(ctx, countSQL, mode, args).Scan(&n); err != nil {
		return fmt.Errorf("count the report's rows: %w", err)
	}
	return total(n)
}

// ErrNoColumns is returned for a query whose result has no columns: it is
// not a SELECT, or selects nothing. Retrying cannot help.
var ErrNoColumns = errors.New("the query returns no columns: a report's query must be a SELECT with at least one column")

// readRows runs the query and feeds h. On a handler error it cancels the
// read first, so closing the rows does not wait for the rest of them.
func readRows(ctx context.Context, cancel context.CancelFunc, tx pgx.Tx, sql string, mode pgx.QueryExecMode, args pgx.NamedArgs, h Handler) (int64, error) {
	rows, err := tx.Query(ctx, sql, mode, pgx.QueryResultFormats{pgx.TextFormatCode}, args)
	if err != nil {
		return 0, fmt.Errorf("run the report's query: %w", err)
	}
	defer rows.Close()
	stop := func(err error) (int64, error) {
		cancel()
		return 0, err
	}
	fields := rows.FieldDescriptions()
	if len(fields) == 0 {
		// In Exec mode a query the server rejects arrives as rows without
		// columns; its error comes with the first read.
		rows.Next()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("run the report's query: %w", err)
		}
		return stop(ErrNoColumns)
	}
	if h.Begin != nil {
		if err := h.Begin(columns(fields)); err != nil {
			return stop(err)
		}
	}
	var n int64
	for rows.Next() {
		if h.Row != nil {
			if err := h.Row(rows.RawValues()); err != nil {
				cancel()
				return n, err
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read the report's rows: %w", err)
	}
	return n, nil
}

// columns turns pgx's field descriptions into the encoders' columns.
func columns(fields []pgconn.FieldDescription) []encode.Column {
	cols := make([]encode.Column, len(fields))
	for i, f := range fields {
		cols[i] = encode.Column{Name: f.Name, OID: f.DataTypeOID}
	}
	return cols
}

// timeoutSetting renders a statement timeout in milliseconds, PostgreSQL's
// unit for it; "" keeps the current setting.
func timeoutSetting(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// trimQuery drops trailing semicolons and space, so the query can be
// wrapped (in count(*)) and prepared as one statement.
func trimQuery(sql string) string {
	return strings.TrimRight(sql, "; \t\r\n")
}

// timeTextLayout writes a time with its own offset, which PostgreSQL reads
// as the same instant, and as the same calendar day when cast to date.
const timeTextLayout = "2006-01-02 15:04:05.999999999-07:00:00"

// bindArgs returns the parameters to bind. In the text-sending modes
// (SimpleProtocol, Exec) pgx would write a time.Time in UTC, so a date
// parameter east of Greenwich cast with ::date would read the day before;
// there times are sent as text with their own offset instead.
func bindArgs(values map[string]any, mode pgx.QueryExecMode) map[string]any {
	if mode != pgx.QueryExecModeSimpleProtocol && mode != pgx.QueryExecModeExec {
		return values
	}
	out := make(map[string]any, len(values))
	for name, v := range values {
		if t, ok := v.(time.Time); ok {
			v = t.Format(timeTextLayout)
		}
		out[name] = v
	}
	return out
}

// ExecMode maps a definition's queryExecMode to pgx's; "" is
// CacheStatement.
func ExecMode(m v1alpha1.QueryExecMode) (pgx.QueryExecMode, error) {
	switch m {
	case "", "CacheStatement":
		return pgx.QueryExecModeCacheStatement, nil
	case "CacheDescribe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "DescribeExec":
		return pgx.QueryExecModeDescribeExec, nil
	case "Exec":
		return pgx.QueryExecModeExec, nil
	case "SimpleProtocol":
		return pgx.QueryExecModeSimpleProtocol, nil
	}
	return 0, fmt.Errorf("unknown queryExecMode %q", m)
}

// permanentSQLStateClasses are the SQLSTATE classes (the code's first two
// characters) for which running the same query again cannot succeed:
//
//	0A feature not supported      21 cardinality violation (a subquery returned two rows)
//	22 data exception (bad input, division by zero, out of range)
//	25 invalid transaction state (the query tried to write)
//	28 invalid authorization (wrong password, no pg_hba entry)
//	2F, 38, 39 routine exceptions  3D invalid database  3F invalid schema
//	42 syntax error or access rule violation (undefined table or column,
//	   insufficient privilege)
//	54 program limit exceeded      P0 PL/pgSQL RAISE EXCEPTION
//
// Everything else is transient: connection trouble (08), shutdowns and
// cancels (57, including statement_timeout's 57014, which the run judges
// against its own deadline), serialization failures and deadlocks (40),
// insufficient resources (53), lock timeouts (55), system errors (58, XX).
var permanentSQLStateClasses = map[string]bool{
	"0A": true, "21": true, "22": true, "25": true, "28": true, "2F": true, "38": true, "39": true,
	"3D": true, "3F": true, "42": true, "54": true, "P0": true,
}

// IsPermanent reports whether err means retrying the report cannot help:
// the database rejected the query or the datasource's credentials (see
// permanentSQLStateClasses), the parameters were rejected, or the result
// cannot be written in the requested format. Network errors, timeouts and
// anything unknown are transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return len(pgErr.Code) == 5 && permanentSQLStateClasses[pgErr.Code[:2]]
	}
	var paramErrs params.Errors
	return errors.As(err, &paramErrs) ||
		errors.Is(err, encode.ErrCellTooLong) || errors.Is(err, encode.ErrTooManyColumns) ||
		errors.Is(err, ErrNoColumns)
}
