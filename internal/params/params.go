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

// Package params binds a report request's parameters to its definition:
// it converts the request's strings to typed values, applies defaults and
// the definition's constraints, evaluates the definition's CEL rules, and
// reports every problem in words a user understands. The facade, the
// manager and the generator all call it, so a request is judged the same
// way everywhere.
//
// Conversion, by parameter type:
//   - string: as given; maxLength counts characters, not bytes.
//   - enum: one of the listed values.
//   - integer: a decimal int64.
//   - number: a decimal number, kept exact (a pgtype.Numeric), so 0.1 is
//     0.1 in the database; no NaN or Infinity.
//   - boolean: true or false (also 1/0, t/f, as strconv.ParseBool reads).
//   - date: YYYY-MM-DD, bound as midnight of that day in the report's
//     time zone.
//   - datetime: RFC 3339, or YYYY-MM-DDTHH:MM[:SS] without an offset, read
//     in the report's time zone.
//
// An empty value of any type but string counts as not given (forms send
// empty fields), so a default or the required check applies.
package params

import (
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	// Embed the zone database so report time zones work in images without
	// /usr/share/zoneinfo (distroless, scratch).
	_ "time/tzdata"

	"reportd.io/reportd/api/v1alpha1"
)

// DefaultTimeZone is used when neither the request nor the definition names one.
const DefaultTimeZone = "UTC"

// Bound is a request's parameters after conversion and checks.
type Bound struct {
	// Values are ready to bind as pgx named arguments (pgx.NamedArgs):
	// string, int64, pgtype.Numeric (number), bool, or time.Time (date and
	// datetime, in Location). An optional parameter that was not given and
	// has no default is absent; pgx then binds NULL for it.
	Values map[string]any
	// Location is the report's time zone.
	Location *time.Location
	// TimeZone is the zone's IANA name: the request's override, else the
	// definition's, else UTC. The query's session TimeZone is set to it.
	TimeZone string
}

// Bind converts and checks a request's parameter values against spec.
// timeZone is the request's (or schedule's) override, or "" for the
// definition's. On failure the error is Errors, listing every problem.
func Bind(spec *v1alpha1.ReportDefinitionSpec, values map[string]v1alpha1.ParameterValue, timeZone string) (*Bound, error) {
	var errs Errors
	zone, loc, ok := resolveZone(spec.TimeZone, timeZone)
	if !ok {
		errs.add("timeZone", "unknown time zone %s", quote(zone))
		loc = time.UTC // keep checking the rest against some zone
	}
	bound := &Bound{Values: make(map[string]any, len(spec.Parameters)), Location: loc, TimeZone: zone}
	celParams := make(map[string]any, len(spec.Parameters))
	for i := range spec.Parameters {
		p := &spec.Parameters[i]
		raw, given := values[p.Name]
		v, present, ok := bindParameter(p, string(raw), given, loc, &errs)
		if ok && present {
			bound.Values[p.Name] = v.bind
			celParams[p.Name] = v.cel
		}
	}
	rejectUnknown(spec, values, &errs)
	paramProblems := len(errs) > 0
	evalRules(spec.Rules, celParams, paramProblems, &errs)
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return bound, nil
}

// bindParameter converts one parameter's value, or its default when it was
// not given. present is false for an optional parameter left out; ok is
// false when a problem was recorded.
func bindParameter(p *v1alpha1.ReportParameter, raw string, given bool, loc *time.Location, errs *Errors) (v converted, present, ok bool) {
	if given && raw == "" && p.Type != v1alpha1.ParameterString {
		given = false
	}
	fromDefault := false
	if !given {
		if p.Default == nil {
			if p.Required {
				errs.add(p.Name, "parameter %q is required", p.Name)
				return converted{}, false, false
			}
			return converted{}, false, true
		}
		raw, fromDefault = *p.Default, true
	}
	v, msg := checkValue(p, raw, loc)
	switch {
	case msg == "":
		return v, true, true
	case fromDefault:
		errs.add(p.Name, "parameter %q: the definition's default is invalid: %s", p.Name, msg)
	default:
		errs.add(p.Name, "parameter %q: %s", p.Name, msg)
	}
	return converted{}, false, false
}

// rejectUnknown records every given name the definition does not declare,
// sorted so the message is stable.
func rejectUnknown(spec *v1alpha1.ReportDefinitionSpec, values map[string]v1alpha1.ParameterValue, errs *Errors) {
	declared := make(map[string]bool, len(spec.Parameters))
	for i := range spec.Parameters {
		declared[spec.Parameters[i].Name] = true
	}
	var unknown []string
	for name := range values {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs.add(name, "unknown parameter %s", quote(name))
	}
}

// evalRules evaluates the definition's rules. A rule that cannot be
// evaluated because a parameter already failed (it is missing from
// `params`) is skipped: that parameter's own problem says what to fix.
func evalRules(rules []v1alpha1.ReportRule, celParams map[string]any, paramProblems bool, errs *Errors) {
	for i := range rules {
		r := &rules[i]
		prg, err := compileRule(r.Expression)
		if err != nil {
			errs.add(ruleField(i), "rule %d (%s) is invalid: %v", i, r.Expression, err)
			continue
		}
		holds, err := evalRule(prg, celParams)
		switch {
		case err != nil && paramProblems:
			continue
		case err != nil:
			errs.add(ruleField(i), "rule %d (%s) could not be evaluated: %v", i, r.Expression, err)
		case !holds:
			errs.add("", "%s", r.Message)
		}
	}
}

// ruleField names a rule in problems about the rule itself.
func ruleField(i int) string {
	return "rules[" + strconv.Itoa(i) + "]"
}

// resolveZone picks the request's zone, else the definition's, else UTC,
// and loads it. "Local" is refused: it would mean the pod's zone.
func resolveZone(definition, request string) (string, *time.Location, bool) {
	zone := request
	if zone == "" {
		zone = definition
	}
	if zone == "" {
		zone = DefaultTimeZone
	}
	loc, err := LoadZone(zone)
	if err != nil {
		return zone, nil, false
	}
	return zone, loc, true
}

// errUnknownZone is LoadZone's error for names it refuses itself.
var errUnknownZone = errors.New("unknown time zone")

// LoadZone loads an IANA time zone by name. Unlike time.LoadLocation it
// refuses "" and "Local", which would silently mean UTC or the pod's zone.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errUnknownZone
	}
	zoneCache.Lock()
	loc, ok := zoneCache.zones[name]
	zoneCache.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zoneCache.Lock()
	if len(zoneCache.zones) >= maxCachedZones {
		clear(zoneCache.zones)
	}
	zoneCache.zones[name] = loc
	zoneCache.Unlock()
	return loc, nil
}

// maxCachedZones bounds the zone cache; there are about 600 zone names.
const maxCachedZones = 1024

// zoneCache keeps loaded zones: loading one reads and parses a file
// (about 10 ms), and every request needs its zone.
var zoneCache = struct {
	sync.Mutex
	zones map[string]*time.Location
}{zones: map[string]*time.Location{}}
