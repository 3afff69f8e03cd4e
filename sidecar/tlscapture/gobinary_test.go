package tlscapture

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/testenv"
)

// TestInspectGoStripped builds the tests' Go TLS program as it is, with
// -ldflags='-s -w' and through strip, and wants the same entries, RETs and
// TCP cookies from the pclntab of the stripped ones as from the symbol
// table, the RETs being those Go's own disassembler (go tool objdump)
// finds and the entry probes past the stack check; a binary that is not
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
	for name, fn := range map[string]goFunc{goWrite: want.write, goRead: want.read} {
		if fn.tcpCookie == 0 {
			t.Errorf("%s: no TCP cookie", name)
		}
		var got []uint64
		for _, off := range fn.rets {
			got = append(got, fn.addr+off-fn.entry)
		}
		rets, asm := objdump(t, normal, name)
		if !reflect.DeepEqual(got, rets) {
			t.Errorf("%s: RETs at %#x, go tool objdump finds %#x", name, got, rets)
		}
		// Past CMPQ ..., 0x10(R14) and JBE to morestack.
		if fn.probeAddr <= fn.addr || fn.probeAddr-fn.addr > 16 || asm[fn.probeAddr] != "PUSHQ BP" || fn.probe-fn.entry != fn.probeAddr-fn.addr {
			t.Errorf("%s: entry probe at %#x (%q), want the frame set-up after the stack check", name, fn.probeAddr, asm[fn.probeAddr])
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

// objdump disassembles function fn of bin with go tool objdump: the
// addresses of its RET instructions, and every instruction by address.
func objdump(t *testing.T, bin, fn string) ([]uint64, map[uint64]string) {
	t.Helper()
	out, err := exec.Command("go", "tool", "objdump", "-s", "^"+regexp.QuoteMeta(fn)+"$", bin).Output()
	if err != nil {
		t.Fatalf("go tool objdump: %v", err)
	}
	var rets []uint64
	asm := map[uint64]string{}
	for _, line := range strings.Split(string(out), "\n") {
		// file:line, address, encoding, instruction.
		f := strings.Split(strings.TrimSpace(line), "\t\t")
		if len(f) < 4 {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
		if err != nil {
			t.Fatalf("objdump line %q: %v", line, err)
		}
		inst := strings.TrimSpace(strings.Join(f[3:], " "))
		asm[a] = inst
		if inst == "RET" {
			rets = append(rets, a)
		}
	}
	if len(rets) == 0 {
		t.Fatalf("go tool objdump found no RET in %s:\n%s", fn, out)
	}
	return rets, asm
}
