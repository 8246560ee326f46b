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
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// ruleCostLimit bounds one rule's evaluation, as Kubernetes bounds each
// validation rule (its per-call limit), so a rule cannot spin.
const ruleCostLimit = 1_000_000

// celEnv is the one CEL environment rules compile in: `params` is a map
// from parameter name to value; dates and date-times are timestamps,
// integers ints, numbers doubles. Numeric comparisons across int and
// double are allowed (`params.amount > 0`), as Kubernetes allows them.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.OptionalTypes(),
		ext.Strings(),
	)
})

// maxCachedPrograms bounds the program cache; definitions are few, so
// clearing it when full costs little.
const maxCachedPrograms = 512

// compiled is a cached compilation result; failures are cached too, so a
// broken definition is not recompiled on every request.
type compiled struct {
	program cel.Program
	err     error
}

// programCache holds compiled rules by expression text.
var programCache = struct {
	sync.Mutex
	programs map[string]compiled
}{programs: map[string]compiled{}}

// compileRule returns the program for a rule expression, compiling it once.
func compileRule(expression string) (cel.Program, error) {
	programCache.Lock()
	c, ok := programCache.programs[expression]
	programCache.Unlock()
	if ok {
		return c.program, c.err
	}
	prg, err := compileUncached(expression)
	programCache.Lock()
	if len(programCache.programs) >= maxCachedPrograms {
		clear(programCache.programs)
	}
	programCache.programs[expression] = compiled{program: prg, err: err}
	programCache.Unlock()
	return prg, err
}

// compileUncached type-checks expression, which must yield a bool (or dyn,
// checked again when evaluated: `params.flag` is dyn until then).
func compileUncached(expression string) (cel.Program, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	ast, issues := env.Compile(expression)
	if issues.Err() != nil {
		return nil, issues.Err()
	}
	out := ast.OutputType()
	if !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("it must be true or false, but it yields %s", out)
	}
	return env.Program(ast, cel.CostLimit(ruleCostLimit))
}

// errNotBool is returned when a dyn rule turns out not to be a bool.
var errNotBool = errors.New("it did not yield true or false")

// evalRule evaluates a compiled rule over the bound parameters.
func evalRule(prg cel.Program, celParams map[string]any) (bool, error) {
	out, _, err := prg.Eval(map[string]any{"params": celParams})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errNotBool
	}
	return b, nil
}
