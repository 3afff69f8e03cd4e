package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

// liveFile plays a capture file as a live source would deliver it, and
// says when the reader has read it all.
type liveFile struct {
	*capture.File
	read chan struct{}
	once sync.Once
}

func (l *liveFile) Live() bool { return true }

func (l *liveFile) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := l.File.ReadPacket()
	if errors.Is(err, io.EOF) {
		l.once.Do(func() { close(l.read) })
	}
	return data, ci, err
}

// heldFactory makes streams that stop their worker at their first byte
// until release is closed: a worker held up by a slow stage.
type heldFactory struct{ release chan struct{} }

func (f heldFactory) NewStream(Conn) Stream { return heldStream(f) }

type heldStream struct{ release chan struct{} }

func (s heldStream) Data(Side, []byte, time.Time) { <-s.release }
func (heldStream) Gap(Side, int, time.Time)       {}
func (heldStream) Tick(time.Time)                 {}
func (heldStream) End(time.Time)                  {}
func (heldStream) Ignored() bool                  { return false }

// queueCapture is 400 connections of one 16 KiB response each: 6.4 MiB of
// segments, more than the 2 MiB queue of the test.
func queueCapture(t *testing.T) string {
	b := newPcap(t, layers.LinkTypeEthernet)
	ts := t0
	for i := range 400 {
		client := addrPort(fmt.Sprintf("10.0.%d.%d:40000", i/200, 1+i%200))
		ts = b.exchange(ts, client, addrPort("10.1.0.1:80"), [][]byte{request(i)}, [][]byte{response(i, 16<<10)}, 1448)
	}
	return b.close()
}

func queueConfig() config.Flow {
	cfg := config.DefaultSidecar().Flow
	cfg.Workers = 1
	cfg.QueueBytes = 2 * config.MiB
	return cfg
}

// A live reader whose worker is held up goes on reading into the queue,
// then drops what passes flow.queue_bytes and counts it, instead of
// leaving the packets in the kernel's ring.
func TestLiveQueueBoundedWhileWorkerHeld(t *testing.T) {
	path := queueCapture(t)
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := &liveFile{File: f, read: make(chan struct{})}
	defer src.Close()
	dropped := metrics.PacketsIgnored.WithLabelValues(IgnoredQueueFull)
	before := testutil.ToFloat64(dropped)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- New(queueConfig(), 1, heldFactory{release}).Run(context.Background(), src) }()
	select {
	case <-src.read:
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("the reader stopped reading behind a held-up worker")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := testutil.ToFloat64(dropped) - before
	// The 2 MiB queue holds a fraction of the 6.4 MiB capture.
	if n == 0 {
		t.Fatal("no packet was dropped at the full queue, so the queue was not bounded")
	}
	packets := float64(5*400 + 400*12)
	if n > packets*0.9 {
		t.Fatalf("%.0f of about %.0f packets dropped: the queue held next to nothing", n, packets)
	}
	t.Logf("%.0f packets dropped at the queue", n)
}

// Replaying a file, the reader waits for a held-up worker: nothing of a
// file is dropped at the queue.
func TestFileQueueWaits(t *testing.T) {
	path := queueCapture(t)
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dropped := metrics.PacketsIgnored.WithLabelValues(IgnoredQueueFull)
	before := testutil.ToFloat64(dropped)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- New(queueConfig(), 1, heldFactory{release}).Run(context.Background(), f) }()
	select {
	case err := <-done:
		t.Fatalf("the replay ended while its worker was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(dropped) - before; n != 0 {
		t.Fatalf("%.0f packets of a file dropped at the queue", n)
	}
}

// spacedQueueCapture is queueCapture spread over three seconds of packet
// time: the flush interval's ticks fall due while the queue is full.
func spacedQueueCapture(t *testing.T) string {
	b := newPcap(t, layers.LinkTypeEthernet)
	ts := t0
	for i := range 400 {
		client := addrPort(fmt.Sprintf("10.0.%d.%d:40000", i/200, 1+i%200))
		ts = b.exchange(ts, client, addrPort("10.1.0.1:80"), [][]byte{request(i)}, [][]byte{response(i, 16<<10)}, 1448)
		ts = ts.Add(5 * time.Millisecond)
	}
	return b.close()
}

// A tick that falls due while a live worker is held up and its queue is
// full must not stop the reader: it waits for the worker's next batch,
// while the reader goes on emptying the source.
func TestLiveTickWhileQueueFull(t *testing.T) {
	f, err := capture.OpenFile(spacedQueueCapture(t))
	if err != nil {
		t.Fatal(err)
	}
	src := &liveFile{File: f, read: make(chan struct{})}
	defer src.Close()
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- New(queueConfig(), 1, heldFactory{release}).Run(context.Background(), src) }()
	select {
	case <-src.read:
	case <-time.After(30 * time.Second):
		close(release)
		<-done
		t.Fatal("the reader stopped at a tick behind a held-up worker")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// liveQueue is a live reader over two workers whose goroutines do not run,
// so that every batch handed over stays queued.
func liveQueue(t *testing.T, queueBytes config.ByteSize) *reader {
	b := newPcap(t, layers.LinkTypeEthernet)
	b.exchange(t0, addrPort("10.0.0.1:40000"), addrPort("10.1.0.1:80"), [][]byte{request(0)}, [][]byte{response(0, 100)}, 1448)
	f, err := capture.OpenFile(b.close())
	if err != nil {
		t.Fatal(err)
	}
	src := &liveFile{File: f, read: make(chan struct{})}
	t.Cleanup(func() { src.Close() })
	dec, err := newDecoder(src.LinkType(), Tunnel{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := queueConfig()
	cfg.Workers, cfg.QueueBytes = 2, queueBytes
	fl := New(cfg, 1, heldFactory{})
	return newReader(fl, src, dec, []*worker{newWorker(fl, 2), newWorker(fl, 2)})
}

// fill hands worker i batches until the queue refuses one; it returns how
// many it took.
func fill(r *reader, i int) int {
	n := 0
	for r.takeBatch(i) != nil {
		r.cur[i].tick = t0
		r.send(i)
		n++
	}
	return n
}

// One worker behind may take the whole of flow.queue_bytes but what the
// other workers start with, which they keep.
func TestLiveQueueSharedByWorkers(t *testing.T) {
	r := liveQueue(t, 4*config.MiB) // 16 batches of 256 KiB
	if got, want := fill(r, 0), 16-batchesPerWorker; got != want {
		t.Fatalf("a worker behind took %d batches of a 16-batch queue, want %d", got, want)
	}
	if got := fill(r, 1); got != batchesPerWorker {
		t.Fatalf("the other worker took %d batches once the first had the rest, want its own %d", got, batchesPerWorker)
	}
}

// A tick due while the queue is full is owed to the worker and rides on
// the next batch it gets, instead of the reader waiting for one.
func TestLiveTickOwedWhileQueueFull(t *testing.T) {
	r := liveQueue(t, 2*config.MiB)
	fill(r, 0)
	fill(r, 1)
	r.clock = t0.Add(time.Second)
	r.tick()
	if !r.owed[0].due || !r.owed[1].due {
		t.Fatalf("owed ticks after a tick at a full queue: %+v", r.owed)
	}
	w := r.workers[0]
	b := <-w.in
	b.reset()
	w.free <- b
	got := r.takeBatch(0)
	if got == nil || !got.tick.Equal(r.clock) {
		t.Fatalf("worker 0's next batch carries tick %v, want %v", got, r.clock)
	}
	if r.owed[0].due || !r.owed[1].due {
		t.Fatalf("owed ticks after worker 0 got a batch: %+v", r.owed)
	}
}

func TestQueueBatches(t *testing.T) {
	for _, tc := range []struct {
		bytes            int64
		workers          int
		total, perWorker int
	}{
		{16 << 20, 2, 64, 60},
		{16 << 20, 1, 64, 64},
		{1 << 20, 2, 2 * batchesPerWorker, batchesPerWorker},
		{0, 0, batchesPerWorker, batchesPerWorker},
	} {
		if got := queueBatches(tc.bytes, tc.workers); got != tc.total {
			t.Errorf("queueBatches(%d, %d) = %d, want %d", tc.bytes, tc.workers, got, tc.total)
		}
		if got := workerBatches(tc.bytes, tc.workers); got != tc.perWorker {
			t.Errorf("workerBatches(%d, %d) = %d, want %d", tc.bytes, tc.workers, got, tc.perWorker)
		}
	}
}
