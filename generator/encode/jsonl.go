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
	"io"
	"unicode/utf8"
)

// jsonlEncoder writes JSON Lines: one object per row and line, its keys the
// column names in the result's order. Values:
//   - NULL is null;
//   - integers, floats and numerics are JSON numbers written from
//     PostgreSQL's own text, so numeric precision is kept; NaN and
//     ±Infinity, which JSON cannot hold, are strings;
//   - booleans are true and false;
//   - json and jsonb are embedded as JSON (json is compacted when it holds
//     line breaks, which would split the line);
//   - timestamptz and timestamp are RFC 3339 strings with the offset
//     ("2024-01-02T03:04:05.123+01:00"; a timestamp without time zone
//     takes the report zone's offset); a date stays "2024-01-02", an RFC
//     3339 full-date: it is a day, not an instant;
//   - everything else is a JSON string of the value's text.
//
// There is no header line; formulas are not neutralised (JSON is not run
// by spreadsheets).
type jsonlEncoder struct {
	w       *bufio.Writer
	opts    Options
	kinds   []kind
	keys    [][]byte // `{"name":` for the first column, `,"name":` after
	scratch []byte   // the value being written
	stamp   []byte   // a timestamp rewritten as RFC 3339, before quoting
	compact bytes.Buffer
}

// newJSONL returns a JSON Lines encoder writing to w.
func newJSONL(w io.Writer, opts Options) *jsonlEncoder {
	return &jsonlEncoder{w: bufio.NewWriterSize(w, bufferSize), opts: opts}
}

// Begin prepares the keys; JSON Lines has no header.
func (e *jsonlEncoder) Begin(cols []Column) error {
	e.kinds = make([]kind, len(cols))
	e.keys = make([][]byte, len(cols))
	for i, c := range cols {
		e.kinds[i] = kindOf(c.OID)
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		key := appendJSONString([]byte{sep}, []byte(c.Name))
		e.keys[i] = append(key, ':')
	}
	return nil
}

// Row writes one object and a line feed.
func (e *jsonlEncoder) Row(values [][]byte) error {
	if err := checkWidth(values, len(e.kinds)); err != nil {
		return err
	}
	if len(values) == 0 {
		e.w.WriteByte('{')
	}
	for i, v := range values {
		e.w.Write(e.keys[i])
		if err := e.value(e.kinds[i], v); err != nil {
			return err
		}
	}
	e.w.WriteByte('}')
	return e.w.WriteByte('\n')
}

// value writes one value as JSON.
func (e *jsonlEncoder) value(k kind, v []byte) error {
	if v == nil {
		_, err := e.w.WriteString("null")
		return err
	}
	switch k {
	case kindNumber:
		if isJSONNumber(v) {
			_, err := e.w.Write(v)
			return err
		}
	case kindBool:
		return e.boolean(v)
	case kindJSON:
		return e.json(v)
	case kindTimestampTZ, kindTimestamp:
		e.stamp = appendRFC3339(e.stamp[:0], v, k == kindTimestampTZ, e.opts.Location)
		v = e.stamp
	}
	e.scratch = appendJSONString(e.scratch[:0], v)
	_, err := e.w.Write(e.scratch)
	return err
}

// boolean writes PostgreSQL's 't' and 'f' as true and false.
func (e *jsonlEncoder) boolean(v []byte) error {
	s := "false"
	if len(v) == 1 && v[0] == 't' {
		s = "true"
	}
	_, err := e.w.WriteString(s)
	return err
}

// json embeds a json or jsonb value, compacted when it spans lines.
func (e *jsonlEncoder) json(v []byte) error {
	if !bytes.ContainsAny(v, "\r\n") {
		_, err := e.w.Write(v)
		return err
	}
	e.compact.Reset()
	if err := json.Compact(&e.compact, v); err != nil {
		return err
	}
	_, err := e.w.Write(e.compact.Bytes())
	return err
}

// Close flushes the buffer.
func (e *jsonlEncoder) Close() error {
	return e.w.Flush()
}

// isJSONNumber reports whether v is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		i = skipDigits(v, i)
	default:
		return false
	}
	if i < len(v) && v[i] == '.' {
		j := skipDigits(v, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		j := skipDigits(v, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(v)
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(v []byte, i int) int {
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends v as a JSON string. Control characters, quotes
// and backslashes are escaped; invalid UTF-8 (possible only from a
// SQL_ASCII database) becomes U+FFFD, as encoding/json does.
func appendJSONString(dst, v []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, v[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, v[start:i]...)
		dst = appendJSONEscape(dst, c)
		i++
		start = i
	}
	dst = append(dst, v[start:]...)
	return append(dst, '"')
}

// appendJSONEscape appends the escape of one ASCII byte.
func appendJSONEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
