package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/metrics"
)

// TestLinesWritesEveryRecordOnce writes from several goroutines, as the
// capture workers do, enough to fill many batches: every record must be in
// the file once, whole, on a line of its own.
func TestLinesWritesEveryRecordOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	l, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 5000
	pad := strings.Repeat("x", 300)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			buf := make([]byte, 0, 512)
			for i := range each {
				// The buffer is reused at once, as the pipeline does:
				// Write must have copied it.
				buf = fmt.Appendf(buf[:0], `{"w":%d,"i":%d,"pad":"%s"}`, w, i, pad)
				l.Write(Record{Value: buf, Protocol: "http/1.1"})
			}
		})
	}
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	for _, line := range lines {
		var w, i int
		if _, err := fmt.Sscanf(string(line), `{"w":%d,"i":%d,`, &w, &i); err != nil || !bytes.HasSuffix(line, []byte(pad+`"}`)) {
			t.Fatalf("torn line %q", line)
		}
		key := fmt.Sprint(w, i)
		if seen[key] {
			t.Fatalf("record %s written twice", key)
		}
		seen[key] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d records in the file, want %d", len(seen), writers*each)
	}
}

// TestLinesFlushesAQuietBatch checks that a record does not wait for the
// batch to fill: it reaches the stream within the flush delay.
func TestLinesFlushesAQuietBatch(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	l := NewLines(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), nil)
	defer l.Close(context.Background())
	l.Write(Record{Value: []byte(`{"a":1}`), Protocol: "http/1.1"})
	deadline := time.Now().Add(10 * flushDelay)
	for {
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if got == "{\"a\":1}\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the stream holds %q", 10*flushDelay, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLinesCountsWhatAFailedStreamLoses: once a write fails, the sink is
// not ready, the records of the failed batch and every later one are
// counted as dropped, and Close reports the error.
func TestLinesCountsWhatAFailedStreamLoses(t *testing.T) {
	before := dropped(metrics.ReasonSinkError)
	l := NewLines(writerFunc(func(p []byte) (int, error) { return 0, errors.New("disk full") }), nil)
	l.Write(Record{Value: []byte(`{"a":1}`), Protocol: "http/1.1"})
	l.Write(Record{Value: []byte(`{"a":2}`), Protocol: "http/1.1"})
	deadline := time.Now().Add(10 * flushDelay)
	for l.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a failing stream left the sink ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Write(Record{Value: []byte(`{"a":3}`), Protocol: "http/1.1"})
	if err := l.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close: %v, want the write error", err)
	}
	if got := dropped(metrics.ReasonSinkError) - before; got != 3 {
		t.Fatalf("%v records counted as dropped, want 3", got)
	}
	l.Write(Record{Value: []byte(`{"a":4}`), Protocol: "http/1.1"})
	if got := dropped(metrics.ReasonSinkError) - before; got != 4 {
		t.Fatalf("a write after Close: %v records counted as dropped, want 4", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
