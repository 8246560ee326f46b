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
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"reportd.io/reportd/api/v1alpha1"
)

// namePattern is the CRD's pattern for parameter names, repeated here for
// definitions that did not come through the API server (tests, dev).
var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// keyRangeTypes are the parameter types a KeyRange progress can span.
var keyRangeTypes = []v1alpha1.ParameterType{
	v1alpha1.ParameterDate, v1alpha1.ParameterDateTime, v1alpha1.ParameterInteger,
}

// orderedTypes are the parameter types that take min and max.
var orderedTypes = []v1alpha1.ParameterType{
	v1alpha1.ParameterInteger, v1alpha1.ParameterNumber, v1alpha1.ParameterDate, v1alpha1.ParameterDateTime,
}

// ValidateDefinition checks what the CRD's own validation cannot: that the
// time zone exists, defaults are valid values of their types and within
// their bounds, min is not above max, rules compile to a bool, and a
// KeyRange progress names date, datetime or integer parameters. It does not
// look at the query; CheckDefinition in the generator does that against
// the database. On failure the error is Errors.
func ValidateDefinition(spec *v1alpha1.ReportDefinitionSpec) error {
	var errs Errors
	loc := time.UTC
	if spec.TimeZone != "" {
		l, err := LoadZone(spec.TimeZone)
		if err != nil {
			errs.add("timeZone", "unknown time zone %s", quote(spec.TimeZone))
		} else {
			loc = l
		}
	}
	seen := map[string]bool{}
	for i := range spec.Parameters {
		p := &spec.Parameters[i]
		if seen[p.Name] {
			errs.add(p.Name, "parameter %q is declared twice", p.Name)
			continue
		}
		seen[p.Name] = true
		validateParameter(p, loc, &errs)
	}
	for i := range spec.Rules {
		if _, err := compileRule(spec.Rules[i].Expression); err != nil {
			errs.add(ruleField(i), "rule %d (%s) is invalid: %v", i, spec.Rules[i].Expression, err)
		}
	}
	validateProgress(spec, &errs)
	return errs.errOrNil()
}

// validateParameter checks one parameter's declaration.
func validateParameter(p *v1alpha1.ReportParameter, loc *time.Location, errs *Errors) {
	if !namePattern.MatchString(p.Name) {
		errs.add(p.Name, "parameter name %s must start with a letter or underscore and contain only letters, digits and underscores", quote(p.Name))
		return
	}
	if !knownType(p.Type) {
		errs.add(p.Name, "parameter %q has the unknown type %s", p.Name, quote(string(p.Type)))
		return
	}
	if !validateFacets(p, errs) {
		return
	}
	if !validateBounds(p, loc, errs) {
		return
	}
	if p.Default != nil {
		if _, msg := checkValue(p, *p.Default, loc); msg != "" {
			errs.add(p.Name, "parameter %q: the default is invalid: %s", p.Name, msg)
		}
	}
}

// knownType reports whether t is one of the declared parameter types.
func knownType(t v1alpha1.ParameterType) bool {
	switch t {
	case v1alpha1.ParameterString, v1alpha1.ParameterInteger, v1alpha1.ParameterNumber,
		v1alpha1.ParameterBoolean, v1alpha1.ParameterDate, v1alpha1.ParameterDateTime, v1alpha1.ParameterEnum:
		return true
	}
	return false
}

// validateFacets checks that enum, maxLength, min and max appear only on
// the types they belong to. It returns false when a problem was recorded.
func validateFacets(p *v1alpha1.ReportParameter, errs *Errors) bool {
	before := len(*errs)
	if p.Type == v1alpha1.ParameterEnum && len(p.Enum) == 0 {
		errs.add(p.Name, "parameter %q is an enum but lists no values in enum", p.Name)
	}
	if p.Type != v1alpha1.ParameterEnum && len(p.Enum) > 0 {
		errs.add(p.Name, "parameter %q: enum is only allowed when type is enum", p.Name)
	}
	for _, v := range p.Enum {
		if !utf8.ValidString(v) {
			errs.add(p.Name, "parameter %q: an enum value is not valid UTF-8", p.Name)
		}
	}
	if p.MaxLength != nil && (p.Type != v1alpha1.ParameterString || *p.MaxLength < 1) {
		errs.add(p.Name, "parameter %q: maxLength must be at least 1 and only on string parameters", p.Name)
	}
	if (p.Min != nil || p.Max != nil) && !slices.Contains(orderedTypes, p.Type) {
		errs.add(p.Name, "parameter %q: min and max are only allowed for integer, number, date and datetime parameters", p.Name)
	}
	return len(*errs) == before
}

// validateBounds checks that min and max are values of the parameter's
// type and that min is not above max. It returns false on a problem.
func validateBounds(p *v1alpha1.ReportParameter, loc *time.Location, errs *Errors) bool {
	var minV, maxV converted
	var msg string
	if p.Min != nil {
		if minV, msg = convert(p.Type, nil, *p.Min, loc); msg != "" {
			errs.add(p.Name, "parameter %q: min %s", p.Name, msg)
			return false
		}
	}
	if p.Max != nil {
		if maxV, msg = convert(p.Type, nil, *p.Max, loc); msg != "" {
			errs.add(p.Name, "parameter %q: max %s", p.Name, msg)
			return false
		}
	}
	if p.Min != nil && p.Max != nil && compareOrder(minV.order, maxV.order) > 0 {
		errs.add(p.Name, "parameter %q: min %s is above max %s", p.Name, *p.Min, *p.Max)
		return false
	}
	return true
}

// validateProgress checks a KeyRange progress's parameters.
func validateProgress(spec *v1alpha1.ReportDefinitionSpec, errs *Errors) {
	pr := spec.Progress
	if pr == nil || pr.Mode != v1alpha1.ProgressKeyRange {
		return
	}
	if pr.KeyColumn == "" {
		errs.add("progress", "KeyRange progress needs keyColumn")
	}
	var types []v1alpha1.ParameterType
	for _, name := range []string{pr.StartParameter, pr.EndParameter} {
		p := findParameter(spec, name)
		switch {
		case p == nil:
			errs.add("progress", "KeyRange progress refers to the undeclared parameter %s", quote(name))
		case !slices.Contains(keyRangeTypes, p.Type):
			errs.add("progress", "KeyRange progress parameter %q must be a date, datetime or integer, not %s", name, p.Type)
		default:
			types = append(types, p.Type)
		}
	}
	if len(types) == 2 && types[0] != types[1] {
		errs.add("progress", "KeyRange progress parameters %q and %q must have the same type", pr.StartParameter, pr.EndParameter)
	}
}

// findParameter returns the parameter called name, or nil.
func findParameter(spec *v1alpha1.ReportDefinitionSpec, name string) *v1alpha1.ReportParameter {
	for i := range spec.Parameters {
		if spec.Parameters[i].Name == name {
			return &spec.Parameters[i]
		}
	}
	return nil
}
