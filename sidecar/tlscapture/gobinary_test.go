package tlscapture

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/testenv"
)

// TestInspectGoStripped builds the tests' Go TLS program as it is, with
// -ldflags='-s -w' and through strip, and wants the same entries, RETs and
// TCP cookies from the pclntab of the stripped ones as from the symbol
// table; every RET offset must hold a RET opcode, and a binary that is not
// Go, or Go without crypto/tls, is not taken for one.
func TestInspectGoStripped(t *testing.T) {
	testenv.RequireTool(t, "go")
	strip := testenv.RequireTool(t, "strip")
	dir := t.TempDir()
	normal, stripped, stripTool := filepath.Join(dir, "gotls"), filepath.Join(dir, "gotls-sw"), filepath.Join(dir, "gotls-strip")
	goBuild(t, normal, "../testdata/gotls")
	goBuild(t, stripped, "../testdata/gotls", "-ldflags=-s -w")
	b, err := os.ReadFile(normal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stripTool, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(strip, stripTool).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}

	want, err := inspectGo(normal)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []goFunc{want.write, want.read} {
		if len(fn.rets) == 0 || fn.tcpCookie == 0 {
			t.Errorf("%+v: want RETs and a TCP cookie", fn)
		}
		for _, off := range fn.rets {
			if op := byteAt(t, normal, off); op != 0xc3 {
				t.Errorf("RET offset %#x holds %#x, not a RET", off, op)
			}
		}
	}
	// The same source built twice links to the same addresses; strip
	// keeps the code where it was.
	for _, path := range []string{stripped, stripTool} {
		got, err := inspectGo(path)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want those of the symbol table %+v", filepath.Base(path), got, want)
		}
		if lib := staticLibrary(path); lib != "go" {
			t.Errorf("%s: library %q, want go", filepath.Base(path), lib)
		}
	}

	plain := filepath.Join(dir, "hello")
	if err := os.WriteFile(filepath.Join(dir, "hello.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goBuild(t, plain, filepath.Join(dir, "hello.go"))
	for _, path := range []string{plain, "/bin/sh"} {
		if _, err := inspectGo(path); !errors.Is(err, errNotGoTLS) {
			t.Errorf("%s: %v, want errNotGoTLS", path, err)
		}
		if lib := staticLibrary(path); lib != "" {
			t.Errorf("%s: library %q, want none", path, lib)
		}
	}
}

func goBuild(t *testing.T, out, pkg string, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func byteAt(t *testing.T, path string, off uint64) byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
	return b[0]
}
