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

func TestMaxBatchesFor(t *testing.T) {
	for _, tc := range []struct {
		bytes   int64
		workers int
		want    int
	}{
		{16 << 20, 2, 32},
		{16 << 20, 1, 64},
		{1 << 20, 2, batchesPerWorker},
		{0, 0, batchesPerWorker},
	} {
		if got := maxBatchesFor(tc.bytes, tc.workers); got != tc.want {
			t.Errorf("maxBatchesFor(%d, %d) = %d, want %d", tc.bytes, tc.workers, got, tc.want)
		}
	}
}
