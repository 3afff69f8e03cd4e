package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// fieldDocs reads the doc comment of every struct field in package config,
// by struct type and mapstructure tag. A comment shared by a run of fields
// documents each of them.
func fieldDocs(root string) (map[string]map[string]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(root, "config", "*.go"))
	if err != nil {
		return nil, err
	}
	docs := map[string]map[string]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			byTag := map[string]string{}
			shared := ""
			for _, fld := range st.Fields.List {
				if fld.Doc != nil {
					shared = oneLine(fld.Doc.Text())
				}
				if fld.Tag == nil {
					continue
				}
				raw, _ := strconv.Unquote(fld.Tag.Value)
				if tag := reflect.StructTag(raw).Get("mapstructure"); tag != "" {
					byTag[tag] = shared
				}
			}
			docs[ts.Name.Name] = byTag
			return false
		})
	}
	return docs, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
