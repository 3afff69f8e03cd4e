package sidecar_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/testenv"
)

// memoryCgroup is a cgroup v1 memory cgroup, as the kubelet makes for a
// container with a memory limit.
type memoryCgroup struct{ dir string }

func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		if testenv.OnCI() {
			t.Fatalf("the cgroup v1 memory controller is required on CI: %v", err)
		}
		t.Skipf("SKIPPED, NOT RUN: no cgroup v1 memory controller at %s: %v (CI=true turns this into a failure)", root, err)
	}
	cg := &memoryCgroup{dir: filepath.Join(root, fmt.Sprintf("podtap-memtest-%d", os.Getpid()))}
	if err := os.Mkdir(cg.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The sidecar has exited by now; its cgroup empties a moment later.
		for range 50 {
			if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("removing cgroup %s: still busy", cg.dir)
	})
	cg.write(t, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	if _, err := os.Stat(filepath.Join(cg.dir, "memory.memsw.limit_in_bytes")); err == nil {
		cg.write(t, "memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	return cg
}

func (cg *memoryCgroup) write(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0); err != nil {
		t.Fatalf("cgroup %s: writing %s: %v", cg.dir, file, err)
	}
}

func (cg *memoryCgroup) read(file string) string {
	b, _ := os.ReadFile(filepath.Join(cg.dir, file))
	return strings.TrimSpace(string(b))
}

// oomKills is the kernel's count of processes OOM-killed in the cgroup.
func (cg *memoryCgroup) oomKills() int {
	for _, line := range strings.Split(cg.read("memory.oom_control"), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func (cg *memoryCgroup) report() string {
	peak, _ := strconv.ParseInt(cg.read("memory.max_usage_in_bytes"), 10, 64)
	return fmt.Sprintf("peak %d MiB of %s, failcnt %s, oom_kill %d",
		peak>>20, cg.read("memory.limit_in_bytes"), cg.read("memory.failcnt"), cg.oomKills())
}
