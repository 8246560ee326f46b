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
