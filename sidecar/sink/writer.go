package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

const (
	// flushDelay bounds how long a record may wait in a batch: lines
	// appear promptly for a person watching, while bursts still go out in
	// large writes rather than one system call per pair.
	flushDelay = 100 * time.Millisecond
	// batchBytes is the size at which a batch is handed to the writer.
	batchBytes = 256 << 10
	// batches is the number of batches in turn: one being filled while the
	// other is written.
	batches = 2
)

// Lines writes records as JSON lines to a stream: stdout or a file.
// Records are gathered into batches that a goroutine of its own writes, so
// the capture workers calling Write never wait on the write system call,
// only when every batch is full (the stream is slower than the capture).
type Lines struct {
	mu    sync.Mutex
	batch []byte
	// count is the number of records in batch.
	count  int
	closed bool
	// counters caches metrics.Pairs by protocol: a label lookup per
	// record costs more than the copy.
	counters map[string]prometheus.Counter
	timer    *time.Timer
	armed    bool

	free    chan []byte
	full    chan filled
	written chan struct{} // closed when the writer has ended
	w       io.Writer
	closer  io.Closer

	// errMu guards err apart from mu: the writer sets it while a Write
	// may hold mu waiting for a free batch.
	errMu sync.Mutex
	err   error
}

// filled is a batch handed to the writer.
type filled struct {
	data  []byte
	count int
}

// NewLines writes JSON lines to w; closer (may be nil) is closed by Close.
func NewLines(w io.Writer, closer io.Closer) *Lines {
	l := &Lines{
		counters: map[string]prometheus.Counter{},
		free:     make(chan []byte, batches),
		full:     make(chan filled, batches),
		written:  make(chan struct{}),
		w:        w,
		closer:   closer,
	}
	l.batch = make([]byte, 0, batchBytes)
	for range batches - 1 {
		l.free <- make([]byte, 0, batchBytes)
	}
	l.timer = time.AfterFunc(time.Hour, l.flush)
	l.timer.Stop()
	go l.write()
	return l
}

// Stdout is the default sink.
func Stdout() *Lines { return NewLines(os.Stdout, nil) }

// File appends JSON lines to the file at path, creating it.
func File(path string) (*Lines, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sink: opening %s: %w", path, err)
	}
	return NewLines(f, f), nil
}

// CopiesValue is true: Write copies the record into its batch.
func (l *Lines) CopiesValue() bool { return true }

// Write appends one line. After a failed write, or after Close, records
// are counted as dropped.
func (l *Lines) Write(r Record) {
	if l.failed() {
		metrics.Drop(metrics.ReasonSinkError)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		metrics.Drop(metrics.ReasonSinkError)
		return
	}
	l.batch = append(append(l.batch, r.Value...), '\n')
	l.count++
	l.pairs(r.Protocol).Inc()
	if len(l.batch) >= batchBytes {
		l.handOff()
		return
	}
	if !l.armed {
		l.armed = true
		l.timer.Reset(flushDelay)
	}
}

// pairs is the counter of a protocol's pairs. Called with mu held.
func (l *Lines) pairs(protocol string) prometheus.Counter {
	c, ok := l.counters[protocol]
	if !ok {
		c = metrics.Pairs.WithLabelValues(protocol)
		l.counters[protocol] = c
	}
	return c
}

// handOff gives the batch to the writer and takes a free one, waiting for
// it when the writer is behind. Called with mu held.
func (l *Lines) handOff() {
	l.full <- filled{data: l.batch, count: l.count}
	l.batch, l.count = <-l.free, 0
	l.armed = false
	l.timer.Stop()
}

// flush hands over a batch that waited flushDelay without filling.
func (l *Lines) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	if !l.closed && l.count > 0 {
		l.handOff()
	}
}

// write is the writer goroutine: it writes batches in order until Close.
func (l *Lines) write() {
	defer close(l.written)
	for b := range l.full {
		if !l.failed() {
			if _, err := l.w.Write(b.data); err != nil {
				l.fail(err)
				// The batch's records were counted as pairs when they
				// were taken; they are lost all the same.
				for range b.count {
					metrics.Drop(metrics.ReasonSinkError)
				}
			}
		} else {
			for range b.count {
				metrics.Drop(metrics.ReasonSinkError)
			}
		}
		l.free <- b.data[:0]
	}
}

func (l *Lines) fail(err error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("sink: writing records: %w", err)
	}
}

func (l *Lines) failed() bool {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err != nil
}

// Ready reports the first write error, if any.
func (l *Lines) Ready() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// Close writes what is batched and closes the underlying file.
func (l *Lines) Close(context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("sink: closed twice")
	}
	l.closed = true
	l.timer.Stop()
	if l.count > 0 {
		l.full <- filled{data: l.batch, count: l.count}
		l.batch, l.count = nil, 0
	}
	close(l.full)
	l.mu.Unlock()
	<-l.written
	var err error
	if l.closer != nil {
		if cerr := l.closer.Close(); cerr != nil {
			err = fmt.Errorf("sink: closing: %w", cerr)
		}
	}
	return errors.Join(l.Ready(), err)
}
