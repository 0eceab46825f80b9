// Package importgroups checks the project's import layout: in every Go file
// each import block holds at most three groups separated by blank lines —
// standard library, then third-party modules, then this module — each
// sorted, as `goimports -local github.com/r1go/r1` writes them.
// scripts/test.sh runs it through the package's test.
package importgroups

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Module is the import path prefix of this module's own packages.
const Module = "github.com/r1go/r1"

// class orders the groups: standard library, third party, this module.
func class(path string) int {
	switch {
	case path == Module || strings.HasPrefix(path, Module+"/"):
		return 2
	case strings.Contains(strings.SplitN(path, "/", 2)[0], "."):
		return 1
	}
	return 0
}

var className = []string{"standard library", "third-party", Module}

// Check returns one problem per misplaced import in the Go files under
// root (testdata and node_modules skipped).
func Check(root string) ([]string, error) {
	var problems []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "node_modules" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		ps, err := checkFile(path)
		problems = append(problems, ps...)
		return err
	})
	return problems, err
}

func checkFile(path string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	var problems []string
	type imp struct {
		path string
		line int
	}
	var groups [][]imp
	lastLine := -2
	for _, spec := range f.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		line := fset.Position(spec.Pos()).Line
		if spec.Doc != nil {
			line = fset.Position(spec.Doc.Pos()).Line
		}
		if line > lastLine+1 || len(groups) == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], imp{p, line})
		lastLine = fset.Position(spec.End()).Line
	}
	prev := -1
	for _, g := range groups {
		c := class(g[0].path)
		mixed := false
		for _, x := range g {
			if class(x.path) != c {
				mixed = true
				problems = append(problems, fmt.Sprintf("%s:%d: %q (%s) is grouped with %s imports", path, x.line, x.path, className[class(x.path)], className[c]))
			}
		}
		if mixed {
			continue
		}
		// A class may have several groups (e.g. blank imports under a
		// comment of their own), but never after a later class.
		if c < prev {
			problems = append(problems, fmt.Sprintf("%s:%d: the %s group must come before the %s one (standard library, third-party, %s)", path, g[0].line, className[c], className[prev], Module))
		}
		prev = max(prev, c)
		if !sort.SliceIsSorted(g, func(i, j int) bool { return g[i].path < g[j].path }) {
			problems = append(problems, fmt.Sprintf("%s:%d: imports not sorted", path, g[0].line))
		}
	}
	return problems, nil
}
