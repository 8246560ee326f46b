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

package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// minCatalogueRows is the fewest cases the catalogue may list.
const minCatalogueRows = 30

// testRef matches a test named in the catalogue, e.g.
// `internal/facade.TestBadInputCreatesNothing/unknown type`: the package's
// directory, the test function, and optional subtest (or Ginkgo spec)
// names, each as written in the source.
var testRef = regexp.MustCompile("`((?:[a-z0-9_-]+/)*[a-z0-9_-]+)\\.((?:Test|Fuzz)[A-Za-z0-9_]*)((?:/[^`/]+)*)`")

// catalogueRow is one case of docs/bad-input.md.
type catalogueRow struct {
	line   int
	text   string
	refs   [][]string // testRef submatches
	isTODO bool
}

// readCatalogue returns the table rows of docs/bad-input.md whose last
// cell names the tests that check them.
func readCatalogue(t *testing.T, root string) []catalogueRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docs", "bad-input.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []catalogueRow
	for i, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 4 || strings.Trim(cells[0], " -:") == "" {
			continue // not a table row, or the separator
		}
		last := cells[len(cells)-1]
		if strings.TrimSpace(cells[0]) == "#" {
			continue // the header
		}
		rows = append(rows, catalogueRow{
			line: i + 1, text: line,
			refs:   testRef.FindAllStringSubmatch(last, -1),
			isTODO: strings.Contains(last, "TODO"),
		})
	}
	return rows
}

// testSources is what a package's test files declare: its test functions
// and every string literal (subtest and spec names among them).
type testSources struct {
	funcs    map[string]bool
	literals map[string]bool
}

// loadTests parses the _test.go files of one package directory.
func loadTests(t *testing.T, dir string) testSources {
	t.Helper()
	src := testSources{funcs: map[string]bool{}, literals: map[string]bool{}}
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		return src
	}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", file, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil {
					src.funcs[n.Name.Name] = true
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if v, err := strconv.Unquote(n.Value); err == nil {
						src.literals[v] = true
					}
				}
			}
			return true
		})
	}
	return src
}

// repoRoot is the source tree's root: go test runs in test/docs.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the source tree's root: %v", root, err)
	}
	return root
}

func TestBadInputCatalogueNamesRealTests(t *testing.T) {
	root := repoRoot(t)
	rows := readCatalogue(t, root)
	t.Logf("docs/bad-input.md lists %d cases", len(rows))
	if len(rows) < minCatalogueRows {
		t.Errorf("docs/bad-input.md lists %d cases, want at least %d", len(rows), minCatalogueRows)
	}
	packages := map[string]testSources{}
	for _, row := range rows {
		switch {
		case row.isTODO:
			// A case whose test another change is adding: listed so it is
			// not forgotten, checked once the TODO is gone.
			t.Logf("docs/bad-input.md:%d is still a TODO: %s", row.line, row.text)
			continue
		case len(row.refs) == 0:
			t.Errorf("docs/bad-input.md:%d names no test (`package.TestName/subtest`) and no TODO: %s", row.line, row.text)
			continue
		}
		for _, ref := range row.refs {
			dir, fn, subtests := ref[1], ref[2], strings.Split(strings.TrimPrefix(ref[3], "/"), "/")
			src, ok := packages[dir]
			if !ok {
				src = loadTests(t, filepath.Join(root, filepath.FromSlash(dir)))
				packages[dir] = src
			}
			if !src.funcs[fn] {
				t.Errorf("docs/bad-input.md:%d: no func %s in %s/*_test.go", row.line, fn, dir)
				continue
			}
			for _, sub := range subtests {
				if sub != "" && !src.literals[sub] {
					t.Errorf("docs/bad-input.md:%d: no subtest or spec %q in %s/*_test.go", row.line, sub, dir)
				}
			}
		}
	}
}

func TestBadInputCatalogueIsLinked(t *testing.T) {
	root := repoRoot(t)
	for file, link := range map[string]string{"README.md": "docs/bad-input.md", "docs/testing.md": "bad-input.md"} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "("+link+")") {
			t.Errorf("%s does not link to %s", file, link)
		}
	}
}
