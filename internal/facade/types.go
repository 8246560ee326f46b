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
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/params"
)

// definition finds the ReportDefinition of a report type. A type the user
// cannot use comes back as a problem with the reportType field.
func (s *Server) definition(ctx context.Context, name string) (*v1alpha1.ReportDefinition, *FieldError, error) {
	if name == "" {
		return nil, &FieldError{Field: "reportType", Message: "is required"}, nil
	}
	unknown := &FieldError{Field: "reportType", Message: fmt.Sprintf("unknown report type %q; GET /api/v1/report-types lists them", name)}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return nil, unknown, nil
	}
	key := client.ObjectKey{Namespace: s.ns, Name: name}
	def := &v1alpha1.ReportDefinition{}
	err := s.client.Get(ctx, key, def)
	if apierrors.IsNotFound(err) {
		err = s.live.Get(ctx, key, def)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, unknown, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading report type %s: %w", name, err)
	}
	// A definition the manager found broken would fail every report; one
	// not checked yet (no Ready condition) is given the benefit of the doubt.
	if ready := apimeta.FindStatusCondition(def.Status.Conditions, v1alpha1.ConditionReady); ready != nil && ready.Status == metav1.ConditionFalse {
		return nil, &FieldError{Field: "reportType", Message: fmt.Sprintf("report type %q is not available right now", name)}, nil
	}
	return def, nil, nil
}

// bindProblems binds the parameters through the shared binding (types,
// bounds, CEL rules) and names the field of each problem.
func bindProblems(spec *v1alpha1.ReportDefinitionSpec, values map[string]v1alpha1.ParameterValue, timeZone string) []FieldError {
	_, err := params.Bind(spec, values, timeZone)
	if err == nil {
		return nil
	}
	var errs params.Errors
	if !errors.As(err, &errs) {
		return []FieldError{{Field: "parameters", Message: err.Error()}}
	}
	problems := make([]FieldError, 0, len(errs))
	for _, e := range errs {
		problems = append(problems, FieldError{Field: bindField(spec, values, e.Parameter), Message: e.Message})
	}
	return problems
}

// bindField maps a binding problem to the request's field: a parameter,
// the time zone, the rules as a whole, or the definition itself (a broken
// rule, which the user cannot fix).
func bindField(spec *v1alpha1.ReportDefinitionSpec, values map[string]v1alpha1.ParameterValue, parameter string) string {
	_, given := values[parameter]
	declared := slices.ContainsFunc(spec.Parameters, func(p v1alpha1.ReportParameter) bool { return p.Name == parameter })
	switch {
	case parameter == "":
		return "parameters"
	case given || declared:
		return "parameters." + parameter
	case parameter == "timeZone":
		return "timeZone"
	default:
		return "reportType"
	}
}

// reportTypes serves GET /api/v1/report-types: names, descriptions,
// parameters and rule messages, never the query.
func (s *Server) reportTypes(w http.ResponseWriter, r *http.Request, _ auth.User) error {
	var list v1alpha1.ReportDefinitionList
	if err := s.client.List(r.Context(), &list, client.InNamespace(s.ns)); err != nil {
		return fmt.Errorf("listing report types: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b v1alpha1.ReportDefinition) int { return strings.Compare(a.Name, b.Name) })
	out := ReportTypeList{ReportTypes: make([]ReportType, 0, len(list.Items))}
	for i := range list.Items {
		out.ReportTypes = append(out.ReportTypes, typeView(&list.Items[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// typeView renders a definition for forms.
func typeView(def *v1alpha1.ReportDefinition) ReportType {
	formats := def.Spec.Formats
	if len(formats) == 0 {
		formats = allFormats
	}
	tz := def.Spec.TimeZone
	if tz == "" {
		tz = params.DefaultTimeZone
	}
	ready := apimeta.FindStatusCondition(def.Status.Conditions, v1alpha1.ConditionReady)
	t := ReportType{
		Name: def.Name, Description: def.Spec.Description, TimeZone: tz,
		Parameters: make([]TypeParameter, 0, len(def.Spec.Parameters)),
		Ready:      ready == nil || ready.Status != metav1.ConditionFalse,
	}
	for _, f := range formats {
		t.Formats = append(t.Formats, string(f))
	}
	for _, p := range def.Spec.Parameters {
		t.Parameters = append(t.Parameters, TypeParameter{
			Name: p.Name, Type: string(p.Type), Required: p.Required, Default: p.Default,
			Enum: p.Enum, Min: p.Min, Max: p.Max, MaxLength: p.MaxLength, Description: p.Description,
		})
	}
	for _, rule := range def.Spec.Rules {
		t.Rules = append(t.Rules, rule.Message)
	}
	return t
}
