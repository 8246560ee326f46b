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
	"compress/gzip"
	"io"
)

// bufferSize is the write buffer of the text encoders: large enough that
// the storage writer sees few, big writes.
const bufferSize = 256 << 10

// csvSpecial marks the bytes that make COPY quote a field (delimiter,
// quote, CR, LF), as CopyAttributeOutCSV in src/backend/commands/copyto.c
// checks. A table is about twice as fast here as bytes.IndexAny.
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// hasCSVSpecial reports whether v holds a byte that forces quoting.
func hasCSVSpecial(v []byte) bool {
	for _, c := range v {
		if csvSpecial[c] {
			return true
		}
	}
	return false
}

// csvEncoder writes CSV exactly as PostgreSQL's
//
//	COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)
//
// writes it (copyto.c, CopyAttributeOutCSV), so a file from reportd and a
// file from psql's \copy compare equal byte for byte:
//   - LF line ends, comma delimiter, double-quote quoting;
//   - NULL is an empty unquoted field and the empty string is "";
//   - a field is quoted when it contains a comma, a quote, CR or LF, quotes
//     inside doubled; when the result has a single column, a value that is
//     exactly \. is quoted too (an old end-of-data marker);
//   - header names follow the same rules.
//
// One deliberate difference, unless Options.KeepFormulas: a text cell
// (text, varchar, char, name and types this package does not know, never
// numbers, so -5 stays a number) starting with =, +, -, @, tab or CR gets a
// single quote in front, as the OWASP advice on CSV injection says, so a
// spreadsheet shows it as text instead of running it as a formula.
type csvEncoder struct {
	w          *bufio.Writer
	neutralise []bool
	single     bool
	opts       Options
}

// newCSV returns a CSV encoder writing to w.
func newCSV(w io.Writer, opts Options) *csvEncoder {
	return &csvEncoder{w: bufio.NewWriterSize(w, bufferSize), opts: opts}
}

// Begin writes the header line.
func (e *csvEncoder) Begin(cols []Column) error {
	e.single = len(cols) == 1
	e.neutralise = make([]bool, len(cols))
	for i, c := range cols {
		e.neutralise[i] = !e.opts.KeepFormulas && kindOf(c.OID) == kindText
		if i > 0 {
			e.w.WriteByte(',')
		}
		e.field([]byte(c.Name), false)
	}
	return e.w.WriteByte('\n')
}

// Row writes one line.
func (e *csvEncoder) Row(values [][]byte) error {
	if err := checkWidth(values, len(e.neutralise)); err != nil {
		return err
	}
	for i, v := range values {
		if i > 0 {
			e.w.WriteByte(',')
		}
		if v != nil {
			e.field(v, e.neutralise[i])
		}
	}
	// bufio keeps the first write error and returns it from every later
	// call, so checking the last write of the row is enough.
	return e.w.WriteByte('\n')
}

// Close flushes the buffer.
func (e *csvEncoder) Close() error {
	return e.w.Flush()
}

// field writes one non-NULL value, quoted as COPY quotes it.
func (e *csvEncoder) field(v []byte, neutralise bool) {
	formula := neutralise && startsFormula(v)
	quote := len(v) == 0 || // the empty string, told apart from NULL
		hasCSVSpecial(v) ||
		(e.single && len(v) == 2 && v[0] == '\\' && v[1] == '.')
	if !quote {
		if formula {
			e.w.WriteByte('\'')
		}
		e.w.Write(v)
		return
	}
	e.w.WriteByte('"')
	if formula {
		e.w.WriteByte('\'')
	}
	for {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			break
		}
		e.w.Write(v[:i+1]) // includes the quote ...
		e.w.WriteByte('"') // ... which is doubled
		v = v[i+1:]
	}
	e.w.Write(v)
	e.w.WriteByte('"')
}

// startsFormula reports whether a spreadsheet would read v as a formula.
func startsFormula(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// gzipLevel is csv.gz's compression level. Measured on 500,000 sales-like
// rows (27 MiB of CSV) on a 2-core machine, best of three: BestSpeed gives
// 8.8 MiB in 0.6 s (about 45 MB/s, as fast as PostgreSQL sends rows);
// DefaultCompression 6.8 MiB in 2.7 s, which would make compression, not
// the database, the bottleneck. A quarter larger file is the better deal.
const gzipLevel = gzip.BestSpeed

// csvGzipEncoder is the CSV encoder writing through gzip, compressing while
// it streams.
type csvGzipEncoder struct {
	*csvEncoder
	gz *gzip.Writer
}

// newCSVGzip returns a CSV encoder compressing into w.
func newCSVGzip(w io.Writer, opts Options) (*csvGzipEncoder, error) {
	gz, err := gzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	return &csvGzipEncoder{csvEncoder: newCSV(gz, opts), gz: gz}, nil
}

// Close flushes the CSV and writes gzip's trailer.
func (e *csvGzipEncoder) Close() error {
	if err := e.csvEncoder.Close(); err != nil {
		return err
	}
	return e.gz.Close()
}
