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

package facade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fuzzBodyLimit is FuzzDecodeCreate's body limit: small, so the fuzzer
// reaches it.
const fuzzBodyLimit = 1024

// fuzzContentTypes are the Content-Type headers FuzzDecodeCreate picks from.
var fuzzContentTypes = []string{"application/json", "application/json; charset=UTF-8", "text/plain", "", "application/json; charset=latin1"}

// FuzzDecodeCreate feeds arbitrary bodies of POST /api/v1/reports to the
// facade's own decoding and the checks that need no cluster. Whatever the
// body: nothing panics; a refusal is a 400, 413 or 415 naming one field
// that the body (or the request) really has; a body that is too large,
// not JSON, not UTF-8, not one object, or has a name that is not a field
// of the request (exactly) or is given twice, is refused; and what is
// accepted decodes to what a plain reading of the JSON says.
func FuzzDecodeCreate(f *testing.F) {
	seeds := []string{
		`{"reportType": "sales", "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-31"}}`,
		`{"reportType": "sales", "parameters": {"q": "'; DROP TABLE orders; --", "n": 42, "b": true, "x": -1.5e3}, "format": "csv", "timeZone": "Europe/Amsterdam", "sharedWith": ["bob", " bob ", "alice"]}`,
		`{"reportType": "sales", "colour": "red"}`,
		`{"ReportType": "sales"}`,
		`{"reporttype": "sales"}`,
		`{"reportType": "sales", "reportType": "users"}`,
		`{"reportType": "sales", "parameters": {"a": "1", "a": "2"}}`,
		`{"reportType": "sales", "parameters": {"a": {"b": 1}}, "format": 7}`,
		`{"reportType": "sales", "parameters": {"a": null}}`,
		`{"reportType": "sales", "parameters": null, "sharedWith": null}`,
		`{"reportType": "sales", "sharedWith": "bob"}`,
		`{"parameters": ["reportType", "format"], "reportType": "sales"}`,
		`{"parameters": "x", "parameters": {}}`,
		`{"reporTtYpe": 0}`,
		`{"": ""}0`,
		`{"reportType": "s\u0061les", "parameters": {"\u0061": "\ud800"}}`,
		"{\"reportType\": \"sa\xffles\"}",
		"\xef\xbb\xbf{\"reportType\": \"sales\"}",
		`{"reportType": "sales"} {"reportType": "sales"}`,
		`{"reportType": "sales"`,
		`null`,
		`[]`,
		`"sales"`,
		``,
		`{"parameters": ` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`,
		strings.Repeat(`{"a":`, 600) + `1` + strings.Repeat(`}`, 600),
		`{"reportType": "sales", "parameters": {"pad": "` + strings.Repeat("x", fuzzBodyLimit) + `"}}`,
		`{"reportType": "sales", "parameters": {` + manyParameters(40) + `}}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i%2))
	}
	f.Add([]byte(seeds[0]), uint8(2))
	f.Add([]byte(seeds[0]), uint8(3))
	f.Add([]byte(seeds[0]), uint8(4))
	f.Fuzz(func(t *testing.T, body []byte, contentType uint8) {
		ct := fuzzContentTypes[int(contentType)%len(fuzzContentTypes)]
		s := &Server{opts: Options{MaxBodyBytes: fuzzBodyLimit}}
		r := httptest.NewRequest(http.MethodPost, "/api/v1/reports", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		got, err := s.decodeCreate(httptest.NewRecorder(), r)
		if err != nil {
			checkRefusal(t, body, ct, err)
			return
		}
		checkAccepted(t, body, ct, got)
		checkWithoutCluster(t, got)
	})
}

// manyParameters is n distinct parameters as JSON members.
func manyParameters(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"p%d": "%d"`, i, i)
	}
	return strings.Join(members, ", ")
}

// checkRefusal checks that a refusal is a client error naming a field the
// request has, and that the status matches the reason.
func checkRefusal(t *testing.T, body []byte, ct string, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an answer for the client", err, err)
	}
	if len(ae.body.Fields) != 1 || !utf8.ValidString(ae.body.Error) {
		t.Fatalf("refusal %+v does not name exactly one field", ae.body)
	}
	field := ae.body.Fields[0].Field
	want := 0
	switch {
	case !strings.HasPrefix(ct, "application/json") || strings.Contains(ct, "latin1"):
		want = http.StatusUnsupportedMediaType
	case len(body) > fuzzBodyLimit:
		want = http.StatusRequestEntityTooLarge
	default:
		want = http.StatusBadRequest
	}
	if ae.status != want {
		t.Fatalf("status %d, want %d: %+v", ae.status, want, ae.body)
	}
	switch {
	case want == http.StatusUnsupportedMediaType && field != "Content-Type",
		want == http.StatusRequestEntityTooLarge && (field != "body" || !strings.Contains(ae.body.Fields[0].Message, fmt.Sprint(fuzzBodyLimit))):
		t.Fatalf("refusal %+v names the wrong field or not the limit", ae.body)
	case want == http.StatusBadRequest && field != "body" && !namesOf(body)[field]:
		t.Fatalf("refusal names %q, which the body %q does not have", field, body)
	}
}

// namesOf lists the names a body has, as the facade reports them: the top
// level's members and "parameters.<name>" for each parameter.
func namesOf(body []byte) map[string]bool {
	names := map[string]bool{}
	// The first value only: the refusal may be about what follows it.
	var top map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(body)).Decode(&top) != nil {
		return names
	}
	for name, value := range top {
		names[name] = true
		var params map[string]json.RawMessage
		if strings.EqualFold(name, "parameters") && json.Unmarshal(value, &params) == nil {
			for p := range params {
				names["parameters."+p] = true
			}
		}
	}
	return names
}

// checkAccepted checks that an accepted body is one JSON object within
// the limit, in UTF-8, whose names are exactly the request's fields, each
// once, and that it decoded to what a plain reading says.
func checkAccepted(t *testing.T, body []byte, ct string, got *CreateRequest) {
	t.Helper()
	if !strings.HasPrefix(ct, "application/json") || len(body) > fuzzBodyLimit || !utf8.Valid(body) {
		t.Fatalf("accepted %q (Content-Type %q, %d bytes)", body, ct, len(body))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		t.Fatalf("accepted %q, which is not one JSON object: %v", body, err)
	}
	for name := range top {
		if !createFields[name] {
			t.Fatalf("accepted the unknown field %q", name)
		}
	}
	if n := countNames(t, body); n != len(top) {
		t.Fatalf("accepted %q with a name given twice", body)
	}
	var plain CreateRequest
	if err := json.Unmarshal(body, &plain); err != nil {
		t.Fatalf("accepted %q, which does not decode: %v", body, err)
	}
	if diff := cmp.Diff(&plain, got); diff != "" {
		t.Fatalf("decoded differently from a plain reading (-plain +got):\n%s", diff)
	}
}

// countNames counts the top level's members, repeats included.
func countNames(t *testing.T, body []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// checkWithoutCluster runs the checks of buildRequest that need no
// cluster on an accepted body: they never panic, and every problem names
// the field it is about.
func checkWithoutCluster(t *testing.T, body *CreateRequest) {
	t.Helper()
	values, problems := parameterValues(body.Parameters)
	if len(problems) == 0 {
		problems = append(problems, checkParameterBounds(values)...)
	}
	if _, p := checkFormat(body.Format, nil); p != nil {
		problems = append(problems, *p)
	}
	_, shared := checkSharedWith(body.SharedWith, "alice")
	problems = append(problems, shared...)
	for _, p := range problems {
		name, param := strings.CutPrefix(p.Field, "parameters.")
		ok := p.Field == "parameters" || p.Field == "format" || p.Field == "sharedWith" ||
			strings.HasPrefix(p.Field, "sharedWith[") || (param && body.Parameters[name] != nil)
		if !ok || p.Message == "" {
			t.Fatalf("problem %+v does not name a field of the request", p)
		}
	}
	for name, v := range values {
		if raw := body.Parameters[name]; !utf8.ValidString(string(v)) || raw == nil {
			t.Fatalf("parameter %q became %q", name, v)
		}
	}
}
