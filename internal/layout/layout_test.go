package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/otagit/otagit"

// pkg is one package of the module: its directory below the root, its
// non-test imports and whether it has a package doc comment.
type pkg struct {
	dir     string
	name    string
	imports []string
	doc     bool
}

func readPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkg{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != root && (strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if hasIgnoreTag(f.Comments) {
			return nil
		}
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, name: f.Name.Name}
			pkgs[rel] = p
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name) ||
			f.Doc != nil && f.Name.Name == "main" && strings.HasPrefix(f.Doc.Text(), "Command ") {
			p.doc = true
		}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if !slices.Contains(p.imports, path) {
				p.imports = append(p.imports, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// hasIgnoreTag reports a file built only with `//go:build ignore`.
func hasIgnoreTag(groups []*ast.CommentGroup) bool {
	for _, g := range groups {
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build") && strings.Contains(c.Text, "ignore") {
				return true
			}
		}
	}
	return false
}

func TestLayering(t *testing.T) {
	layer := map[string]int{}
	for i, ps := range Layers {
		for _, p := range ps {
			layer[p] = i
		}
	}
	pkgs := readPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages: is the test run from internal/layout?", len(pkgs))
	}
	for dir, p := range pkgs {
		mine, ok := layer[dir]
		if !ok {
			t.Errorf("package %s is not in layout.Layers: add it at the layer its job belongs to", dir)
			continue
		}
		for _, im := range p.imports {
			dep, ok := strings.CutPrefix(im, module+"/")
			if !ok {
				continue
			}
			theirs, known := layer[dep]
			switch {
			case !known:
				t.Errorf("%s imports %s, which is not in layout.Layers", dir, dep)
			case theirs >= mine:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point to lower layers", dir, mine, dep, theirs)
			}
		}
	}
	for dir := range layer {
		if _, ok := pkgs[dir]; !ok {
			t.Errorf("layout.Layers lists %s, which has no Go files", dir)
		}
	}
}

func TestDocComments(t *testing.T) {
	for dir, p := range readPackages(t) {
		if !p.doc {
			t.Errorf("package %s (%s) has no doc comment saying its job (\"// Package %s ...\" or, for a command, \"// Command ...\")", dir, p.name, p.name)
		}
	}
}

func TestNoIO(t *testing.T) {
	pkgs := readPackages(t)
	for dir, banned := range NoIO {
		p := pkgs[dir]
		if p == nil {
			t.Errorf("package %s not found", dir)
			continue
		}
		for _, im := range p.imports {
			if slices.Contains(banned, im) {
				t.Errorf("%s imports %s: it must do no I/O", dir, im)
			}
		}
	}
}

func TestNothingImportsCmd(t *testing.T) {
	for dir, p := range readPackages(t) {
		for _, im := range p.imports {
			if strings.HasPrefix(im, module+"/cmd/") {
				t.Errorf("%s imports %s: nothing imports a command", dir, im)
			}
		}
	}
}
