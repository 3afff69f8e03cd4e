// Package schematest validates records against the pair schema
// (testdata/schema/pair.schema.json, a copy of the shared contract), for
// tests of every stage that emits records.
package schematest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	once   sync.Once
	schema *jsonschema.Schema
	err    error
)

// Path is the schema file in the repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "schema", "pair.schema.json")
}

func load() (*jsonschema.Schema, error) {
	once.Do(func() {
		var f *os.File
		if f, err = os.Open(Path()); err != nil {
			return
		}
		defer f.Close()
		var doc any
		if doc, err = jsonschema.UnmarshalJSON(f); err != nil {
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err = c.AddResource("pair.schema.json", doc); err != nil {
			return
		}
		schema, err = c.Compile("pair.schema.json")
	})
	return schema, err
}

// Validate checks one record (a JSON document) against the schema.
func Validate(record []byte) error {
	s, err := load()
	if err != nil {
		return fmt.Errorf("schematest: loading schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(record))
	if err != nil {
		return fmt.Errorf("schematest: record is not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("schematest: record does not match the schema: %w", err)
	}
	return nil
}

// SharedPath is the shared contract the repository's schema is a
// compatible copy of, beside the repository (../shared), when present.
func SharedPath() string {
	return filepath.Join(filepath.Dir(Path()), "..", "..", "..", "shared", "schema", "pair.schema.json")
}
