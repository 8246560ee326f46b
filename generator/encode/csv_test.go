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
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

// Column sets used by the tests.
var (
	textCol    = Column{Name: "t", OID: pgtype.TextOID}
	intCol     = Column{Name: "n", OID: pgtype.Int4OID}
	numericCol = Column{Name: "x", OID: pgtype.NumericOID}
	boolCol    = Column{Name: "b", OID: pgtype.BoolOID}
)

// row builds a row of text values; a nil entry is NULL.
func row(vals ...*string) [][]byte {
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			out[i] = []byte(*v)
		}
	}
	return out
}

// s returns a pointer to a string, for row.
func s(v string) *string { return &v }

// encodeAll runs an encoder over cols and rows and returns the bytes.
func encodeAll(t *testing.T, format v1alpha1.ReportFormat, opts Options, cols []Column, rows ...[][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := New(format, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Begin(cols); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	for _, r := range rows {
		if err := enc.Row(r); err != nil {
			t.Fatalf("Row: %v", err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func TestCSV(t *testing.T) {
	cases := map[string]struct {
		cols []Column
		rows [][][]byte
		opts Options
		// want is the whole file.
		want string
	}{
		"NULL is an empty field, the empty string is quoted": {
			cols: []Column{textCol, textCol},
			rows: [][][]byte{row(nil, s(""))},
			want: "t,t\n,\"\"\n",
		},
		"commas, quotes, CR and LF are quoted; quotes doubled": {
			cols: []Column{textCol, textCol, textCol, textCol},
			rows: [][][]byte{row(s("Smith, John"), s(`Dwayne "The Rock"`), s("a\rb"), s("Line One\nLine Two"))},
			want: "t,t,t,t\n\"Smith, John\",\"Dwayne \"\"The Rock\"\"\",\"a\rb\",\"Line One\nLine Two\"\n",
		},
		"unicode, spaces, backslashes and apostrophes are written as they are": {
			cols: []Column{textCol, textCol, textCol, textCol},
			rows: [][][]byte{row(s("Zoë 山田 🎉"), s("  padded  "), s(`\N`), s("O'Brien"))},
			want: "t,t,t,t\nZoë 山田 🎉,  padded  ,\\N,O'Brien\n",
		},
		"a text cell starting like a formula gets a leading quote": {
			cols: []Column{textCol, textCol, textCol, textCol},
			rows: [][][]byte{row(s("=1+2"), s("+31 20"), s("-Minus"), s("@SUM(A1:A9)"))},
			want: "t,t,t,t\n'=1+2,'+31 20,'-Minus,'@SUM(A1:A9)\n",
		},
		"tab and CR at the start are neutralised too; CR still forces quotes": {
			cols: []Column{textCol, textCol},
			rows: [][][]byte{row(s("\tTabbed"), s("\rCarriage"))},
			want: "t,t\n'\tTabbed,\"'\rCarriage\"\n",
		},
		"a neutralised formula that needs quoting keeps its quotes outside": {
			cols: []Column{textCol},
			rows: [][][]byte{row(s(`=HYPERLINK("http://x/","Click")`))},
			want: "t\n\"'=HYPERLINK(\"\"http://x/\"\",\"\"Click\"\")\"\n",
		},
		"numbers are never neutralised: -5 stays a number": {
			cols: []Column{intCol, numericCol, textCol},
			rows: [][][]byte{row(s("-5"), s("-12345678901234567890.123456789"), s("-5"))},
			want: "n,x,t\n-5,-12345678901234567890.123456789,'-5\n",
		},
		"KeepFormulas writes text exactly as COPY does": {
			cols: []Column{textCol, textCol},
			rows: [][][]byte{row(s("=1+2"), s("=A1,B1"))},
			opts: Options{KeepFormulas: true},
			want: "t,t\n=1+2,\"=A1,B1\"\n",
		},
		"types this package does not know are text (citext, enums)": {
			cols: []Column{{Name: "c", OID: 98765}},
			rows: [][][]byte{row(s("=cmd"))},
			want: "c\n'=cmd\n",
		},
		"a lone \\. is quoted when it is the only column": {
			cols: []Column{textCol},
			rows: [][][]byte{row(s(`\.`)), row(s(`\.x`))},
			want: "t\n\"\\.\"\n\\.x\n",
		},
		"a lone \\. is not quoted beside other columns": {
			cols: []Column{textCol, intCol},
			rows: [][][]byte{row(s(`\.`), s("1"))},
			want: "t,n\n\\.,1\n",
		},
		"header names are quoted by the same rules": {
			cols: []Column{{Name: "Amount, EUR", OID: pgtype.NumericOID}, {Name: `say "x"`, OID: pgtype.TextOID}, {Name: "Date", OID: pgtype.DateOID}},
			rows: nil,
			want: "\"Amount, EUR\",\"say \"\"x\"\"\",Date\n",
		},
		"booleans, timestamps and json are PostgreSQL's text": {
			cols: []Column{boolCol, {Name: "ts", OID: pgtype.TimestamptzOID}, {Name: "j", OID: pgtype.JSONBOID}},
			rows: [][][]byte{row(s("t"), s("2024-01-02 03:04:05.123+01"), s(`{"a": [1, "x,y"]}`))},
			want: "b,ts,j\nt,2024-01-02 03:04:05.123+01,\"{\"\"a\"\": [1, \"\"x,y\"\"]}\"\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := string(encodeAll(t, v1alpha1.FormatCSV, tc.opts, tc.cols, tc.rows...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CSV (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCSVRowWidthMismatch(t *testing.T) {
	enc, err := New(v1alpha1.FormatCSV, io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Begin([]Column{textCol, intCol}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Row(row(s("only one"))); !errors.Is(err, ErrColumnCount) {
		t.Fatalf("Row error = %v, want ErrColumnCount", err)
	}
}

// failingWriter fails every write, like a storage upload that broke.
type failingWriter struct{}

var errBroken = errors.New("upload broke")

func (failingWriter) Write([]byte) (int, error) { return 0, errBroken }

func TestCSVWriteErrorSurfaces(t *testing.T) {
	enc, err := New(v1alpha1.FormatCSV, failingWriter{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Begin([]Column{textCol}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), bufferSize)
	var rowErr error
	for range 3 {
		if rowErr = enc.Row([][]byte{big}); rowErr != nil {
			break
		}
	}
	if !errors.Is(rowErr, errBroken) {
		t.Fatalf("Row error = %v, want the writer's error", rowErr)
	}
	if err := enc.Close(); !errors.Is(err, errBroken) {
		t.Fatalf("Close error = %v, want the writer's error", err)
	}
}

func TestCSVGzipRoundTrip(t *testing.T) {
	cols := []Column{textCol, intCol}
	rows := [][][]byte{row(s("Smith, John"), s("1")), row(nil, s("-2")), row(s("=x"), nil)}
	plain := encodeAll(t, v1alpha1.FormatCSV, Options{}, cols, rows...)
	compressed := encodeAll(t, v1alpha1.FormatCSVGz, Options{}, cols, rows...)
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("csv.gz unpacks to %q, want the CSV %q", got, plain)
	}
}

func TestFormatNames(t *testing.T) {
	cases := map[v1alpha1.ReportFormat]struct{ ext, contentType string }{
		v1alpha1.FormatCSV:   {"csv", "text/csv; charset=utf-8"},
		v1alpha1.FormatCSVGz: {"csv.gz", "application/gzip"},
		v1alpha1.FormatJSONL: {"jsonl", "application/jsonl; charset=utf-8"},
		v1alpha1.FormatXLSX:  {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
	}
	for format, want := range cases {
		if got := Extension(format); got != want.ext {
			t.Errorf("Extension(%s) = %q, want %q", format, got, want.ext)
		}
		if got := ContentType(format); got != want.contentType {
			t.Errorf("ContentType(%s) = %q, want %q", format, got, want.contentType)
		}
	}
	if _, err := New("pdf", io.Discard, Options{}); err == nil || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("New(pdf) error = %v, want one naming the format", err)
	}
}

// FuzzCSV writes arbitrary text values and NULLs, in text and non-text
// columns, with and without formula neutralisation, and reads the file
// back as PostgreSQL's COPY FROM reads CSV (parseCopyCSV): the header and
// every value come back exactly, NULL as NULL and "" as the empty string,
// and the only change is the leading single quote of a neutralised text
// cell. A one-column file exercises the lone \. rule.
func FuzzCSV(f *testing.F) {
	f.Add("plain", "Smith, John", "42", uint8(0), false, false)
	f.Add(`Dwayne "The Rock"`, "", "-5", uint8(0b000010), false, false)
	f.Add("Line One\nLine Two", "Carriage\r\nReturn", "\r", uint8(0), true, false)
	f.Add(`\.`, `"Fully Quoted"`, `\.`, uint8(0b100000), false, true)
	f.Add("Zoë 山田 🎉", "  padded ", "", uint8(0b111111), false, false)
	f.Add("\"", "\n", ",", uint8(0b010101), false, false)
	f.Add("a\r", "\rb", "\r\n", uint8(0), false, true)
	f.Add(`=HYPERLINK("http://evil.example/","Click")`, "+31 20 123", "-5", uint8(0), false, false)
	f.Add("@SUM(A1:A9)", "\tTabbed", "=1+2", uint8(0), false, false)
	f.Add("@SUM(A1:A9)", "\tTabbed", "=1+2", uint8(0), true, false)
	f.Add("\rCR first", "'already quoted", "-", uint8(0b001000), false, true)
	f.Add(`\N`, "NULL", "\\.", uint8(0), false, true)
	f.Fuzz(func(t *testing.T, a, b, c string, nulls uint8, keepFormulas, single bool) {
		if strings.ContainsRune(a+b+c, 0) {
			t.Skip("PostgreSQL text never holds NUL")
		}
		cols := []Column{{Name: a, OID: pgtype.TextOID}, {Name: b, OID: pgtype.TextOID}, {Name: "n", OID: pgtype.Int8OID}}
		rows := [][][]byte{{[]byte(a), []byte(b), []byte(c)}, {[]byte(c), []byte(a), []byte(b)}}
		if single {
			cols = cols[:1]
			rows = [][][]byte{{[]byte(b)}, {[]byte(c)}}
		}
		for i, r := range rows {
			for j := range r {
				if nulls&(1<<(i*3+j)) != 0 {
					r[j] = nil
				}
			}
		}
		out := encodeAll(t, v1alpha1.FormatCSV, Options{KeepFormulas: keepFormulas}, cols, rows...)
		got, err := parseCopyCSV(out)
		if err != nil {
			t.Fatalf("COPY FROM would refuse %q: %v", out, err)
		}
		want := [][]*string{make([]*string, len(cols))}
		for j, col := range cols {
			want[0][j] = &col.Name
		}
		for _, r := range rows {
			want = append(want, expectedCells(cols, r, keepFormulas))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("read back (-want +got):\n%s\nfile: %q", diff, out)
		}
	})
}

// expectedCells is what a row must read back as: NULL stays NULL, and a
// text cell a spreadsheet would run as a formula gains a leading quote
// unless formulas are kept. Nothing else changes.
func expectedCells(cols []Column, r [][]byte, keepFormulas bool) []*string {
	out := make([]*string, len(r))
	for j, v := range r {
		if v == nil {
			continue
		}
		text := string(v)
		if !keepFormulas && cols[j].OID == pgtype.TextOID && text != "" && strings.ContainsRune("=+-@\t\r", rune(text[0])) {
			text = "'" + text
		}
		out[j] = &text
	}
	return out
}

// parseCopyCSV reads CSV as PostgreSQL's COPY ... FROM STDIN WITH (FORMAT
// csv) reads it (CopyReadAttributesCSV in copyfromparse.c), with the
// default NULL string, and returns each record's fields, nil for NULL:
//   - an unquoted empty field is NULL; a quoted one ("") the empty string;
//   - inside quotes, "" is one quote, and CR, LF and commas are data;
//   - a line holding only \. is the end-of-data marker.
//
// It is stricter than COPY where COPY would accept something our encoder
// must never write: text after a closing quote, a quote or a CR inside an
// unquoted field, CRLF line ends, a last line without LF, and the
// end-of-data marker all fail.
func parseCopyCSV(data []byte) ([][]*string, error) {
	var records [][]*string
	for len(data) > 0 {
		if bytes.HasPrefix(data, []byte("\\.\n")) {
			return nil, errors.New(`a line holding only \. ends the data early`)
		}
		var record []*string
		for {
			field, rest, err := parseCopyField(data)
			if err != nil {
				return nil, fmt.Errorf("record %d, field %d: %w", len(records)+1, len(record)+1, err)
			}
			record = append(record, field)
			if len(rest) == 0 {
				return nil, fmt.Errorf("record %d does not end with LF", len(records)+1)
			}
			data = rest[1:]
			if rest[0] == '\n' {
				break
			}
		}
		records = append(records, record)
	}
	return records, nil
}

// parseCopyField reads one field and returns it with the rest of the data,
// which starts at the comma or LF after the field (or is empty).
func parseCopyField(data []byte) (*string, []byte, error) {
	if len(data) > 0 && data[0] == '"' {
		var value []byte
		rest := data[1:]
		for {
			i := bytes.IndexByte(rest, '"')
			if i < 0 {
				return nil, nil, errors.New("unterminated quoted field")
			}
			value = append(value, rest[:i]...)
			rest = rest[i+1:]
			if len(rest) > 0 && rest[0] == '"' {
				value = append(value, '"')
				rest = rest[1:]
				continue
			}
			if len(rest) > 0 && rest[0] != ',' && rest[0] != '\n' {
				return nil, nil, fmt.Errorf("%q after a closing quote", rest[0])
			}
			text := string(value)
			return &text, rest, nil
		}
	}
	end := bytes.IndexAny(data, ",\n")
	if end < 0 {
		end = len(data)
	}
	value := data[:end]
	switch {
	case bytes.IndexByte(value, '"') >= 0:
		return nil, nil, fmt.Errorf("a quote inside the unquoted field %q", value)
	case bytes.IndexByte(value, '\r') >= 0:
		return nil, nil, fmt.Errorf("an unquoted carriage return in %q", value)
	case len(value) == 0:
		return nil, data[end:], nil
	}
	text := string(value)
	return &text, data[end:], nil
}

func TestParseCopyCSV(t *testing.T) {
	got, err := parseCopyCSV([]byte("a,b,c\n,\"\",\"x\"\"y\nz\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]*string{{s("a"), s("b"), s("c")}, {nil, s(""), s("x\"y\nz")}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"a", "a\r\n", "\"a\"b\n", "a\"b\n", "\"a\n", "\\.\n", "a\n\\.\n"} {
		if _, err := parseCopyCSV([]byte(bad)); err == nil {
			t.Errorf("%q was read without an error", bad)
		}
	}
}

// BenchmarkCSVRow measures the per-row cost of the CSV encoder on a row
// shaped like the sales sample's (timestamp, id, name, amount, status),
// with a quoted name every tenth row.
func BenchmarkCSVRow(b *testing.B) {
	cols := []Column{
		{Name: "Date", OID: pgtype.TimestamptzOID}, {Name: "OrderId", OID: pgtype.Int8OID},
		{Name: "Customer", OID: pgtype.TextOID}, {Name: "Amount", OID: pgtype.NumericOID},
		{Name: "Status", OID: pgtype.TextOID},
	}
	plain := [][]byte{[]byte("2024-03-05 10:11:12.345+00"), []byte("1234567"), []byte("Grace Hopper"), []byte("123.45"), []byte("shipped")}
	quoted := [][]byte{plain[0], plain[1], []byte(`Dwayne "The Rock" Johnson, Jr.`), plain[3], plain[4]}
	for _, format := range []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatCSVGz, v1alpha1.FormatJSONL, v1alpha1.FormatXLSX} {
		b.Run(string(format), func(b *testing.B) {
			cw := &countingWriter{}
			enc, err := New(format, cw, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := enc.Begin(cols); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := plain
				if i%10 == 0 {
					r = quoted
				}
				if err := enc.Row(r); err != nil {
					b.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cw.n)/float64(b.N), "bytes/row")
		})
	}
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
