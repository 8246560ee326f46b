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
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

func TestJSONL(t *testing.T) {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		col   Column
		value *string
		opts  Options
		// want is the line's JSON value for the column "c".
		want string
	}{
		"NULL is null":                       {col: Column{OID: pgtype.TextOID}, value: nil, want: `null`},
		"the empty string is a string":       {col: Column{OID: pgtype.TextOID}, value: s(""), want: `""`},
		"text is escaped":                    {col: Column{OID: pgtype.TextOID}, value: s("say \"hi\"\\\n\r\t\x01 Zoë 🎉"), want: `"say \"hi\"\\\n\r\t\u0001 Zoë 🎉"`},
		"formulas are left alone":            {col: Column{OID: pgtype.TextOID}, value: s("=1+2"), want: `"=1+2"`},
		"invalid UTF-8 becomes U+FFFD":       {col: Column{OID: pgtype.TextOID}, value: s("a\xffb"), want: `"a\ufffdb"`},
		"an integer is a number":             {col: Column{OID: pgtype.Int8OID}, value: s("-9223372036854775808"), want: `-9223372036854775808`},
		"a numeric keeps every digit":        {col: Column{OID: pgtype.NumericOID}, value: s("-12345678901234567890.123456789"), want: `-12345678901234567890.123456789`},
		"a float with an exponent":           {col: Column{OID: pgtype.Float8OID}, value: s("1.5e+100"), want: `1.5e+100`},
		"negative zero":                      {col: Column{OID: pgtype.Float8OID}, value: s("-0"), want: `-0`},
		"NaN is a string":                    {col: Column{OID: pgtype.NumericOID}, value: s("NaN"), want: `"NaN"`},
		"Infinity is a string":               {col: Column{OID: pgtype.Float8OID}, value: s("-Infinity"), want: `"-Infinity"`},
		"true":                               {col: Column{OID: pgtype.BoolOID}, value: s("t"), want: `true`},
		"false":                              {col: Column{OID: pgtype.BoolOID}, value: s("f"), want: `false`},
		"jsonb is embedded":                  {col: Column{OID: pgtype.JSONBOID}, value: s(`{"a": [1, 2.5, "x"], "b": null}`), want: `{"a": [1, 2.5, "x"], "b": null}`},
		"json with line breaks is compacted": {col: Column{OID: pgtype.JSONOID}, value: s("{\n  \"a\": \"x\\ny\"\r\n}"), want: `{"a":"x\ny"}`},
		"a timestamptz gets T and a full offset": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("2024-01-02 03:04:05.123+01"), want: `"2024-01-02T03:04:05.123+01:00"`,
		},
		"a half-hour offset is kept": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("2024-01-02 03:04:05+05:30"), want: `"2024-01-02T03:04:05+05:30"`,
		},
		"a negative offset": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("2024-01-02 03:04:05.000001-08"), want: `"2024-01-02T03:04:05.000001-08:00"`,
		},
		"an offset with seconds (local mean time) is said in UTC": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("1890-01-01 00:00:00+00:17:30"), want: `"1889-12-31T23:42:30Z"`,
		},
		"infinity is kept as PostgreSQL's word": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("infinity"), want: `"infinity"`,
		},
		"a BC timestamp is kept as is": {
			col: Column{OID: pgtype.TimestamptzOID}, value: s("0044-03-15 12:00:00+00 BC"), want: `"0044-03-15 12:00:00+00 BC"`,
		},
		"a timestamp without zone takes the report zone's summer offset": {
			col: Column{OID: pgtype.TimestampOID}, value: s("2024-07-01 12:00:00.5"), opts: Options{Location: ams}, want: `"2024-07-01T12:00:00.5+02:00"`,
		},
		"... and its winter offset": {
			col: Column{OID: pgtype.TimestampOID}, value: s("2024-01-01 12:00:00"), opts: Options{Location: ams}, want: `"2024-01-01T12:00:00+01:00"`,
		},
		"a timestamp without zone in UTC": {
			col: Column{OID: pgtype.TimestampOID}, value: s("2024-01-01 12:00:00"), want: `"2024-01-01T12:00:00+00:00"`,
		},
		"a date stays a full-date": {
			col: Column{OID: pgtype.DateOID}, value: s("2024-02-29"), want: `"2024-02-29"`,
		},
		"a uuid is a string": {
			col: Column{OID: pgtype.UUIDOID}, value: s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), want: `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.col.Name = "c"
			got := encodeAll(t, v1alpha1.FormatJSONL, tc.opts, []Column{tc.col}, row(tc.value))
			want := `{"c":` + tc.want + "}\n"
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
			if !json.Valid(bytes.TrimSpace(got)) {
				t.Errorf("line %q is not valid JSON", got)
			}
		})
	}
}

// TestJSONLLines checks the file as a reader sees it: one valid object per
// line, keys in column order, values decoded as written.
func TestJSONLLines(t *testing.T) {
	cols := []Column{
		{Name: "Order \"Id\"", OID: pgtype.Int8OID}, {Name: "Customer", OID: pgtype.TextOID},
		{Name: "Amount", OID: pgtype.NumericOID}, {Name: "Paid", OID: pgtype.BoolOID},
	}
	rows := [][][]byte{
		row(s("1"), s("Line One\nLine Two"), s("12345678901234567890.12"), s("t")),
		row(s("2"), nil, s("-0.50"), s("f")),
	}
	out := encodeAll(t, v1alpha1.FormatJSONL, Options{}, cols, rows...)
	sc := bufio.NewScanner(bytes.NewReader(out))
	var lines []map[string]any
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"Order \"Id\"": json.Number("1"), "Customer": "Line One\nLine Two", "Amount": json.Number("12345678901234567890.12"), "Paid": true},
		{"Order \"Id\"": json.Number("2"), "Customer": nil, "Amount": json.Number("-0.50"), "Paid": false},
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("decoded lines (-want +got):\n%s", diff)
	}
	if !bytes.HasPrefix(out, []byte(`{"Order \"Id\"":1,"Customer":`)) {
		t.Errorf("keys are not in column order: %q", out)
	}
}
