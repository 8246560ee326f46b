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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

// fuzzTypes are the parameter types FuzzBind picks from.
var fuzzTypes = []v1alpha1.ParameterType{
	v1alpha1.ParameterString, v1alpha1.ParameterInteger, v1alpha1.ParameterNumber,
	v1alpha1.ParameterBoolean, v1alpha1.ParameterDate, v1alpha1.ParameterDateTime, v1alpha1.ParameterEnum,
}

// FuzzBind binds arbitrary values of every type, with a min and a max, in
// an arbitrary zone. It never panics; a failure is always Errors naming the
// parameter or the zone; a success binds a value of the declared type that
// means what the input said.
func FuzzBind(f *testing.F) {
	seeds := []struct {
		typ             uint8
		value, min, max string
		zone            string
	}{
		{0, "hello, world", "", "", ""},
		{0, "a\xffb", "", "", ""},
		{1, "-42", "-100", "100", ""},
		{1, "9223372036854775808", "", "", ""},
		{2, "12345678901234567890.123456789", "0", "1e30", ""},
		{2, ".5e-3", "", "", ""},
		{2, "1e999999", "", "", ""},
		{2, "-0", "0", "0", ""},
		{3, "TRUE", "", "", ""},
		{4, "2024-02-29", "2024-01-01", "2024-12-31", "Europe/Amsterdam"},
		{4, "2024-13-01", "", "", ""},
		{4, "2024-03-10", "", "", "America/Havana"},
		{5, "2024-03-31T02:30:00", "", "", "Europe/Amsterdam"},
		{5, "2024-01-01T00:00:00.123456789+05:30", "2024-01-01T00:00:00Z", "", "Asia/Kolkata"},
		{6, "paid", "", "", ""},
		{6, "", "", "", "Nowhere/Land"},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.value, s.min, s.max, s.zone)
	}
	f.Fuzz(func(t *testing.T, typIndex uint8, value, minV, maxV, zone string) {
		typ := fuzzTypes[int(typIndex)%len(fuzzTypes)]
		p := v1alpha1.ReportParameter{Name: "p", Type: typ}
		if typ == v1alpha1.ParameterEnum {
			p.Enum = []string{"paid", "shipped", minV}
		}
		if minV != "" && typ != v1alpha1.ParameterEnum {
			p.Min = &minV
		}
		if maxV != "" && typ != v1alpha1.ParameterEnum {
			p.Max = &maxV
		}
		s := &v1alpha1.ReportDefinitionSpec{Query: "SELECT 1", Parameters: []v1alpha1.ReportParameter{p}}
		_ = ValidateDefinition(s) // must not panic on any declaration
		b, err := Bind(s, map[string]v1alpha1.ParameterValue{"p": v1alpha1.ParameterValue(value)}, zone)
		if err != nil {
			checkFuzzErrors(t, err)
			return
		}
		got, present := b.Values["p"]
		if !present {
			if value != "" || typ == v1alpha1.ParameterString {
				t.Fatalf("value %q of %s bound to nothing", value, typ)
			}
			return
		}
		checkFuzzValue(t, typ, value, got, b.Location)
	})
}

// checkFuzzErrors checks that err is Errors whose every message names what
// it is about.
func checkFuzzErrors(t *testing.T, err error) {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %v (%T) is not a non-empty params.Errors", err, err)
	}
	for _, e := range errs {
		ok := strings.HasPrefix(e.Message, `parameter "p"`) || strings.HasPrefix(e.Message, "unknown time zone ")
		if !ok || !utf8.ValidString(e.Message) {
			t.Fatalf("message %q names neither the parameter nor the zone, or is not UTF-8", e.Message)
		}
	}
}

// checkFuzzValue checks that a bound value means what the input said.
func checkFuzzValue(t *testing.T, typ v1alpha1.ParameterType, value string, got any, loc *time.Location) {
	t.Helper()
	switch typ {
	case v1alpha1.ParameterString, v1alpha1.ParameterEnum:
		if got != value {
			t.Fatalf("string %q bound as %#v", value, got)
		}
	case v1alpha1.ParameterInteger:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || got != n {
			t.Fatalf("integer %q bound as %#v", value, got)
		}
	case v1alpha1.ParameterNumber:
		checkFuzzNumber(t, value, got)
	case v1alpha1.ParameterBoolean:
		want, err := strconv.ParseBool(value)
		if err != nil || got != want {
			t.Fatalf("boolean %q bound as %#v", value, got)
		}
	case v1alpha1.ParameterDate:
		tm, ok := got.(time.Time)
		if !ok || tm.Format(dateLayout) != value || tm.Location() != loc {
			t.Fatalf("date %q bound as %#v", value, got)
		}
	case v1alpha1.ParameterDateTime:
		if tm, ok := got.(time.Time); !ok || tm.Location() != loc {
			t.Fatalf("date-time %q bound as %#v", value, got)
		}
	}
}

// checkFuzzNumber compares a bound numeric with math/big's reading of the
// same text, when math/big can read it in reasonable time.
func checkFuzzNumber(t *testing.T, value string, got any) {
	t.Helper()
	n, ok := got.(pgtype.Numeric)
	if !ok || !n.Valid || n.NaN || n.InfinityModifier != pgtype.Finite {
		t.Fatalf("number %q bound as %#v", value, got)
	}
	if n.Exp > 400 || n.Exp < -400 {
		return // big.Rat would take long to expand; parseDecimal's own range check applies
	}
	want, ok := new(big.Rat).SetString(value)
	if !ok {
		t.Fatalf("number %q was accepted but math/big cannot read it", value)
	}
	gotRat := new(big.Rat).SetInt(n.Int)
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(n.Exp, -n.Exp))), nil))
	if n.Exp >= 0 {
		gotRat.Mul(gotRat, scale)
	} else {
		gotRat.Quo(gotRat, scale)
	}
	if gotRat.Cmp(want) != 0 {
		t.Fatalf("number %q bound as %s", value, gotRat.RatString())
	}
}

// ruleTypes are the types FuzzBindRules compares with a rule.
var ruleTypes = []v1alpha1.ParameterType{
	v1alpha1.ParameterDate, v1alpha1.ParameterDateTime, v1alpha1.ParameterInteger, v1alpha1.ParameterNumber,
}

// startAfterEnd is FuzzBindRules' rule message.
const startAfterEnd = "start must not be after end"

// FuzzBindRules binds two required parameters of one ordered type under
// the rule `params.start <= params.end`, plus an optional string with a
// maxLength. Whatever the input: the rule's message appears if and only if
// both values are valid and start is after end (numbers compared as the
// doubles rules see); the string is refused if and only if it has more
// characters than maxLength or is not UTF-8; every other problem names its
// parameter; and a request without problems binds.
func FuzzBindRules(f *testing.F) {
	seeds := []struct {
		typ              uint8
		start, end, zone string
		name             string
		maxLength        uint8
	}{
		{0, "2024-01-01", "2024-01-31", "UTC", "ok", 8},
		{0, "2024-02-01", "2024-01-31", "UTC", "", 0},
		{0, "2024-03-31", "2024-03-31", "Europe/Amsterdam", "Zoë 山田", 6},
		{0, "2024-03-10", "2024-03-09", "America/Havana", "Zoë 山田", 5},
		{0, "2024-02-01", "2024-01-31", "Mars/Olympus", "", 0},
		{1, "2024-03-31T02:30", "2024-03-31T03:00:00+02:00", "Europe/Amsterdam", "x", 0},
		{1, "2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "America/New_York", "", 1},
		{1, "2024-01-01T00:00:00.000000001Z", "2024-01-01T00:00:00Z", "UTC", "a\xffb", 9},
		{2, "-9223372036854775808", "9223372036854775807", "", "'; DROP TABLE orders; --", 24},
		{2, "10", "9", "", "", 3},
		{2, "1", "", "", "", 3},
		{3, "0.1", "0.10000000000000000001", "", "", 3},
		{3, "1e308", "-1e308", "", "", 3},
		{3, "1.50", "1.5", "", "", 3},
		{3, "NaN", "Infinity", "", "", 3},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.start, s.end, s.zone, s.name, s.maxLength)
	}
	f.Fuzz(func(t *testing.T, typIndex uint8, start, end, zone, name string, maxLength uint8) {
		typ := ruleTypes[int(typIndex)%len(ruleTypes)]
		limit := int32(maxLength%16) + 1
		pair := []v1alpha1.ReportParameter{{Name: "start", Type: typ, Required: true}, {Name: "end", Type: typ, Required: true}}
		in := map[string]v1alpha1.ParameterValue{"start": v1alpha1.ParameterValue(start), "end": v1alpha1.ParameterValue(end)}
		// The pair bound alone, without the rule: what the rule must then decide.
		pairSpec := &v1alpha1.ReportDefinitionSpec{Query: "SELECT 1", Parameters: pair}
		plain, pairErr := Bind(pairSpec, in, zone)
		if _, zoneErr := LoadZone(zone); zone != "" && zoneErr != nil {
			// An unknown zone is reported, and the rest is still checked
			// in UTC, rules included.
			plain, _ = Bind(pairSpec, in, "UTC")
		}
		s := &v1alpha1.ReportDefinitionSpec{
			Query:      "SELECT 1",
			Parameters: append(pair, v1alpha1.ReportParameter{Name: "name", Type: v1alpha1.ParameterString, MaxLength: &limit}),
			Rules:      []v1alpha1.ReportRule{{Expression: "params.start <= params.end", Message: startAfterEnd}},
		}
		in["name"] = v1alpha1.ParameterValue(name)
		b, err := Bind(s, in, zone)
		want := problemFields(t, pairErr)
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > int(limit) {
			want = append(want, "name")
		}
		if plain != nil && ruleOrder(t, plain.Values["start"], plain.Values["end"], start, end) > 0 {
			want = append(want, "")
		}
		got := problemFields(t, err)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("problems about %q, want about %q: %v", got, want, err)
		}
		if err == nil && b.Values["name"] != name {
			t.Fatalf("name %q bound as %#v", name, b.Values["name"])
		}
	})
}

// problemFields returns what each problem of err is about, after checking
// that its message names it: a parameter, the zone, or "" for the rule.
func problemFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %v (%T) is not a non-empty params.Errors", err, err)
	}
	var fields []string
	for _, e := range errs {
		var ok bool
		switch e.Parameter {
		case "":
			ok = e.Message == startAfterEnd
		case "timeZone":
			ok = strings.HasPrefix(e.Message, "unknown time zone ")
		default:
			ok = strings.HasPrefix(e.Message, `parameter "`+e.Parameter+`"`)
		}
		if !ok || !utf8.ValidString(e.Message) {
			t.Fatalf("problem %+v: the message does not name what it is about", e)
		}
		fields = append(fields, e.Parameter)
	}
	return fields
}

// ruleOrder compares two bound values as the rule sees them: times and
// integers exactly, numbers as float64 (rules see doubles; the database
// gets every digit).
func ruleOrder(t *testing.T, a, b any, rawA, rawB string) int {
	t.Helper()
	switch a := a.(type) {
	case time.Time:
		return a.Compare(b.(time.Time))
	case int64:
		bi := b.(int64)
		switch {
		case a < bi:
			return -1
		case a > bi:
			return 1
		}
		return 0
	case pgtype.Numeric:
		fa, _ := strconv.ParseFloat(rawA, 64)
		fb, _ := strconv.ParseFloat(rawB, 64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	t.Fatalf("unexpected bound value %#v", a)
	return 0
}

// FuzzRule binds a valid request under an arbitrary rule expression: it
// never panics or hangs (rules have a cost limit), and a failure is either
// the rule's own message or a problem named after the rule ("rules[0]").
func FuzzRule(f *testing.F) {
	for _, expr := range []string{
		"params.n <= params.m",
		"params.s.startsWith('x') || params.b",
		"has(params.d) && params.d < timestamp('2025-01-01T00:00:00Z')",
		"params.m / 0 == 1",
		"params.s.matches('(a+)+$')",
		"[1,2,3].all(x, [1,2,3].all(y, [1,2,3].all(z, x + y + z > 0)))",
		"params.s.repeat(1000000).size() > 0",
		"params.nope == 1",
		"params.s",
		"1 +",
		"((((((((((((((((((((((((((((((((((((((((true))))))))))))))))))))))))))))))))))))))))",
		"optional.of(params.n).orValue(0) >= 0",
		"'\xff' == params.s",
		"",
	} {
		f.Add(expr, "xyz")
	}
	f.Fuzz(func(t *testing.T, expr, s string) {
		spec := &v1alpha1.ReportDefinitionSpec{
			Query: "SELECT 1",
			Parameters: []v1alpha1.ReportParameter{
				{Name: "n", Type: v1alpha1.ParameterInteger}, {Name: "m", Type: v1alpha1.ParameterNumber},
				{Name: "s", Type: v1alpha1.ParameterString}, {Name: "b", Type: v1alpha1.ParameterBoolean},
				{Name: "d", Type: v1alpha1.ParameterDate},
			},
			Rules: []v1alpha1.ReportRule{{Expression: expr, Message: "the rule says no"}},
		}
		_ = ValidateDefinition(spec)
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "?")
		}
		_, err := Bind(spec, map[string]v1alpha1.ParameterValue{
			"n": "1", "m": "2.5", "s": v1alpha1.ParameterValue(s), "b": "true", "d": "2024-06-30",
		}, "")
		if err == nil {
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Fatalf("error %v is not exactly one problem", err)
		}
		e := errs[0]
		if (e.Parameter != "" || e.Message != "the rule says no") && (e.Parameter != "rules[0]" || !strings.HasPrefix(e.Message, "rule 0 (")) {
			t.Fatalf("problem %+v is neither the rule's message nor about the rule", e)
		}
	})
}
