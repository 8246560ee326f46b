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
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"reportd.io/reportd/api/v1alpha1"
)

// converted is one parameter value in the three shapes its users need.
type converted struct {
	// bind is what pgx binds: string, int64, pgtype.Numeric, bool or time.Time.
	bind any
	// cel is what rules see: string, int64, float64, bool or time.Time.
	cel any
	// order is what min and max compare: int64, decimal or time.Time;
	// nil for types without an order.
	order any
}

// Layouts accepted for dates and date-times. A date-time without an
// offset is read in the report's time zone, which is what an HTML
// datetime-local input sends.
const dateLayout = "2006-01-02"

var localDateTimeLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04"}

// PostgreSQL numeric's limits: digits before and after the decimal point.
const (
	maxNumericIntegerDigits  = 131072
	maxNumericFractionDigits = 16383
)

// convert reads raw as a value of type typ. On failure it returns the part
// of the message after `parameter "x": `.
func convert(typ v1alpha1.ParameterType, enum []string, raw string, loc *time.Location) (converted, string) {
	switch typ {
	case v1alpha1.ParameterString:
		return converted{bind: raw, cel: raw}, ""
	case v1alpha1.ParameterEnum:
		if !slices.Contains(enum, raw) {
			return converted{}, fmt.Sprintf("%s is not one of %s", quote(raw), quoteAll(enum))
		}
		return converted{bind: raw, cel: raw}, ""
	case v1alpha1.ParameterInteger:
		return convertInteger(raw)
	case v1alpha1.ParameterNumber:
		return convertNumber(raw)
	case v1alpha1.ParameterBoolean:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return converted{}, fmt.Sprintf("%s is not a boolean (want true or false)", quote(raw))
		}
		return converted{bind: b, cel: b}, ""
	case v1alpha1.ParameterDate:
		return convertDate(raw, loc)
	case v1alpha1.ParameterDateTime:
		return convertDateTime(raw, loc)
	default:
		return converted{}, fmt.Sprintf("has the unknown type %s", quote(string(typ)))
	}
}

// quoteAll quotes each value and joins them with commas.
func quoteAll(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = quote(v)
	}
	return strings.Join(quoted, ", ")
}

// convertInteger reads a decimal integer that fits in 64 bits.
func convertInteger(raw string) (converted, string) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return converted{}, fmt.Sprintf("%s is out of range for a 64-bit integer", quote(raw))
		}
		return converted{}, fmt.Sprintf("%s is not an integer", quote(raw))
	}
	return converted{bind: n, cel: n, order: n}, ""
}

// convertNumber reads a decimal number exactly: the bound value is a
// pgtype.Numeric holding every digit, so 0.1 stays 0.1 in the database.
// Rules see a float64, which is enough to compare.
func convertNumber(raw string) (converted, string) {
	d, ok := parseDecimal(raw)
	if !ok {
		return converted{}, fmt.Sprintf("%s is not a number", quote(raw))
	}
	if !d.inNumericRange() {
		return converted{}, fmt.Sprintf("%s is out of range for a number", quote(raw))
	}
	f, _ := strconv.ParseFloat(raw, 64) // the grammar is already checked; out of range gives ±Inf, fine for rules
	return converted{bind: d.numeric(), cel: f, order: d}, ""
}

// convertDate reads YYYY-MM-DD as midnight of that day in loc.
func convertDate(raw string, loc *time.Location) (converted, string) {
	// Parse in UTC for the calendar day: parsing in loc would already have
	// moved a nonexistent midnight to the day before.
	t, err := time.Parse(dateLayout, raw)
	if err != nil || t.Year() < 1 {
		return converted{}, fmt.Sprintf("%s is not a date (want YYYY-MM-DD)", quote(raw))
	}
	t = startOfDay(t.Year(), t.Month(), t.Day(), loc)
	return converted{bind: t, cel: t, order: t}, ""
}

// startOfDay returns the first instant of a day in loc. Where midnight does
// not exist (a zone that springs forward at 00:00, such as America/Havana),
// time.Date may answer 23:00 of the day before; the day then starts when
// that zone offset ends, as PostgreSQL reads '2024-03-10'::timestamptz.
func startOfDay(year int, month time.Month, day int, loc *time.Location) time.Time {
	t := time.Date(year, month, day, 0, 0, 0, 0, loc)
	if t.Day() == day {
		return t
	}
	if _, end := t.ZoneBounds(); !end.IsZero() && end.Day() == day {
		return end
	}
	return t
}

// convertDateTime reads an RFC 3339 date-time, or one without an offset
// in loc.
func convertDateTime(raw string, loc *time.Location) (converted, string) {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		for _, layout := range localDateTimeLayouts {
			if t, err = time.ParseInLocation(layout, raw, loc); err == nil {
				break
			}
		}
	}
	if err != nil || t.Year() < 1 {
		return converted{}, fmt.Sprintf("%s is not a date-time (want RFC 3339, e.g. 2024-01-02T15:04:05Z)", quote(raw))
	}
	t = t.In(loc)
	return converted{bind: t, cel: t, order: t}, ""
}

// decimal is a parsed decimal number: sign * digits * 10^exp, digits
// without leading zeros ("" for zero).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// parseDecimal reads [+-]digits[.digits][e[+-]digits] with at least one
// digit in the mantissa. It accepts what PostgreSQL's numeric input accepts
// apart from NaN and Infinity, which are no use as report parameters.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	var fracPart string
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[fracStart:i]
	}
	if intPart == "" && fracPart == "" {
		return decimal{}, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, ok := parseExponent(s[i+1:])
		if !ok {
			return decimal{}, false
		}
		exp = e
		i = len(s)
	}
	if i != len(s) {
		return decimal{}, false
	}
	d.digits = strings.TrimLeft(intPart+fracPart, "0")
	d.exp = exp - len(fracPart)
	return d, true
}

// parseExponent reads [+-]digits, at most 6 digits so it cannot overflow;
// any such exponent is far beyond numeric's range anyway.
func parseExponent(s string) (int, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i == len(s) || len(s)-i > 6 {
		return 0, false
	}
	for j := i; j < len(s); j++ {
		if !isDigit(s[j]) {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// inNumericRange reports whether PostgreSQL's numeric can hold d.
func (d decimal) inNumericRange() bool {
	if d.digits == "" {
		return true
	}
	intDigits := len(d.digits) + d.exp
	fracDigits := -d.exp
	return intDigits <= maxNumericIntegerDigits && fracDigits <= maxNumericFractionDigits
}

// numeric returns d as pgx's exact numeric.
func (d decimal) numeric() pgtype.Numeric {
	n := new(big.Int)
	if d.digits != "" {
		n.SetString(d.digits, 10)
	}
	if d.neg {
		n.Neg(n)
	}
	return pgtype.Numeric{Int: n, Exp: int32(d.exp), Valid: true}
}

// cmp compares two decimals exactly without expanding them (an exponent
// of 100000 would otherwise mean a 300,000-bit integer).
func (d decimal) cmp(o decimal) int {
	ds, os := d.sign(), o.sign()
	if ds != os {
		return cmpInt(int64(ds), int64(os))
	}
	m := d.cmpMagnitude(o)
	if ds < 0 {
		return -m
	}
	return m
}

// sign is -1, 0 or 1.
func (d decimal) sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// cmpMagnitude compares absolute values: first by the position of the
// leading digit, then digit by digit.
func (d decimal) cmpMagnitude(o decimal) int {
	if d.digits == "" || o.digits == "" {
		return cmpInt(int64(len(d.digits)), int64(len(o.digits)))
	}
	if c := cmpInt(int64(len(d.digits)+d.exp), int64(len(o.digits)+o.exp)); c != 0 {
		return c
	}
	for i := 0; i < len(d.digits) || i < len(o.digits); i++ {
		if c := cmpInt(int64(digitAt(d.digits, i)), int64(digitAt(o.digits, i))); c != 0 {
			return c
		}
	}
	return 0
}

// digitAt is the i-th digit of s, or 0 past its end.
func digitAt(s string, i int) byte {
	if i < len(s) {
		return s[i] - '0'
	}
	return 0
}

// compareOrder compares two order values of the same type.
func compareOrder(a, b any) int {
	switch a := a.(type) {
	case int64:
		return cmpInt(a, b.(int64))
	case decimal:
		return a.cmp(b.(decimal))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkValue converts raw for p and applies the definition's constraints.
// It returns the part of a message after `parameter "x": ` on failure.
func checkValue(p *v1alpha1.ReportParameter, raw string, loc *time.Location) (converted, string) {
	if !utf8.ValidString(raw) {
		return converted{}, "the value is not valid UTF-8"
	}
	v, msg := convert(p.Type, p.Enum, raw, loc)
	if msg != "" {
		return converted{}, msg
	}
	if p.MaxLength != nil && p.Type == v1alpha1.ParameterString {
		if n := utf8.RuneCountInString(raw); n > int(*p.MaxLength) {
			return converted{}, fmt.Sprintf("is %d characters long, more than the maximum of %d", n, *p.MaxLength)
		}
	}
	if msg := checkBounds(p, raw, v, loc); msg != "" {
		return converted{}, msg
	}
	return v, ""
}

// checkBounds applies min and max, compared after conversion (so
// "2024-01-02" and "2024-1-2" would never be compared as strings).
func checkBounds(p *v1alpha1.ReportParameter, raw string, v converted, loc *time.Location) string {
	if v.order == nil {
		return ""
	}
	isTime := p.Type == v1alpha1.ParameterDate || p.Type == v1alpha1.ParameterDateTime
	if p.Min != nil {
		minV, msg := convert(p.Type, nil, *p.Min, loc)
		if msg != "" {
			return fmt.Sprintf("the definition's min is invalid: %s", msg)
		}
		if compareOrder(v.order, minV.order) < 0 {
			if isTime {
				return fmt.Sprintf("%s is before the earliest allowed %s", quote(raw), *p.Min)
			}
			return fmt.Sprintf("%s is less than the minimum %s", quote(raw), *p.Min)
		}
	}
	if p.Max != nil {
		maxV, msg := convert(p.Type, nil, *p.Max, loc)
		if msg != "" {
			return fmt.Sprintf("the definition's max is invalid: %s", msg)
		}
		if compareOrder(v.order, maxV.order) > 0 {
			if isTime {
				return fmt.Sprintf("%s is after the latest allowed %s", quote(raw), *p.Max)
			}
			return fmt.Sprintf("%s is more than the maximum %s", quote(raw), *p.Max)
		}
	}
	return ""
}
