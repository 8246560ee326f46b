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

// Package encode writes query results as report files: CSV (byte for byte
// as PostgreSQL's COPY ... CSV HEADER writes it, with formula cells
// neutralised), gzip-compressed CSV, JSON Lines and XLSX. Every encoder
// streams: memory does not grow with the number of rows.
//
// Rows arrive as PostgreSQL text-format values ([]byte, nil for NULL), as
// pgx's Rows.RawValues returns them for a query read in text format, with
// the result's column names and type OIDs. The session's DateStyle must be
// ISO and its TimeZone the report's zone (the generator's source sets
// both), so timestamps arrive as "2024-01-02 03:04:05.123+01".
package encode

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

// Column describes one result column.
type Column struct {
	// Name is the column's name, written in the header.
	Name string
	// OID is the PostgreSQL type OID of the column (FieldDescription.DataTypeOID).
	OID uint32
}

// Encoder writes one report. Call Begin once, Row for each row, then Close.
// An Encoder is not safe for concurrent use.
type Encoder interface {
	// Begin writes the header for the result's columns.
	Begin(cols []Column) error
	// Row writes one row of text-format values, nil meaning NULL. The
	// encoder does not keep values after it returns.
	Row(values [][]byte) error
	// Close finishes the file (flushes buffers, writes trailers). It does
	// not close the underlying writer.
	Close() error
}

// Options tune the encoders.
type Options struct {
	// Location is the report's time zone. PostgreSQL already writes
	// timestamptz values in the session's zone; Location gives a timestamp
	// without time zone its offset in JSON Lines and XLSX. UTC when nil.
	Location *time.Location
	// KeepFormulas turns off the neutralising of CSV text cells that a
	// spreadsheet would run as a formula. The zero value neutralises, which
	// is what reports meant for people should do.
	KeepFormulas bool
}

// ErrCellTooLong is wrapped by the XLSX encoder's error for a value longer
// than Excel's 32,767 characters. Retrying cannot help.
var ErrCellTooLong = errors.New("cell too long for Excel")

// ErrTooManyColumns is wrapped by the XLSX encoder's error for a result
// wider than Excel's 16,384 columns.
var ErrTooManyColumns = errors.New("too many columns for Excel")

// ErrColumnCount is wrapped by Row's error when a row's width differs from
// Begin's columns: a programming error, not bad data.
var ErrColumnCount = errors.New("row width differs from the columns")

// New returns an encoder writing format to w.
func New(format v1alpha1.ReportFormat, w io.Writer, opts Options) (Encoder, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	switch format {
	case v1alpha1.FormatCSV, "":
		return newCSV(w, opts), nil
	case v1alpha1.FormatCSVGz:
		return newCSVGzip(w, opts)
	case v1alpha1.FormatJSONL:
		return newJSONL(w, opts), nil
	case v1alpha1.FormatXLSX:
		return newXLSX(w, opts), nil
	}
	return nil, fmt.Errorf("unknown report format %q", format)
}

// ContentType is the media type a report of format is stored and served
// as. csv.gz is application/gzip, never text/csv with a Content-Encoding,
// so clients do not unpack it behind the checksum's back.
func ContentType(format v1alpha1.ReportFormat) string {
	switch format {
	case v1alpha1.FormatCSV, "":
		return "text/csv; charset=utf-8"
	case v1alpha1.FormatCSVGz:
		return "application/gzip"
	case v1alpha1.FormatJSONL:
		return "application/jsonl; charset=utf-8"
	case v1alpha1.FormatXLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}

// Extension is the file name extension of format, without the dot.
func Extension(format v1alpha1.ReportFormat) string {
	switch format {
	case v1alpha1.FormatCSV, "":
		return "csv"
	case v1alpha1.FormatCSVGz:
		return "csv.gz"
	case v1alpha1.FormatJSONL:
		return "jsonl"
	case v1alpha1.FormatXLSX:
		return "xlsx"
	}
	return "bin"
}

// kind is how an encoder treats a column's values.
type kind uint8

const (
	// kindText is text that a spreadsheet might read as a formula: text,
	// varchar, char, name, unknown, and every type this package does not
	// know (citext, enums and other extension types are text to a reader).
	kindText kind = iota
	// kindNumber is an integer, float or numeric.
	kindNumber
	// kindBool is a boolean, 't' or 'f'.
	kindBool
	// kindJSON is json or jsonb.
	kindJSON
	// kindTimestampTZ is a timestamp with time zone.
	kindTimestampTZ
	// kindTimestamp is a timestamp without time zone.
	kindTimestamp
	// kindDate is a date.
	kindDate
	// kindOther is a built-in type whose text cannot start a formula in a
	// way a user would not expect (uuid, interval, bytea, money, time...),
	// written as a string.
	kindOther
)

// Type OIDs pgtype does not name.
const (
	moneyOID   = 790
	unknownOID = 705
)

// kinds maps the built-in type OIDs this package treats specially.
var kinds = map[uint32]kind{
	pgtype.Int2OID: kindNumber, pgtype.Int4OID: kindNumber, pgtype.Int8OID: kindNumber,
	pgtype.Float4OID: kindNumber, pgtype.Float8OID: kindNumber, pgtype.NumericOID: kindNumber,
	pgtype.OIDOID: kindNumber, pgtype.XIDOID: kindNumber, pgtype.CIDOID: kindNumber,
	pgtype.BoolOID: kindBool,
	pgtype.JSONOID: kindJSON, pgtype.JSONBOID: kindJSON,
	pgtype.TimestamptzOID: kindTimestampTZ, pgtype.TimestampOID: kindTimestamp, pgtype.DateOID: kindDate,
	pgtype.TextOID: kindText, pgtype.VarcharOID: kindText, pgtype.BPCharOID: kindText,
	pgtype.NameOID: kindText, pgtype.QCharOID: kindText, unknownOID: kindText,
	pgtype.UUIDOID: kindOther, pgtype.IntervalOID: kindOther, pgtype.ByteaOID: kindOther,
	pgtype.TimeOID: kindOther, pgtype.TimetzOID: kindOther, moneyOID: kindOther,
	pgtype.InetOID: kindOther, pgtype.CIDROID: kindOther, pgtype.MacaddrOID: kindOther,
	pgtype.BitOID: kindOther, pgtype.VarbitOID: kindOther,
}

// kindOf returns how values of the type oid are treated. Array types are
// written as their text ("{...}"), which never starts a formula.
func kindOf(oid uint32) kind {
	if k, ok := kinds[oid]; ok {
		return k
	}
	if isBuiltinArray(oid) {
		return kindOther
	}
	return kindText
}

// typeMap is pgx's map of built-in types, built once.
var typeMap = sync.OnceValue(pgtype.NewMap)

// isBuiltinArray reports whether oid is one of pgtype's known array types.
func isBuiltinArray(oid uint32) bool {
	t, ok := typeMap().TypeForOID(oid)
	if !ok {
		return false
	}
	_, isArray := t.Codec.(*pgtype.ArrayCodec)
	return isArray
}

// checkWidth fails when a row's width differs from the header's.
func checkWidth(values [][]byte, cols int) error {
	if len(values) != cols {
		return fmt.Errorf("%w: got %d values for %d columns", ErrColumnCount, len(values), cols)
	}
	return nil
}
