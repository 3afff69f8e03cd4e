package tlsbpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/podtap/podtap/internal/testenv"
)

// TestGeneratedIsCurrent regenerates the object and its bindings into a
// scratch copy of this package and wants them identical to the committed
// ones, so a change to src/tls.c cannot ship without them.
func TestGeneratedIsCurrent(t *testing.T) {
	testenv.RequireTool(t, "clang-14")
	// Inside the module, so that bpf2go runs as this module's tool.
	dir, err := os.MkdirTemp(".", "gencheck-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, f := range []string{"gen.go", "src/tls.c", "src/kernel.h"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "generate", "./gen.go")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate: %v\n%s", err, out)
	}
	for _, f := range []string{"tls_x86_bpfel.go", "tls_x86_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./sidecar/tlsbpf with clang-14 and commit it", f)
		}
	}
}
