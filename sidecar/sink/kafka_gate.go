package sink

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// bufferGate stops the buffering of a window at the first produce answer.
//
// When Kafka refuses a batch for good, franz-go fails that batch and every
// batch of the partition it holds, but a record that reaches the partition
// after that starts a fresh batch, which is written ahead of the failed
// records settle sends again. franz-go may send the head of a window while
// the rest is being buffered (its send loop can still be running from the
// last window), so an answer can come mid-window. franz-go reads an
// answer, calls the read hook, and only then handles it; with the hook and
// the buffering of each record under one lock, every record buffered went
// in before any answer to this window was handled, and a refusal fails all
// of them after the refused ones.
//
// That holds for records franz-go puts in their partition while TryProduce
// runs. Until it knows the topic's partitions (the first records after the
// start), it parks records and places them later; the window ends after
// such a record.
type bufferGate struct {
	mu       sync.Mutex
	answered bool
	parked   bool
	// failed is set by promises, which cannot take mu: franz-go may park a
	// TryProduce made under mu until its promise worker frees room.
	failed atomic.Bool
	// placing is the record being buffered until franz-go has put it in
	// its partition.
	placing atomic.Pointer[kgo.Record]
}

// open starts a window.
func (g *bufferGate) open() {
	g.mu.Lock()
	g.answered, g.parked = false, false
	g.mu.Unlock()
	g.failed.Store(false)
}

// answer records that franz-go read a produce answer (or failed to).
func (g *bufferGate) answer() {
	g.mu.Lock()
	g.answered = true
	g.mu.Unlock()
}

// placed records that franz-go put r in its partition.
func (g *bufferGate) placed(r *kgo.Record) { g.placing.CompareAndSwap(r, nil) }

// buffer runs fn, which buffers r, unless the window must end before r;
// it reports whether fn ran. The first record of a window always goes in:
// nothing of the window is in franz-go yet, so answers are about earlier
// windows.
func (g *bufferGate) buffer(r *kgo.Record, first bool, fn func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !first && (g.answered || g.parked || g.failed.Load()) {
		return false
	}
	g.placing.Store(r)
	fn()
	if g.placing.Swap(nil) != nil {
		g.parked = true
	}
	return true
}
