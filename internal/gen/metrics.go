package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
)

// metric is one Prometheus metric as its definition states it.
type metric struct {
	name, help string
	labels     []string
}

// scanMetrics finds every podtap_* metric defined under dir: the Opts of
// prometheus.New* (Name, Help, then the label list) and prometheus.NewDesc.
func scanMetrics(root, dir string) ([]metric, error) {
	var out []metric
	err := walkGo(filepath.Join(root, dir), func(f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var m metric
			if lit, ok := call.Args[0].(*ast.CompositeLit); ok {
				for _, e := range lit.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch ident(kv.Key) {
					case "Name":
						m.name = str(kv.Value)
					case "Help":
						m.help = str(kv.Value)
					}
				}
				if len(call.Args) > 1 {
					m.labels = strs(call.Args[1])
				}
			} else if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(call.Args) == 4 {
				m = metric{name: str(call.Args[0]), help: str(call.Args[1]), labels: strs(call.Args[2])}
			}
			if strings.HasPrefix(m.name, "podtap_") {
				out = append(out, m)
			}
			return true
		})
	})
	return out, err
}

// scanConsts reads the string constants named prefix* of the package in
// dir, with their comments, in definition order: the drop reasons of
// package metrics, the record flags of package message.
func scanConsts(root, dir, prefix string) ([]metric, error) {
	var out []metric
	err := walkGo(filepath.Join(root, dir), func(f *ast.File) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				v := s.(*ast.ValueSpec)
				if len(v.Names) != 1 || !strings.HasPrefix(v.Names[0].Name, prefix) || len(v.Values) != 1 {
					continue
				}
				m := metric{name: str(v.Values[0])}
				switch {
				case v.Comment != nil:
					m.help = oneLine(v.Comment.Text())
				case v.Doc != nil:
					// A doc comment starts with the constant's Go name.
					m.help = strings.TrimPrefix(oneLine(v.Doc.Text()), v.Names[0].Name+" ")
				}
				out = append(out, m)
			}
		}
	})
	return out, err
}

func walkGo(dir string, visit func(*ast.File)) error {
	fset := token.NewFileSet()
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		visit(f)
		return nil
	})
}

func ident(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func str(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	return ""
}

func strs(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, x := range lit.Elts {
		out = append(out, str(x))
	}
	return out
}
