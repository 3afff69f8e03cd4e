package sidecar

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the collector's current percentage.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitPercent collects until the headroom has retuned the percentage to
// one that ok accepts, or fails after a while.
func waitPercent(t *testing.T, what string, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(gcPercent()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: GC percent still %d", what, gcPercent())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTuneRuntimeHeadroom checks that a small heap gets HeapHeadroom to
// grow in, more than GCPercent gives it, and that a heap large enough
// goes back to GCPercent.
func TestTuneRuntimeHeadroom(t *testing.T) {
	if v, set := os.LookupEnv("GOGC"); set {
		os.Unsetenv("GOGC")
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
	defer debug.SetGCPercent(gcPercent())
	h := tuneRuntime()
	if h == nil {
		t.Fatal("no headroom without GOGC")
	}
	defer h.stopped.Store(true)
	waitPercent(t, "small heap", func(p int) bool { return p > GCPercent })
	// Pointer-free, so that the live heap is its size and scanning it is
	// free; a heap of 4 × HeapHeadroom needs no more than GCPercent.
	big := make([]byte, 4*HeapHeadroom)
	for i := range big {
		big[i] = byte(i)
	}
	waitPercent(t, "large heap", func(p int) bool { return p == GCPercent })
	runtime.KeepAlive(big)
	big = nil
	runtime.GC()
	waitPercent(t, "small heap again", func(p int) bool { return p > GCPercent })
}

// TestTuneRuntimeGOGC checks that GOGC in the environment wins.
func TestTuneRuntimeGOGC(t *testing.T) {
	t.Setenv("GOGC", "137")
	defer debug.SetGCPercent(debug.SetGCPercent(137))
	if h := tuneRuntime(); h != nil {
		h.stopped.Store(true)
		t.Fatal("headroom started with GOGC set")
	}
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if p := gcPercent(); p != 137 {
		t.Fatalf("GC percent %d with GOGC=137", p)
	}
}
