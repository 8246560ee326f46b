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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// definition builds a spec from a query and parameters.
func definition(query string, ps ...v1alpha1.ReportParameter) *v1alpha1.ReportDefinitionSpec {
	return &v1alpha1.ReportDefinitionSpec{Query: query, Parameters: ps, TimeZone: "UTC"}
}

// dateParam and friends declare parameters for the check cases.
func dateParam(name string) v1alpha1.ReportParameter {
	return v1alpha1.ReportParameter{Name: name, Type: v1alpha1.ParameterDate}
}

func typedParam(name string, typ v1alpha1.ParameterType) v1alpha1.ReportParameter {
	return v1alpha1.ReportParameter{Name: name, Type: typ}
}

func TestCheckDefinition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTestTimeout)
	defer cancel()
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &sampledata.Sizes{Users: 10, Orders: 10, Products: 10}})
	admin := connect(t, ctx, pg.URL)
	_, err := admin.Exec(ctx, `CREATE TABLE private_notes (note text);
CREATE TABLE guarded (item text);
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON guarded USING (item = current_setting('reportd.requester', true));
GRANT SELECT ON guarded TO reportd_reader;`)
	if err != nil {
		t.Fatal(err)
	}
	reader := connect(t, ctx, pg.ReaderURL)

	sales := definition(`SELECT created_at AS "Date", id AS "OrderId" FROM orders
		WHERE created_at >= @startDate::timestamptz AND created_at < @endDate::timestamptz + interval '1 day' ORDER BY created_at`,
		dateParam("startDate"), dateParam("endDate"))
	keyRange := func(spec *v1alpha1.ReportDefinitionSpec, column string) *v1alpha1.ReportDefinitionSpec {
		s := *spec
		s.Progress = &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressKeyRange, KeyColumn: column, StartParameter: "startDate", EndParameter: "endDate"}
		return &s
	}
	cases := map[string]struct {
		spec *v1alpha1.ReportDefinitionSpec
		// asOwner checks as the tables' owner, a role that could write.
		asOwner bool
		want    CheckResult
		// wantMessage is a part of the message, checked instead of all of it.
		wantMessage string
	}{
		"a good query with KeyRange progress is ready and lists its columns": {
			spec: keyRange(sales, "Date"),
			want: CheckResult{Ready: true, Reason: ReasonChecked, Columns: []string{"Date", "OrderId"}},
		},
		"@names in strings and comments are not parameters": {
			spec: definition("SELECT '@notParam' AS a, \"@col\" FROM (SELECT 1 AS \"@col\") s WHERE 1 = @n -- @neither\n/* @nor */", typedParam("n", v1alpha1.ParameterInteger)),
			want: CheckResult{Ready: true, Reason: ReasonChecked, Columns: []string{"a", "@col"}},
		},
		"a string parameter may go where PostgreSQL wants an integer": {
			spec: definition("SELECT id FROM orders WHERE id = @id", typedParam("id", v1alpha1.ParameterString)),
			want: CheckResult{Ready: true, Reason: ReasonChecked, Columns: []string{"id"}},
		},
		"a number where PostgreSQL infers bigint is fine": {
			spec: definition("SELECT id FROM orders WHERE total > @min", typedParam("min", v1alpha1.ParameterNumber)),
			want: CheckResult{Ready: true, Reason: ReasonChecked, Columns: []string{"id"}},
		},
		"a syntax error is the database's own message": {
			spec: definition("SELEC id FROM orders"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: `syntax error at or near "SELEC" (SQLSTATE 42601)`},
		},
		"an undefined column": {
			spec: definition("SELECT nope FROM orders"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: `column "nope" does not exist (SQLSTATE 42703)`},
		},
		"a table the datasource role may not read": {
			spec: definition("SELECT note FROM private_notes"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: `permission denied for table private_notes (SQLSTATE 42501)`},
		},
		"two statements": {
			spec: definition("SELECT 1; SELECT 2"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: `cannot insert multiple commands into a prepared statement (SQLSTATE 42601)`},
		},
		"a statement without columns": {
			spec: definition("DELETE FROM orders"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: ErrNoColumns.Error()},
		},
		"the read-only role may not write": {
			spec: definition("INSERT INTO orders (id, customer_name, total, status, created_at) VALUES (1, 'x', 1, 'paid', now()) RETURNING id"),
			want: CheckResult{Reason: ReasonQueryInvalid, Message: "permission denied for table orders (SQLSTATE 42501)"},
		},
		"an INSERT with RETURNING has columns but writes": {
			asOwner: true,
			spec:    definition("INSERT INTO orders (id, customer_name, total, status, created_at) VALUES (1, 'x', 1, 'paid', now()) RETURNING id"),
			want:    CheckResult{Reason: ReasonQueryInvalid, Message: "the query writes to a table; a report's query may only read"},
		},
		"a DELETE hidden in a WITH": {
			asOwner: true,
			spec:    definition("WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone"),
			want:    CheckResult{Reason: ReasonQueryInvalid, Message: "the query writes to a table; a report's query may only read"},
		},
		"a SELECT FOR UPDATE": {
			asOwner: true,
			spec:    definition("SELECT id FROM orders WHERE id = @id FOR UPDATE", typedParam("id", v1alpha1.ParameterInteger)),
			want:    CheckResult{Reason: ReasonQueryInvalid, Message: "the query locks rows (FOR UPDATE or FOR SHARE), which a report's read-only transaction refuses"},
		},
		"a row-level security policy does not stop the check": {
			spec: definition("SELECT item FROM guarded WHERE item <> @not", typedParam("not", v1alpha1.ParameterString)),
			want: CheckResult{Ready: true, Reason: ReasonChecked, Columns: []string{"item"}},
		},
		"an @name that is not declared": {
			spec: definition("SELECT id FROM orders WHERE created_at >= @from::timestamptz AND status = @status", dateParam("from")),
			want: CheckResult{Reason: ReasonParametersMismatch, Message: `the query uses @status, which is not a declared parameter`},
		},
		"a declared parameter the query does not use": {
			spec: definition("SELECT id FROM orders", dateParam("from")),
			want: CheckResult{Reason: ReasonParametersMismatch, Message: `parameter "from" is declared but the query does not use @from`},
		},
		"a date where the query wants an integer": {
			spec: definition("SELECT id FROM orders WHERE id = @day", dateParam("day")),
			want: CheckResult{Reason: ReasonParametersMismatch, Columns: []string{"id"},
				Message: `parameter "day" is declared date, but the query uses @day as int8; declare another type or cast it in the query (@day::date)`},
		},
		"a boolean where the query wants a timestamp": {
			spec: definition("SELECT id FROM orders WHERE created_at > @flag", typedParam("flag", v1alpha1.ParameterBoolean)),
			want: CheckResult{Reason: ReasonParametersMismatch, Columns: []string{"id"},
				Message: `parameter "flag" is declared boolean, but the query uses @flag as timestamptz; declare another type or cast it in the query (@flag::boolean)`},
		},
		"a KeyRange column the query does not return": {
			spec: keyRange(sales, "CreatedAt"),
			want: CheckResult{Reason: ReasonDefinitionInvalid, Columns: []string{"Date", "OrderId"},
				Message: `progress.keyColumn "CreatedAt" is not a column of the query's result (Date, OrderId)`},
		},
		"an inconsistent definition is caught before the database is asked": {
			spec: definition("SELECT nope", v1alpha1.ReportParameter{Name: "n", Type: v1alpha1.ParameterInteger, Default: ptrTo("ten")}),
			want: CheckResult{Reason: ReasonDefinitionInvalid, Message: `parameter "n": the default is invalid: "ten" is not an integer`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			db := reader
			if tc.asOwner {
				db = admin
			}
			got := CheckDefinition(ctx, db, tc.spec)
			if tc.want.Ready {
				tc.want.Message = got.Message // the success message is informational
			} else if !strings.HasSuffix(got.Message, tc.want.Message) {
				t.Errorf("message %q does not end with %q", got.Message, tc.want.Message)
			}
			tc.want.Message = got.Message
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckDefinition (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("checking executed nothing: the DELETE and INSERT left the orders alone", func(t *testing.T) {
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 10 {
			t.Errorf("orders = %d (%v), want the 10 loaded", n, err)
		}
	})
	t.Run("a lost connection is transient", func(t *testing.T) {
		lost := connect(t, ctx, pg.ReaderURL)
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", lost.PgConn().PID()); err != nil {
			t.Fatal(err)
		}
		got := CheckDefinition(ctx, lost, sales)
		if got.Ready || got.Reason != ReasonDatasourceUnavailable || !got.Transient {
			t.Errorf("CheckDefinition = %+v, want a transient DatasourceUnavailable", got)
		}
	})
}

// ptrTo returns a pointer to v.
func ptrTo[T any](v T) *T { return &v }
