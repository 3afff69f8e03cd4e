// Command gen writes the copies of podtap's single definitions that other
// formats need: the README's tables of keys, metrics and drop reasons, and
// the chart's template of the system namespaces and the chart's values that
// mirror a webhook default. Each copy sits between
// markers (or is a whole generated file), so everything else in those files
// stays hand-written. `make generate` runs it; gen_test.go fails when a
// committed copy is stale.
package main

//go:generate go run . -root ../..

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	files, err := generate(*root)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join(*root, f.path)
		old, err := os.ReadFile(path)
		if err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("gen: wrote", f.path)
	}
}

// file is one generated file, its path relative to the root.
type file struct {
	path string
	data []byte
}

// generate computes every generated file from the sources under root.
func generate(root string) ([]file, error) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	sections, err := readmeSections(root)
	if err != nil {
		return nil, err
	}
	for _, s := range sections {
		if readme, err = replaceBetween(readme, s.name, s.body); err != nil {
			return nil, fmt.Errorf("README.md: %w", err)
		}
	}
	values, err := os.ReadFile(filepath.Join(root, chartValues))
	if err != nil {
		return nil, err
	}
	if values, err = writeValues(values); err != nil {
		return nil, fmt.Errorf("%s: %w", chartValues, err)
	}
	return []file{
		{"README.md", readme},
		{chartGenerated, chartTemplate()},
		{chartValues, values},
	}, nil
}
