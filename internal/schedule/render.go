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

package schedule

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"reportd.io/reportd/api/v1alpha1"
)

// MaxValueLength is the longest parameter value, template or rendered (the
// ReportRequest API's limit).
const MaxValueLength = 4096

// Data is what a parameter template sees, e.g.
// {{ .ScheduledTime | date "2006-01-02" }}.
type Data struct {
	// ScheduledTime is the run's scheduled time in the schedule's zone (for
	// a run-now, the moment the request was handled).
	ScheduledTime time.Time
	// Schedule is the ReportSchedule's name.
	Schedule string
	// Namespace is the ReportSchedule's namespace.
	Namespace string
	// TimeZone is the schedule's IANA zone name.
	TimeZone string
}

// RenderError says which parameter's template failed and why.
type RenderError struct {
	// Parameter is the parameter's name.
	Parameter string
	// Err is the template's parse or execution error.
	Err error
}

// Error implements error.
func (e *RenderError) Error() string {
	return fmt.Sprintf("parameter %s: %v", e.Parameter, e.Err)
}

// Unwrap returns the underlying error.
func (e *RenderError) Unwrap() error { return e.Err }

// Render renders every parameter value of a template as a Go text/template
// with the functions of Funcs. Values without {{ come out as written. It
// fails on the first parameter (in name order) that does not render.
func Render(values map[string]v1alpha1.ParameterValue, data Data) (map[string]v1alpha1.ParameterValue, error) {
	if values == nil {
		return nil, nil
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]v1alpha1.ParameterValue, len(values))
	for _, name := range names {
		rendered, err := RenderValue(string(values[name]), data)
		if err != nil {
			return nil, &RenderError{Parameter: name, Err: err}
		}
		out[name] = v1alpha1.ParameterValue(rendered)
	}
	return out, nil
}

// RenderValue renders one parameter template.
func RenderValue(text string, data Data) (string, error) {
	if len(text) > MaxValueLength {
		return "", fmt.Errorf("template is longer than %d bytes", MaxValueLength)
	}
	tmpl, err := template.New("value").Option("missingkey=error").Funcs(Funcs()).Parse(text)
	if err != nil {
		return "", trimTemplateName(err)
	}
	if err := checkConstructs(tmpl); err != nil {
		return "", err
	}
	var out limitedBuilder
	if err := tmpl.Execute(&out, data); err != nil {
		return "", trimTemplateName(err)
	}
	return out.String(), nil
}

// checkConstructs refuses loops and nested templates: a parameter is one
// value, and without loops a template's run time is bounded by its length.
func checkConstructs(tmpl *template.Template) error {
	if len(tmpl.Templates()) > 1 {
		return errors.New("define and block are not allowed in parameter templates")
	}
	if tmpl.Tree == nil {
		return nil
	}
	return walk(tmpl.Root)
}

func walk(node parse.Node) error {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, child := range n.Nodes {
			if err := walk(child); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return walkBranch(&n.BranchNode)
	case *parse.WithNode:
		return walkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return errors.New("range is not allowed in parameter templates")
	case *parse.TemplateNode:
		return errors.New("template is not allowed in parameter templates")
	}
	return nil
}

func walkBranch(b *parse.BranchNode) error {
	if err := walk(b.List); err != nil {
		return err
	}
	return walk(b.ElseList)
}

// limitedBuilder collects output and fails once it exceeds MaxValueLength,
// which stops the template.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxValueLength {
		return 0, fmt.Errorf("rendered value is longer than %d bytes", MaxValueLength)
	}
	return b.Builder.Write(p)
}

// trimTemplateName drops text/template's "template: value:" prefix, which
// names our internal template rather than anything the user wrote.
func trimTemplateName(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	msg = strings.TrimPrefix(msg, "value:")
	return errors.New(msg)
}
