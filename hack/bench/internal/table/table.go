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

// Package table is the result table the benchmarks share: entries printed
// to stdout and merged, as JSON, into $BENCH_OUT (default bin/bench.json),
// so one `make bench` leaves one file with every benchmark's entries.
package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"reportd.io/reportd/internal/testsupport"
)

// Entry is one line of the table and of the JSON.
type Entry struct {
	Name           string   `json:"name"`
	Value          float64  `json:"value"`
	Unit           string   `json:"unit"`
	Yardstick      string   `json:"yardstick,omitempty"`
	YardstickValue *float64 `json:"yardstickValue,omitempty"`
	Ratio          *float64 `json:"ratio,omitempty"`
}

// Compared builds an entry with a yardstick; ratio > 1 means reportd is
// better, so it is inverted when lower values are better (inverse: times,
// memory, and contrasts whose yardstick is reportd itself).
func Compared(name string, value float64, unit, yardstick string, yardstickValue float64, inverse bool) Entry {
	ratio := value / yardstickValue
	if inverse {
		ratio = yardstickValue / value
	}
	return Entry{Name: name, Value: value, Unit: unit, Yardstick: yardstick, YardstickValue: &yardstickValue, Ratio: &ratio}
}

// Print writes the entries as a table to stdout.
func Print(entries []Entry) {
	width, yardstickWidth := len("name"), len("yardstick")
	for _, e := range entries {
		width, yardstickWidth = max(width, len(e.Name)), max(yardstickWidth, len(e.Yardstick))
	}
	fmt.Printf("%-*s %14s %-7s %-*s %15s %7s\n", width, "name", "value", "unit", yardstickWidth, "yardstick", "yardstick value", "ratio")
	for _, e := range entries {
		ys, yv, r := "", "", ""
		if e.YardstickValue != nil {
			ys, yv, r = e.Yardstick, fmt.Sprintf("%.2f", *e.YardstickValue), fmt.Sprintf("%.2f", *e.Ratio)
		}
		fmt.Printf("%-*s %14.2f %-7s %-*s %15s %7s\n", width, e.Name, e.Value, e.Unit, yardstickWidth, ys, yv, r)
	}
}

// Report prints the entries and merges them into $BENCH_OUT (Merge),
// saying on stderr which file it wrote: what every benchmark ends with.
func Report(entries []Entry) error {
	Print(entries)
	out, err := Merge(entries)
	if err == nil {
		fmt.Fprintln(os.Stderr, "wrote", out)
	}
	return err
}

// Merge adds the entries to the JSON file at $BENCH_OUT (default
// bin/bench.json), replacing those of the same name and keeping the
// others, and returns the file's path. `make bench` removes the file
// first, so it holds one run.
func Merge(entries []Entry) (string, error) {
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		root, err := testsupport.RepoRoot()
		if err != nil {
			return "", err
		}
		out = filepath.Join(root, "bin", "bench.json")
	}
	var all []Entry
	data, err := os.ReadFile(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", err
	default:
		if err := json.Unmarshal(data, &all); err != nil {
			return "", fmt.Errorf("reading %s: %w", out, err)
		}
	}
	for _, e := range entries {
		if i := slices.IndexFunc(all, func(old Entry) bool { return old.Name == e.Name }); i >= 0 {
			all[i] = e
		} else {
			all = append(all, e)
		}
	}
	if data, err = json.MarshalIndent(all, "", "  "); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	return out, os.WriteFile(out, append(data, '\n'), 0o644)
}
