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
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is one problem with a request's parameters or a definition.
type Error struct {
	// Parameter is the parameter the problem is about; "" for a rule that
	// failed; otherwise the field's name, such as "timeZone", "rules[0]" or
	// "progress".
	Parameter string
	// Message is a complete sentence for the user that names the parameter,
	// e.g. `parameter "endDate" is required`.
	Message string
}

// Error returns the message.
func (e Error) Error() string { return e.Message }

// Errors lists every problem found, in a stable order: parameters in the
// order the definition declares them, then unknown names sorted, then rules.
// Bind and ValidateDefinition return it as their error; read it with
// errors.As.
type Errors []Error

// Error joins the messages with "; ".
func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, p := range e {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
}

// add appends a problem about a named parameter.
func (e *Errors) add(parameter, format string, args ...any) {
	*e = append(*e, Error{Parameter: parameter, Message: fmt.Sprintf(format, args...)})
}

// errOrNil returns e as an error, or nil when it is empty (a nil Errors in
// an error interface would not compare equal to nil).
func (e Errors) errOrNil() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// maxQuotedRunes bounds how much of a value an error message repeats, so a
// 4 KiB value does not become a 4 KiB message.
const maxQuotedRunes = 64

// quote renders a value for an error message: Go-quoted (so control
// characters are visible) and cut short when long.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuotedRunes {
		return fmt.Sprintf("%q", s)
	}
	runes := []rune(s)
	return fmt.Sprintf("%q...", string(runes[:maxQuotedRunes]))
}
