// Package lint holds the project's own rules as tests: which top-level
// packages may import which (DESIGN.md, Layout), where the AWS SDK may be
// used, and that library code never prints to stdout.
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/streamhouse/streamhouse"

// allowed lists, for each top-level folder, the project folders its
// non-test code may import. A folder missing here may import nothing of the
// project; "*" allows everything. internal/ holds test harnesses and is open
// to tests only.
var allowed = map[string][]string{
	"cmd/streamhouse": {"*"},
	"cmd/streamctl":   {"proto", "wire"},
	"cmd/streambench": {"proto", "wire", "objectstore"},
	"cells":           {"partition", "router", "registry", "objectstore", "dashboard", "billing", "proto", "wire"},
	"partition":       {"objectstore", "registry"},
	"router":          {"registry", "proto", "wire"},
	"billing":         {"registry"},
	"dashboard":       {"registry", "router", "proto", "wire"}, // router/auth: who a console connection acts as
	"objectstore":     {},
	"registry":        {},
	"schema":          {"registry"}, // the schema registry API over registry.Schemas
	"account":         {"registry", "router", "billing"},
	"proto":           {},
	"wire":            {}, // the router–agent messages: imports nothing of the project
	"ops":             {}, // dashboards and alert rules, embedded for their tests
}

// sdkOnlyIn is the one folder allowed to import the AWS SDK.
const sdkOnlyIn = "objectstore"

type goFile struct {
	rel  string // path relative to the repository root
	pkg  string // top-level folder: "partition", "cmd/streamhouse", ...
	test bool
	ast  *ast.File
}

func TestImportDirections(t *testing.T) {
	for _, f := range parseTree(t) {
		for _, imp := range f.ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/aws/") && f.pkg != sdkOnlyIn {
				t.Errorf("%s imports %s: only %s/ may import the AWS SDK", f.rel, path, sdkOnlyIn)
			}
			target, ok := strings.CutPrefix(path, module+"/")
			if !ok {
				continue
			}
			dst := topLevel(target)
			if dst == f.pkg {
				continue
			}
			if dst == "internal" {
				if !f.test && !strings.HasPrefix(f.pkg, "internal") {
					t.Errorf("%s imports %s: internal/ holds test harnesses and is for tests only", f.rel, path)
				}
				continue
			}
			if f.test || f.pkg == "internal" {
				continue // tests may use any package to build their fixtures
			}
			if !permits(f.pkg, dst) {
				t.Errorf("%s imports %s: DESIGN.md does not allow %s/ to import %s/", f.rel, path, f.pkg, dst)
			}
		}
	}
}

// TestNoPrintingInLibraries keeps stdout for the binaries: library code logs
// through an injected *slog.Logger.
func TestNoPrintingInLibraries(t *testing.T) {
	for _, f := range parseTree(t) {
		if f.test || strings.HasPrefix(f.pkg, "cmd/") || f.pkg == "internal" {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "fmt" && strings.HasPrefix(sel.Sel.Name, "Print") {
				t.Errorf("%s uses fmt.%s: log through an injected *slog.Logger", f.rel, sel.Sel.Name)
			}
			return true
		})
	}
}

func permits(src, dst string) bool {
	for _, a := range allowed[src] {
		if a == "*" || a == dst {
			return true
		}
	}
	return false
}

// topLevel maps a path inside the module to the folder DESIGN.md names.
func topLevel(rel string) string {
	parts := strings.Split(rel, "/")
	if parts[0] == "cmd" && len(parts) > 1 {
		return "cmd/" + parts[1]
	}
	return parts[0]
}

func parseTree(t *testing.T) []goFile {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	var files []goFile
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if !strings.Contains(rel, "/") {
			return nil // no Go files at the root
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(name, "_test.go") {
			// Parse fully for the printing check.
			if f, err = parser.ParseFile(fset, path, nil, parser.SkipObjectResolution); err != nil {
				return err
			}
		}
		files = append(files, goFile{rel: rel, pkg: topLevel(filepath.ToSlash(filepath.Dir(rel))), test: strings.HasSuffix(name, "_test.go"), ast: f})
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files found: the walk is broken")
	}
	return files
}
