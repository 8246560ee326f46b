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

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// How reports are compared with psql's CSV: csv byte for byte (with
// formulas neutralised on both sides), csv.gz after gunzip, jsonl and
// xlsx value by value against the same CSV, each value read as its
// column's kind says.

// colKind is how a column's values are compared across formats.
type colKind int

const (
	kindText colKind = iota
	kindNumber
	kindBool
	kindTimestamp
)

// cell is one CSV field; null tells NULL (an empty unquoted field) from
// the empty string (quoted), as COPY writes them.
type cell struct {
	value string
	null  bool
}

// parseCopyCSV reads CSV as PostgreSQL's COPY writes it, keeping NULL
// apart from the empty string (encoding/csv cannot).
func parseCopyCSV(data []byte) ([][]cell, error) {
	var rows [][]cell
	var row []cell
	var field strings.Builder
	quoted, inQuotes, start := false, false, true
	endField := func() {
		row = append(row, cell{value: field.String(), null: !quoted && field.Len() == 0})
		field.Reset()
		quoted, start = false, true
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inQuotes && c == '"' && i+1 < len(data) && data[i+1] == '"':
			field.WriteByte('"')
			i++
		case inQuotes && c == '"':
			inQuotes = false
		case inQuotes:
			field.WriteByte(c)
		case c == '"' && start:
			inQuotes, quoted, start = true, true, false
		case c == ',':
			endField()
		case c == '\n':
			endField()
			rows = append(rows, row)
			row = nil
		default:
			field.WriteByte(c)
			start = false
		}
	}
	if inQuotes || row != nil || field.Len() > 0 {
		return nil, errors.New("the CSV does not end with a complete line")
	}
	return rows, nil
}

// gunzip decompresses a whole gzip file.
func gunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the csv.gz file is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// pgTimestamp is how PostgreSQL writes a timestamptz in text.
const pgTimestamp = "2006-01-02 15:04:05.999999-07"

// sameValue compares a value of another format, as text, with the CSV's;
// it returns what differs, or "" when they are the same value.
func sameValue(kind colKind, want cell, got string, gotNull bool) string {
	if want.null || gotNull {
		if want.null != gotNull {
			return fmt.Sprintf("want NULL=%v, got NULL=%v (%q)", want.null, gotNull, got)
		}
		return ""
	}
	switch kind {
	case kindBool:
		if w := map[string]string{"t": "true", "f": "false"}[want.value]; w != got {
			return fmt.Sprintf("want %s, got %s", w, got)
		}
	case kindTimestamp:
		return sameInstant(want.value, got)
	default:
		if want.value != got {
			return fmt.Sprintf("want %q, got %q", want.value, got)
		}
	}
	return ""
}

// sameInstant compares PostgreSQL's timestamptz text with RFC 3339 text:
// the same instant at the same offset (the report's zone).
func sameInstant(pg, rfc string) string {
	w, err := time.Parse(pgTimestamp, pg)
	if err != nil {
		return fmt.Sprintf("psql wrote an unreadable timestamp %q: %v", pg, err)
	}
	g, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		return fmt.Sprintf("%q is not an RFC 3339 timestamp: %v", rfc, err)
	}
	_, wOff := w.Zone()
	_, gOff := g.Zone()
	if !w.Equal(g) || wOff != gOff {
		return fmt.Sprintf("want %s, got %s", w.Format(time.RFC3339Nano), rfc)
	}
	return ""
}

// compareJSONL checks a JSON Lines file against the CSV rows (header
// first): one object per row, keyed by column, with the same values.
func compareJSONL(t testing.TB, data []byte, want [][]cell, kinds []colKind) {
	t.Helper()
	header := want[0]
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		n++
		if n >= len(want) {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", n, err)
		}
		if len(obj) != len(header) {
			t.Fatalf("line %d has keys %v, want the columns %v", n, sortedKeys(obj), header)
		}
		for i, h := range header {
			got, gotNull := jsonText(obj[h.value])
			if diff := sameValue(kinds[i], want[n][i], got, gotNull); diff != "" {
				t.Fatalf("line %d, %s: %s", n, h.value, diff)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want)-1 {
		t.Fatalf("the JSON Lines file has %d lines, psql returned %d rows", n, len(want)-1)
	}
}

// jsonText turns a decoded JSON value into text for comparison.
func jsonText(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, false
	case json.Number:
		return v.String(), false
	case bool:
		return fmt.Sprint(v), false
	default:
		return fmt.Sprintf("unexpected JSON %T %v", v, v), false
	}
}

// compareXLSX checks a workbook against the CSV rows (header first): one
// sheet with a header row, numbers stored as numbers, booleans as
// booleans, timestamps as RFC 3339 text, text as written.
func compareXLSX(t testing.TB, data []byte, want [][]cell, kinds []colKind) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) != 1 {
		t.Fatalf("the workbook has sheets %v, want one", sheets)
	}
	rows, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("the sheet has %d rows, psql returned %d (header included)", len(rows), len(want))
	}
	for r := range want {
		for c, w := range want[r] {
			got := ""
			if c < len(rows[r]) {
				got = rows[r][c] // excelize leaves out trailing empty cells
			}
			kind := kinds[c]
			if r == 0 {
				kind = kindText
			}
			// An empty cell is NULL, except that an empty text cell is
			// also the empty string: then the CSV tells which it was.
			gotNull := got == "" && (kind != kindText || w.null)
			if diff := sameValue(kind, w, xlsxBool(kind, got), gotNull); diff != "" {
				t.Fatalf("row %d, column %d: %s", r+1, c+1, diff)
			}
		}
	}
	checkXLSXTypes(t, f, sheets[0], kinds)
}

// xlsxBool turns a boolean cell's raw 1/0 into true/false.
func xlsxBool(kind colKind, raw string) string {
	if kind != kindBool {
		return raw
	}
	return map[string]string{"1": "true", "0": "false"}[raw]
}

// checkXLSXTypes checks the first data row's cell types: a user sorting
// by Amount needs numbers, not text that looks like numbers.
func checkXLSXTypes(t testing.TB, f *excelize.File, sheet string, kinds []colKind) {
	t.Helper()
	for c, kind := range kinds {
		ref, err := excelize.CoordinatesToCellName(c+1, 2)
		if err != nil {
			t.Fatal(err)
		}
		typ, err := f.GetCellType(sheet, ref)
		if err != nil {
			t.Fatal(err)
		}
		value, _ := f.GetCellValue(sheet, ref)
		if value == "" {
			continue // a NULL in the first row says nothing about the type
		}
		want := map[colKind]excelize.CellType{
			kindNumber: excelize.CellTypeUnset, kindBool: excelize.CellTypeBool,
			kindText: excelize.CellTypeInlineString, kindTimestamp: excelize.CellTypeInlineString,
		}[kind]
		if typ != want {
			t.Errorf("cell %s has type %v, want %v", ref, typ, want)
		}
	}
}
