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

package params

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

// ptr returns a pointer to v, for the optional fields of a parameter.
func ptr[T any](v T) *T { return &v }

// param builds a parameter of the given name and type.
func param(name string, typ v1alpha1.ParameterType, opts ...func(*v1alpha1.ReportParameter)) v1alpha1.ReportParameter {
	p := v1alpha1.ReportParameter{Name: name, Type: typ}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func required(p *v1alpha1.ReportParameter) { p.Required = true }

func withDefault(v string) func(*v1alpha1.ReportParameter) {
	return func(p *v1alpha1.ReportParameter) { p.Default = ptr(v) }
}

func withMin(v string) func(*v1alpha1.ReportParameter) {
	return func(p *v1alpha1.ReportParameter) { p.Min = ptr(v) }
}

func withMax(v string) func(*v1alpha1.ReportParameter) {
	return func(p *v1alpha1.ReportParameter) { p.Max = ptr(v) }
}

func withEnum(v ...string) func(*v1alpha1.ReportParameter) {
	return func(p *v1alpha1.ReportParameter) { p.Enum = v }
}

func withMaxLength(n int32) func(*v1alpha1.ReportParameter) {
	return func(p *v1alpha1.ReportParameter) { p.MaxLength = &n }
}

// salesSpec is the sales sample's parameters and rule.
func salesSpec() *v1alpha1.ReportDefinitionSpec {
	return &v1alpha1.ReportDefinitionSpec{
		Query: "SELECT 1",
		Parameters: []v1alpha1.ReportParameter{
			param("startDate", v1alpha1.ParameterDate, required),
			param("endDate", v1alpha1.ParameterDate, required),
		},
		Rules: []v1alpha1.ReportRule{{
			Expression: "params.startDate <= params.endDate",
			Message:    "startDate must not be after endDate",
		}},
		TimeZone: "UTC",
	}
}

// spec builds a definition with the given parameters and rules.
func spec(ps []v1alpha1.ReportParameter, rules ...v1alpha1.ReportRule) *v1alpha1.ReportDefinitionSpec {
	return &v1alpha1.ReportDefinitionSpec{Query: "SELECT 1", Parameters: ps, Rules: rules}
}

type values = map[string]v1alpha1.ParameterValue

// problems returns the messages of err, which must be Errors.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not params.Errors", err, err)
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	return msgs
}

func amsterdam(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBindSales(t *testing.T) {
	ams := amsterdam(t)
	cases := map[string]struct {
		values   values
		timeZone string
		// want are the bound values; nil when binding must fail.
		want map[string]any
		// wantZone is the resolved zone name.
		wantZone string
		// wantErrs are the expected messages, in order.
		wantErrs []string
	}{
		"both dates bind as midnight UTC by default": {
			values:   values{"startDate": "2024-01-01", "endDate": "2024-01-31"},
			want:     map[string]any{"startDate": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "endDate": time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)},
			wantZone: "UTC",
		},
		"the request's zone overrides the definition's: midnight in Amsterdam": {
			values:   values{"startDate": "2024-07-01", "endDate": "2024-07-01"},
			timeZone: "Europe/Amsterdam",
			want:     map[string]any{"startDate": time.Date(2024, 7, 1, 0, 0, 0, 0, ams), "endDate": time.Date(2024, 7, 1, 0, 0, 0, 0, ams)},
			wantZone: "Europe/Amsterdam",
		},
		"a month 13 is not a date": {
			values:   values{"startDate": "2024-13-01", "endDate": "2024-01-31"},
			wantErrs: []string{`parameter "startDate": "2024-13-01" is not a date (want YYYY-MM-DD)`},
		},
		"a missing required parameter is named": {
			values:   values{"startDate": "2024-01-01"},
			wantErrs: []string{`parameter "endDate" is required`},
		},
		"an empty date counts as missing": {
			values:   values{"startDate": "2024-01-01", "endDate": ""},
			wantErrs: []string{`parameter "endDate" is required`},
		},
		"an unknown parameter is rejected": {
			values:   values{"startDate": "2024-01-01", "endDate": "2024-01-02", "foo": "1"},
			wantErrs: []string{`unknown parameter "foo"`},
		},
		"the rule's message when start is after end": {
			values:   values{"startDate": "2024-02-01", "endDate": "2024-01-01"},
			wantErrs: []string{"startDate must not be after endDate"},
		},
		"every problem is reported, not just the first": {
			values:   values{"startDate": "01/02/2024", "bar": "x", "foo": "y"},
			timeZone: "Mars/Olympus_Mons",
			wantErrs: []string{
				`unknown time zone "Mars/Olympus_Mons"`,
				`parameter "startDate": "01/02/2024" is not a date (want YYYY-MM-DD)`,
				`parameter "endDate" is required`,
				`unknown parameter "bar"`,
				`unknown parameter "foo"`,
			},
		},
		"Local is not a zone a report may name": {
			values:   values{"startDate": "2024-01-01", "endDate": "2024-01-02"},
			timeZone: "Local",
			wantErrs: []string{`unknown time zone "Local"`},
		},
		"February 30th is not a date": {
			values:   values{"startDate": "2024-02-30", "endDate": "2024-03-01"},
			wantErrs: []string{`parameter "startDate": "2024-02-30" is not a date (want YYYY-MM-DD)`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := Bind(salesSpec(), tc.values, tc.timeZone)
			if diff := cmp.Diff(tc.wantErrs, problems(t, err)); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			if tc.want == nil {
				return
			}
			if diff := cmp.Diff(tc.want, b.Values); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if b.TimeZone != tc.wantZone || b.Location.String() != tc.wantZone {
				t.Errorf("zone = %q (%v), want %q", b.TimeZone, b.Location, tc.wantZone)
			}
		})
	}
}

func TestBindErrorNamesParameters(t *testing.T) {
	_, err := Bind(salesSpec(), values{"startDate": "2024-13-01"}, "")
	want := `parameter "startDate": "2024-13-01" is not a date (want YYYY-MM-DD); parameter "endDate" is required`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %q", err, want)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatal("not Errors")
	}
	if errs[0].Parameter != "startDate" || errs[1].Parameter != "endDate" {
		t.Errorf("parameters = %q, %q", errs[0].Parameter, errs[1].Parameter)
	}
}

func TestBindTypes(t *testing.T) {
	ams := amsterdam(t)
	havana, err := time.LoadLocation("America/Havana")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		param    v1alpha1.ReportParameter
		value    *string
		timeZone string
		// want is the bound value; nil with no wantErr means absent.
		want    any
		wantErr string
	}{
		"a string binds as given, spaces and all": {
			param: param("s", v1alpha1.ParameterString), value: ptr("  a, \"b\"  "), want: "  a, \"b\"  ",
		},
		"an empty string is a value, not missing": {
			param: param("s", v1alpha1.ParameterString, required), value: ptr(""), want: "",
		},
		"maxLength counts characters, not bytes": {
			param: param("s", v1alpha1.ParameterString, withMaxLength(3)), value: ptr("été"), want: "été",
		},
		"one character over maxLength": {
			param: param("s", v1alpha1.ParameterString, withMaxLength(3)), value: ptr("étés"),
			wantErr: `parameter "s": is 4 characters long, more than the maximum of 3`,
		},
		"invalid UTF-8 is rejected without echoing it": {
			param: param("s", v1alpha1.ParameterString), value: ptr("a\xffb"),
			wantErr: `parameter "s": the value is not valid UTF-8`,
		},
		"an integer": {
			param: param("n", v1alpha1.ParameterInteger), value: ptr("-42"), want: int64(-42),
		},
		"a fraction is not an integer": {
			param: param("n", v1alpha1.ParameterInteger), value: ptr("1.5"), wantErr: `parameter "n": "1.5" is not an integer`,
		},
		"an integer beyond 64 bits": {
			param: param("n", v1alpha1.ParameterInteger), value: ptr("9223372036854775808"),
			wantErr: `parameter "n": "9223372036854775808" is out of range for a 64-bit integer`,
		},
		"an integer below min": {
			param: param("n", v1alpha1.ParameterInteger, withMin("10")), value: ptr("9"),
			wantErr: `parameter "n": "9" is less than the minimum 10`,
		},
		"an integer at max is allowed": {
			param: param("n", v1alpha1.ParameterInteger, withMax("10")), value: ptr("10"), want: int64(10),
		},
		"a number keeps every digit": {
			param: param("x", v1alpha1.ParameterNumber), value: ptr("12345678901234567890.123456789"),
			want: pgtype.Numeric{Int: bigInt(t, "12345678901234567890123456789"), Exp: -9, Valid: true},
		},
		"0.1 is exactly one tenth": {
			param: param("x", v1alpha1.ParameterNumber), value: ptr("0.1"),
			want: pgtype.Numeric{Int: big.NewInt(1), Exp: -1, Valid: true},
		},
		"a number with an exponent": {
			param: param("x", v1alpha1.ParameterNumber), value: ptr("-2.5e3"),
			want: pgtype.Numeric{Int: big.NewInt(-25), Exp: 2, Valid: true},
		},
		"NaN is not a number here": {
			param: param("x", v1alpha1.ParameterNumber), value: ptr("NaN"), wantErr: `parameter "x": "NaN" is not a number`,
		},
		"a number compared exactly with max: 0.30 equals 0.3": {
			param: param("x", v1alpha1.ParameterNumber, withMax("0.3")), value: ptr("0.30"),
			want: pgtype.Numeric{Int: big.NewInt(30), Exp: -2, Valid: true},
		},
		"a number just above max, where floats would round": {
			param: param("x", v1alpha1.ParameterNumber, withMax("0.3")), value: ptr("0.30000000000000000001"),
			wantErr: `parameter "x": "0.30000000000000000001" is more than the maximum 0.3`,
		},
		"a number beyond numeric's range": {
			param: param("x", v1alpha1.ParameterNumber), value: ptr("1e200000"), wantErr: `parameter "x": "1e200000" is out of range for a number`,
		},
		"true": {
			param: param("b", v1alpha1.ParameterBoolean), value: ptr("true"), want: true,
		},
		"0 is false": {
			param: param("b", v1alpha1.ParameterBoolean), value: ptr("0"), want: false,
		},
		"yes is not a boolean": {
			param: param("b", v1alpha1.ParameterBoolean), value: ptr("yes"), wantErr: `parameter "b": "yes" is not a boolean (want true or false)`,
		},
		"a date before min": {
			param: param("d", v1alpha1.ParameterDate, withMin("2024-01-01")), value: ptr("2023-12-31"),
			wantErr: `parameter "d": "2023-12-31" is before the earliest allowed 2024-01-01`,
		},
		"a date after max": {
			param: param("d", v1alpha1.ParameterDate, withMax("2025-12-31")), value: ptr("2026-01-01"),
			wantErr: `parameter "d": "2026-01-01" is after the latest allowed 2025-12-31`,
		},
		"a day whose midnight does not exist (Havana springs forward at 00:00) starts at 01:00": {
			param: param("d", v1alpha1.ParameterDate), value: ptr("2024-03-10"), timeZone: "America/Havana",
			want: time.Date(2024, 3, 10, 5, 0, 0, 0, time.UTC).In(havana),
		},
		"a date-time with an offset, shown in the report's zone": {
			param: param("t", v1alpha1.ParameterDateTime), value: ptr("2024-03-31T00:30:00Z"), timeZone: "Europe/Amsterdam",
			want: time.Date(2024, 3, 31, 1, 30, 0, 0, ams),
		},
		"a date-time without an offset is read in the report's zone": {
			param: param("t", v1alpha1.ParameterDateTime), value: ptr("2024-07-01T09:15"), timeZone: "Europe/Amsterdam",
			want: time.Date(2024, 7, 1, 9, 15, 0, 0, ams),
		},
		"a date-time after max, compared as instants": {
			param: param("t", v1alpha1.ParameterDateTime, withMax("2024-01-01T00:00:00Z")), value: ptr("2024-01-01T00:30:00+01:00"),
			want: time.Date(2023, 12, 31, 23, 30, 0, 0, time.UTC),
		},
		"a date is not a date-time": {
			param: param("t", v1alpha1.ParameterDateTime), value: ptr("2024-01-01"),
			wantErr: `parameter "t": "2024-01-01" is not a date-time (want RFC 3339, e.g. 2024-01-02T15:04:05Z)`,
		},
		"an enum value": {
			param: param("e", v1alpha1.ParameterEnum, withEnum("paid", "shipped")), value: ptr("paid"), want: "paid",
		},
		"a value outside the enum": {
			param: param("e", v1alpha1.ParameterEnum, withEnum("paid", "shipped")), value: ptr("lost"),
			wantErr: `parameter "e": "lost" is not one of "paid", "shipped"`,
		},
		"a missing optional parameter is absent, so pgx binds NULL": {
			param: param("e", v1alpha1.ParameterEnum, withEnum("paid")), value: nil, want: nil,
		},
		"a missing parameter takes its default": {
			param: param("b", v1alpha1.ParameterBoolean, withDefault("false")), value: nil, want: false,
		},
		"a required parameter with a default may be left out": {
			param: param("n", v1alpha1.ParameterInteger, required, withDefault("7")), value: nil, want: int64(7),
		},
		"an empty integer takes its default": {
			param: param("n", v1alpha1.ParameterInteger, withDefault("7")), value: ptr(""), want: int64(7),
		},
		"an invalid default is the definition's fault and says so": {
			param: param("n", v1alpha1.ParameterInteger, withDefault("seven")), value: nil,
			wantErr: `parameter "n": the definition's default is invalid: "seven" is not an integer`,
		},
		"a long bad value is cut short in the message": {
			param: param("n", v1alpha1.ParameterInteger), value: ptr(strings.Repeat("x", 100)),
			wantErr: `parameter "n": "` + strings.Repeat("x", 64) + `"... is not an integer`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			vals := values{}
			if tc.value != nil {
				vals[tc.param.Name] = v1alpha1.ParameterValue(*tc.value)
			}
			b, err := Bind(spec([]v1alpha1.ReportParameter{tc.param}), vals, tc.timeZone)
			if tc.wantErr != "" {
				if diff := cmp.Diff([]string{tc.wantErr}, problems(t, err)); diff != "" {
					t.Fatalf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Bind: %v", err)
			}
			got, present := b.Values[tc.param.Name]
			if tc.want == nil {
				if present {
					t.Fatalf("value = %#v, want absent", got)
				}
				return
			}
			if !equalValue(tc.want, got) {
				t.Fatalf("value = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// equalValue compares bound values: times as instants in the same zone,
// numerics by digits and exponent.
func equalValue(want, got any) bool {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		return ok && w.Equal(g) && w.Location().String() == g.Location().String()
	case pgtype.Numeric:
		g, ok := got.(pgtype.Numeric)
		return ok && g.Valid && w.Int.Cmp(g.Int) == 0 && w.Exp == g.Exp
	}
	return want == got
}

func bigInt(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad big int %q", s)
	}
	return n
}

func TestBindRules(t *testing.T) {
	cases := map[string]struct {
		params []v1alpha1.ReportParameter
		rules  []v1alpha1.ReportRule
		values values
		// wantErrs are the expected messages; none means the rules pass.
		wantErrs []string
	}{
		"integers and doubles compare across types": {
			params: []v1alpha1.ReportParameter{param("n", v1alpha1.ParameterInteger), param("x", v1alpha1.ParameterNumber)},
			rules:  []v1alpha1.ReportRule{{Expression: "params.n < params.x && params.x > 1", Message: "n must be below x"}},
			values: values{"n": "2", "x": "2.5"},
		},
		"a false rule gives its message": {
			params:   []v1alpha1.ReportParameter{param("n", v1alpha1.ParameterInteger), param("x", v1alpha1.ParameterNumber)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.n < params.x", Message: "n must be below x"}},
			values:   values{"n": "3", "x": "2.5"},
			wantErrs: []string{"n must be below x"},
		},
		"optional parameters can be tested with has()": {
			params: []v1alpha1.ReportParameter{param("from", v1alpha1.ParameterDate), param("to", v1alpha1.ParameterDate)},
			rules:  []v1alpha1.ReportRule{{Expression: "!has(params.from) || !has(params.to) || params.from <= params.to", Message: "from after to"}},
			values: values{"to": "2024-01-01"},
		},
		"timestamps support CEL's time functions, in UTC by default": {
			params:   []v1alpha1.ReportParameter{param("from", v1alpha1.ParameterDate), param("to", v1alpha1.ParameterDate)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.to - params.from <= duration('8760h')", Message: "at most a year"}},
			values:   values{"from": "2024-01-01", "to": "2025-06-01"},
			wantErrs: []string{"at most a year"},
		},
		"strings and bools": {
			params:   []v1alpha1.ReportParameter{param("s", v1alpha1.ParameterString), param("b", v1alpha1.ParameterBoolean)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.b || params.s.startsWith('x')", Message: "s must start with x unless b"}},
			values:   values{"s": "abc", "b": "false"},
			wantErrs: []string{"s must start with x unless b"},
		},
		"a rule over a parameter that already failed is skipped": {
			params:   []v1alpha1.ReportParameter{param("from", v1alpha1.ParameterDate), param("to", v1alpha1.ParameterDate)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.from <= params.to", Message: "from after to"}},
			values:   values{"from": "2024-01-01", "to": "soon"},
			wantErrs: []string{`parameter "to": "soon" is not a date (want YYYY-MM-DD)`},
		},
		"a rule that cannot be evaluated, with no other problem, is an error": {
			params:   []v1alpha1.ReportParameter{param("from", v1alpha1.ParameterDate)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.from <= params.to", Message: "from after to"}},
			values:   values{"from": "2024-01-01"},
			wantErrs: []string{"rule 0 (params.from <= params.to) could not be evaluated: no such key: to"},
		},
		"a dynamic rule that yields a string is an error": {
			params:   []v1alpha1.ReportParameter{param("s", v1alpha1.ParameterString)},
			rules:    []v1alpha1.ReportRule{{Expression: "params.s", Message: "m"}},
			values:   values{"s": "abc"},
			wantErrs: []string{"rule 0 (params.s) could not be evaluated: it did not yield true or false"},
		},
		"a rule that yields an int does not compile": {
			params:   []v1alpha1.ReportParameter{param("s", v1alpha1.ParameterString)},
			rules:    []v1alpha1.ReportRule{{Expression: "size(params.s) + 1", Message: "m"}},
			values:   values{"s": "abc"},
			wantErrs: []string{"rule 0 (size(params.s) + 1) is invalid: it must be true or false, but it yields int"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Bind(spec(tc.params, tc.rules...), tc.values, "")
			if diff := cmp.Diff(tc.wantErrs, problems(t, err)); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBindRuleSyntaxError(t *testing.T) {
	s := spec([]v1alpha1.ReportParameter{param("n", v1alpha1.ParameterInteger)},
		v1alpha1.ReportRule{Expression: "params.n >", Message: "m"})
	_, err := Bind(s, values{"n": "1"}, "")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("err = %v, want one problem", err)
	}
	if errs[0].Parameter != "rules[0]" || !strings.Contains(errs[0].Message, "rule 0 (params.n >) is invalid: ERROR") {
		t.Errorf("problem = %+v", errs[0])
	}
}

func TestValidateDefinition(t *testing.T) {
	keyRange := func(start, end string) *v1alpha1.ProgressEstimate {
		return &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressKeyRange, KeyColumn: "Date", StartParameter: start, EndParameter: end}
	}
	cases := map[string]struct {
		spec *v1alpha1.ReportDefinitionSpec
		// wantErrs are the expected messages; none means valid.
		wantErrs []string
	}{
		"the sales sample is valid": {
			spec: func() *v1alpha1.ReportDefinitionSpec {
				s := salesSpec()
				s.Progress = keyRange("startDate", "endDate")
				return s
			}(),
		},
		"an unknown zone": {
			spec:     &v1alpha1.ReportDefinitionSpec{Query: "q", TimeZone: "Europe/Atlantis"},
			wantErrs: []string{`unknown time zone "Europe/Atlantis"`},
		},
		"a default that is not of its type": {
			spec:     spec([]v1alpha1.ReportParameter{param("d", v1alpha1.ParameterDate, withDefault("tomorrow"))}),
			wantErrs: []string{`parameter "d": the default is invalid: "tomorrow" is not a date (want YYYY-MM-DD)`},
		},
		"a default outside the bounds": {
			spec:     spec([]v1alpha1.ReportParameter{param("n", v1alpha1.ParameterInteger, withMin("1"), withDefault("0"))}),
			wantErrs: []string{`parameter "n": the default is invalid: "0" is less than the minimum 1`},
		},
		"a default outside the enum": {
			spec:     spec([]v1alpha1.ReportParameter{param("e", v1alpha1.ParameterEnum, withEnum("a"), withDefault("b"))}),
			wantErrs: []string{`parameter "e": the default is invalid: "b" is not one of "a"`},
		},
		"min above max, compared as numbers (10 > 9 though '10' < '9')": {
			spec:     spec([]v1alpha1.ReportParameter{param("n", v1alpha1.ParameterNumber, withMin("10"), withMax("9"))}),
			wantErrs: []string{`parameter "n": min 10 is above max 9`},
		},
		"a min that is not a date": {
			spec:     spec([]v1alpha1.ReportParameter{param("d", v1alpha1.ParameterDate, withMin("2024"))}),
			wantErrs: []string{`parameter "d": min "2024" is not a date (want YYYY-MM-DD)`},
		},
		"min on a string": {
			spec:     spec([]v1alpha1.ReportParameter{param("s", v1alpha1.ParameterString, withMin("a"))}),
			wantErrs: []string{`parameter "s": min and max are only allowed for integer, number, date and datetime parameters`},
		},
		"an enum without values": {
			spec:     spec([]v1alpha1.ReportParameter{param("e", v1alpha1.ParameterEnum)}),
			wantErrs: []string{`parameter "e" is an enum but lists no values in enum`},
		},
		"a duplicate name": {
			spec:     spec([]v1alpha1.ReportParameter{param("a", v1alpha1.ParameterString), param("a", v1alpha1.ParameterInteger)}),
			wantErrs: []string{`parameter "a" is declared twice`},
		},
		"a name the query could not use": {
			spec:     spec([]v1alpha1.ReportParameter{param("1st", v1alpha1.ParameterString)}),
			wantErrs: []string{`parameter name "1st" must start with a letter or underscore and contain only letters, digits and underscores`},
		},
		"an unknown type": {
			spec:     spec([]v1alpha1.ReportParameter{param("a", "money")}),
			wantErrs: []string{`parameter "a" has the unknown type "money"`},
		},
		"a rule that refers to an undeclared variable": {
			spec:     spec(nil, v1alpha1.ReportRule{Expression: "params.a <= nope", Message: "m"}),
			wantErrs: []string{"rule 0 (params.a <= nope) is invalid: ERROR: <input>:1:13: undeclared reference to 'nope' (in container '')\n | params.a <= nope\n | ............^"},
		},
		"a rule that yields a string": {
			spec:     spec(nil, v1alpha1.ReportRule{Expression: "'yes'", Message: "m"}),
			wantErrs: []string{"rule 0 ('yes') is invalid: it must be true or false, but it yields string"},
		},
		"KeyRange over an undeclared and a string parameter": {
			spec: func() *v1alpha1.ReportDefinitionSpec {
				s := spec([]v1alpha1.ReportParameter{param("s", v1alpha1.ParameterString)})
				s.Progress = keyRange("from", "s")
				return s
			}(),
			wantErrs: []string{
				`KeyRange progress refers to the undeclared parameter "from"`,
				`KeyRange progress parameter "s" must be a date, datetime or integer, not string`,
			},
		},
		"KeyRange over a date and an integer": {
			spec: func() *v1alpha1.ReportDefinitionSpec {
				s := spec([]v1alpha1.ReportParameter{param("d", v1alpha1.ParameterDate), param("n", v1alpha1.ParameterInteger)})
				s.Progress = keyRange("d", "n")
				return s
			}(),
			wantErrs: []string{`KeyRange progress parameters "d" and "n" must have the same type`},
		},
		"Count progress needs no parameters": {
			spec: &v1alpha1.ReportDefinitionSpec{Query: "q", Progress: &v1alpha1.ProgressEstimate{Mode: v1alpha1.ProgressCount}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := ValidateDefinition(tc.spec)
			if diff := cmp.Diff(tc.wantErrs, problems(t, err)); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompileRuleCaches checks that a rule is compiled once: the second
// lookup returns the very same program.
func TestCompileRuleCaches(t *testing.T) {
	a, err := compileRule("params.x == 1 && true")
	if err != nil {
		t.Fatal(err)
	}
	b, err := compileRule("params.x == 1 && true")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the rule was compiled twice")
	}
}

func TestDecimalCompare(t *testing.T) {
	cases := map[string]struct {
		a, b string
		want int
	}{
		"negative zero equals zero":                 {"-0", "0.000", 0},
		"trailing zeros do not matter":              {"1.50", "1.5", 0},
		"an exponent moves the point":               {"1e3", "999.9", 1},
		"the more negative is smaller":              {"-5", "-4", -1},
		"leading zeros of fractions":                {"0.001", "0.01", -1},
		"equal values written differently":          {"12.5e-1", "1.25", 0},
		"huge exponents compare without expanding":  {"1e131000", "9e130999", 1},
		"a tiny positive is above a tiny negative":  {"1e-16000", "-1e-16000", 1},
		"a longer digit string with the same start": {"1.0000001", "1", 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a, okA := parseDecimal(tc.a)
			b, okB := parseDecimal(tc.b)
			if !okA || !okB {
				t.Fatalf("parse %q, %q: %v, %v", tc.a, tc.b, okA, okB)
			}
			if got := a.cmp(b); got != tc.want {
				t.Errorf("cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := b.cmp(a); got != -tc.want {
				t.Errorf("cmp(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}
