package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/podtap/podtap/config"
)

// TestGeneratedFilesAreFresh regenerates every copy in memory and fails when
// a committed one differs, as the webhook's golden test does for its files.
func TestGeneratedFilesAreFresh(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("nothing generated")
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s is stale: run make generate", f.path)
		}
	}
}

// TestNamesDefinedOnce: no two record flags, and no two drop reasons,
// share a value, so a value in a record or a metric names one thing.
func TestNamesDefinedOnce(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, list := range []struct{ dir, prefix string }{{"sidecar/message", "Flag"}, {"sidecar/metrics", "Reason"}} {
		consts, err := scanConsts(root, list.dir, list.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(consts) < 10 {
			t.Fatalf("%s: only %d %s* constants found", list.dir, len(consts), list.prefix)
		}
		seen := map[string]bool{}
		for _, c := range consts {
			if seen[c.name] || c.help == "" {
				t.Errorf("%s: %q defined twice or undocumented", list.dir, c.name)
			}
			seen[c.name] = true
		}
	}
}

// TestEveryKeyStatesItsDefault: each field's doc, which the README's tables
// show, says what applies when the key is not set.
func TestEveryKeyStatesItsDefault(t *testing.T) {
	docs, err := fieldDocs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []any{config.DefaultSidecar(), config.DefaultWebhook()} {
		for _, key := range config.Keys(cfg) {
			if doc := docOf(reflect.TypeOf(cfg), key, docs); !strings.Contains(strings.ToLower(doc), "default") {
				t.Errorf("%s: its doc %q states no default", key, doc)
			}
		}
	}
}
