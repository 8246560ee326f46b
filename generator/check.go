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
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/params"
)

// Reasons of a definition check, for the Ready condition.
const (
	// ReasonChecked: the query prepares and its parameters match.
	ReasonChecked = "Checked"
	// ReasonDefinitionInvalid: the definition contradicts itself (a default
	// of the wrong type, a rule that does not compile, a progress key
	// column the query does not return...).
	ReasonDefinitionInvalid = "DefinitionInvalid"
	// ReasonParametersMismatch: the query and the declared parameters
	// disagree (an @name not declared, a parameter not used, a type the
	// query cannot take).
	ReasonParametersMismatch = "ParametersMismatch"
	// ReasonQueryInvalid: the database rejects the query.
	ReasonQueryInvalid = "QueryInvalid"
	// ReasonDatasourceUnavailable: the database could not be reached.
	ReasonDatasourceUnavailable = "DatasourceUnavailable"
)

// CheckResult is what a definition check found.
type CheckResult struct {
	// Ready is true when reports of this type can run.
	Ready bool
	// Reason is one of the Reason constants.
	Reason string
	// Message says what is wrong, in the database's own words for a
	// rejected query.
	Message string
	// Columns are the query's result columns, when it prepared.
	Columns []string
	// Transient is true when the check could not be made (the database was
	// unreachable): retry later rather than blame the definition.
	Transient bool
}

// CheckDefinition checks a report definition against its database, as the
// ReportDefinition reconciler does after every change:
//
//  1. params.ValidateDefinition (defaults, bounds, rules, time zone);
//  2. every @name in the query is a declared parameter, and every declared
//     parameter is used;
//  3. the query prepares, in a read-only transaction, with the @names
//     rewritten to $n as pgx rewrites them, and its plan (EXPLAIN with
//     NULL parameters) passes the role's privileges and neither writes
//     nor locks rows;
//  4. the types PostgreSQL infers for the parameters can take the declared
//     types (see compatibleTypes: only clear contradictions count, such as
//     a date parameter where the query wants an integer);
//  5. a KeyRange progress's keyColumn is one of the result's columns.
//
// Nothing is executed: preparing and explaining parse, analyse and plan
// the query. Found by a check or not, a query that writes still fails at
// run time, in the report's read-only transaction.
func CheckDefinition(ctx context.Context, db TxBeginner, spec *v1alpha1.ReportDefinitionSpec) CheckResult {
	if err := params.ValidateDefinition(spec); err != nil {
		return CheckResult{Reason: ReasonDefinitionInvalid, Message: err.Error()}
	}
	used, sql, err := usedParameters(spec.Query)
	if err != nil {
		return CheckResult{Reason: ReasonQueryInvalid, Message: err.Error()}
	}
	if msg := nameMismatches(spec, used); msg != "" {
		return CheckResult{Reason: ReasonParametersMismatch, Message: msg}
	}
	desc, res := prepare(ctx, db, sql)
	if desc == nil {
		return res
	}
	cols := make([]string, len(desc.Fields))
	for i, f := range desc.Fields {
		cols[i] = f.Name
	}
	if msg := typeMismatches(spec, used, desc.ParamOIDs); msg != "" {
		return CheckResult{Reason: ReasonParametersMismatch, Message: msg, Columns: cols}
	}
	if pr := spec.Progress; pr != nil && pr.Mode == v1alpha1.ProgressKeyRange && !slices.Contains(cols, pr.KeyColumn) {
		return CheckResult{Reason: ReasonDefinitionInvalid, Columns: cols, Message: fmt.Sprintf(
			"progress.keyColumn %q is not a column of the query's result (%s)", pr.KeyColumn, strings.Join(cols, ", "))}
	}
	return CheckResult{Ready: true, Reason: ReasonChecked, Columns: cols, Message: fmt.Sprintf(
		"The query prepares against its database; %d columns, %d parameters", len(cols), len(used))}
}

// prepare describes sql in a read-only transaction, then explains it with
// NULL parameters: preparing parses and analyses the query, but only
// planning it for execution checks the role's privileges (and shows
// whether it would write). On failure it returns a nil description and
// the result to report.
func prepare(ctx context.Context, db TxBeginner, sql string) (*pgconn.StatementDescription, CheckResult) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, unavailable(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	conn := tx.Conn().PgConn()
	// The unnamed statement leaves nothing behind on the session, and
	// bypasses pgx's statement cache.
	desc, err := conn.Prepare(ctx, "", sql, nil)
	if err != nil {
		return nil, failed(err)
	}
	if len(desc.Fields) == 0 {
		return nil, CheckResult{Reason: ReasonQueryInvalid, Message: ErrNoColumns.Error()}
	}
	nulls := make([][]byte, len(desc.ParamOIDs))
	res := conn.ExecParams(ctx, "EXPLAIN (FORMAT JSON) "+sql, nulls, desc.ParamOIDs, nil, nil).Read()
	if res.Err != nil {
		return nil, failed(res.Err)
	}
	if msg := writesOrLocks(res.Rows); msg != "" {
		return nil, CheckResult{Reason: ReasonQueryInvalid, Message: msg}
	}
	return desc, CheckResult{}
}

// failed is the result for an error from the database: the query's fault
// when the error is permanent, else the database's.
func failed(err error) CheckResult {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && IsPermanent(err) {
		return CheckResult{Reason: ReasonQueryInvalid, Message: describePgError(pgErr)}
	}
	return unavailable(err)
}

// planNode is the part of EXPLAIN (FORMAT JSON) that writesOrLocks reads.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Plans    []planNode `json:"Plans"`
}

// writesOrLocks explains why a plan cannot run in a read-only transaction:
// it modifies a table (INSERT, UPDATE, DELETE, also inside a WITH) or
// locks rows (FOR UPDATE, FOR SHARE). "" when it only reads.
func writesOrLocks(rows [][][]byte) string {
	if len(rows) != 1 || len(rows[0]) != 1 {
		return ""
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if json.Unmarshal(rows[0][0], &plans) != nil {
		return ""
	}
	var walk func(n planNode) string
	walk = func(n planNode) string {
		switch n.NodeType {
		case "ModifyTable":
			return "the query writes to a table; a report's query may only read"
		case "LockRows":
			return "the query locks rows (FOR UPDATE or FOR SHARE), which a report's read-only transaction refuses"
		}
		for _, c := range n.Plans {
			if msg := walk(c); msg != "" {
				return msg
			}
		}
		return ""
	}
	for _, p := range plans {
		if msg := walk(p.Plan); msg != "" {
			return msg
		}
	}
	return ""
}

// unavailable is the result for a database that could not be asked.
func unavailable(err error) CheckResult {
	return CheckResult{Reason: ReasonDatasourceUnavailable, Transient: true,
		Message: fmt.Sprintf("could not check the query against its database: %v", err)}
}

// describePgError is PostgreSQL's message with its code, detail and hint.
func describePgError(e *pgconn.PgError) string {
	msg := e.Message + " (SQLSTATE " + e.Code + ")"
	if e.Detail != "" {
		msg += "; " + e.Detail
	}
	if e.Hint != "" {
		msg += "; hint: " + e.Hint
	}
	return msg
}

// namedCandidate finds every @name-like text, in strings and comments
// too; pgx's own rewrite then tells which of them are parameters.
var namedCandidate = regexp.MustCompile(`@[A-Za-z_][A-Za-z0-9_]*`)

// usedParameters returns the named parameters the query uses, in the order
// of their $n, and the query rewritten with $n, exactly as pgx.NamedArgs
// rewrites it when the report runs (it skips quoted text and comments).
func usedParameters(query string) ([]string, string, error) {
	candidates := pgx.NamedArgs{}
	for _, m := range namedCandidate.FindAllString(query, -1) {
		candidates[m[1:]] = m[1:]
	}
	sql, args, err := candidates.RewriteQuery(context.Background(), nil, trimQuery(query), nil)
	if err != nil {
		return nil, "", fmt.Errorf("rewrite the query's named parameters: %w", err)
	}
	names := make([]string, len(args))
	for i, a := range args {
		names[i], _ = a.(string)
	}
	return names, sql, nil
}

// nameMismatches lists @names the query uses but the definition does not
// declare, and declared parameters the query does not use.
func nameMismatches(spec *v1alpha1.ReportDefinitionSpec, used []string) string {
	var problems []string
	for _, name := range used {
		if !slices.ContainsFunc(spec.Parameters, func(p v1alpha1.ReportParameter) bool { return p.Name == name }) {
			problems = append(problems, fmt.Sprintf("the query uses @%s, which is not a declared parameter", name))
		}
	}
	for _, p := range spec.Parameters {
		if !slices.Contains(used, p.Name) {
			problems = append(problems, fmt.Sprintf("parameter %q is declared but the query does not use @%s", p.Name, p.Name))
		}
	}
	return strings.Join(problems, "; ")
}

// typeMismatches compares the declared types with the types PostgreSQL
// inferred for each $n.
func typeMismatches(spec *v1alpha1.ReportDefinitionSpec, used []string, oids []uint32) string {
	var problems []string
	for i, name := range used {
		if i >= len(oids) {
			break
		}
		idx := slices.IndexFunc(spec.Parameters, func(p v1alpha1.ReportParameter) bool { return p.Name == name })
		if idx < 0 {
			continue
		}
		p := spec.Parameters[idx]
		if !compatibleTypes(p.Type, oids[i]) {
			problems = append(problems, fmt.Sprintf(
				"parameter %q is declared %s, but the query uses @%s as %s; declare another type or cast it in the query (@%s::%s)",
				name, p.Type, name, typeName(oids[i]), name, castFor(p.Type)))
		}
	}
	return strings.Join(problems, "; ")
}

// Type families for compatibleTypes.
var (
	textTypes    = []uint32{pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, 705 /* unknown */}
	numericTypes = []uint32{pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.NumericOID, pgtype.Float4OID, pgtype.Float8OID}
	timeTypes    = []uint32{pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID}
)

// firstUserOID is where PostgreSQL starts numbering user-defined types.
const firstUserOID = 16384

// compatibleTypes reports whether a parameter of type t can be bound where
// PostgreSQL inferred the type oid. It is deliberately lenient: a string
// or enum goes anywhere (PostgreSQL parses text for any type, and a bad
// value is the request's problem); text is fine for every type (pgx sends
// its text form); integers and numbers mix; dates and date-times mix;
// user-defined types (domains, enums, extensions) are not judged. Only a
// built-in type of another family is a mismatch, e.g. a date where the
// query wants an integer, or a number where it wants a boolean.
func compatibleTypes(t v1alpha1.ParameterType, oid uint32) bool {
	if t == v1alpha1.ParameterString || t == v1alpha1.ParameterEnum || oid >= firstUserOID || slices.Contains(textTypes, oid) {
		return true
	}
	switch t {
	case v1alpha1.ParameterInteger, v1alpha1.ParameterNumber:
		return slices.Contains(numericTypes, oid)
	case v1alpha1.ParameterBoolean:
		return oid == pgtype.BoolOID
	case v1alpha1.ParameterDate, v1alpha1.ParameterDateTime:
		return slices.Contains(timeTypes, oid)
	}
	return true
}

// typeName names a type OID for a message.
func typeName(oid uint32) string {
	if t, ok := pgtype.NewMap().TypeForOID(oid); ok {
		return t.Name
	}
	return fmt.Sprintf("the type with OID %d", oid)
}

// castFor suggests the SQL type matching a parameter type.
func castFor(t v1alpha1.ParameterType) string {
	switch t {
	case v1alpha1.ParameterInteger:
		return "bigint"
	case v1alpha1.ParameterNumber:
		return "numeric"
	case v1alpha1.ParameterBoolean:
		return "boolean"
	case v1alpha1.ParameterDate:
		return "date"
	case v1alpha1.ParameterDateTime:
		return "timestamptz"
	}
	return "text"
}
