// Package schematest validates records against the pair schema
// (testdata/schema/pair.schema.json, a copy of the shared contract), for
// tests of every stage that emits records, and coverage reports against
// testdata/schema/coverage.schema.json.
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

// schemaFile is one schema of testdata/schema, compiled on first use.
type schemaFile struct {
	name   string
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

var (
	pairSchema     = &schemaFile{name: "pair.schema.json"}
	coverageSchema = &schemaFile{name: "coverage.schema.json"}
)

// Path is the pair schema file in the repository.
func Path() string { return schemaPath(pairSchema.name) }

// CoveragePath is the coverage report's schema file in the repository.
func CoveragePath() string { return schemaPath(coverageSchema.name) }

func schemaPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "schema", name)
}

func (s *schemaFile) load() (*jsonschema.Schema, error) {
	s.once.Do(func() {
		f, err := os.Open(schemaPath(s.name))
		if err != nil {
			s.err = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			s.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if s.err = c.AddResource(s.name, doc); s.err != nil {
			return
		}
		s.schema, s.err = c.Compile(s.name)
	})
	return s.schema, s.err
}

// Validate checks one record (a JSON document) against the pair schema.
func Validate(record []byte) error { return pairSchema.validate(record) }

// ValidateCoverage checks one coverage report against its schema.
func ValidateCoverage(report []byte) error { return coverageSchema.validate(report) }

func (f *schemaFile) validate(record []byte) error {
	s, err := f.load()
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
