package sink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

// flushDelay bounds how long a record may sit in the buffer: lines appear
// promptly for a person watching, while bursts still go out in large
// writes rather than one system call per pair.
const flushDelay = 100 * time.Millisecond

// Lines writes records as JSON lines to a stream: stdout or a file.
type Lines struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closer io.Closer
	timer  *time.Timer
	err    error
	// counters caches metrics.Pairs by protocol: a label lookup per
	// record costs more than the write.
	counters map[string]prometheus.Counter
}

// NewLines writes JSON lines to w; closer (may be nil) is closed by Close.
func NewLines(w io.Writer, closer io.Closer) *Lines {
	l := &Lines{w: bufio.NewWriterSize(w, 256<<10), closer: closer, counters: map[string]prometheus.Counter{}}
	l.timer = time.AfterFunc(time.Hour, l.flush)
	l.timer.Stop()
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

// CopiesValue is true: Write copies the record into its buffer.
func (l *Lines) CopiesValue() bool { return true }

// Write appends one line; a failed write counts the record as dropped.
func (l *Lines) Write(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(r.Value)
	if err == nil {
		err = l.w.WriteByte('\n')
	}
	if err != nil {
		l.fail(err)
		return
	}
	l.pairs(r.Protocol).Inc()
	if l.w.Buffered() > 0 {
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

func (l *Lines) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil {
		l.fail(err)
	}
}

// fail records the error and counts the record; a bufio.Writer that failed
// keeps failing, so later records are counted too. Called with mu held.
func (l *Lines) fail(err error) {
	if l.err == nil {
		l.err = fmt.Errorf("sink: writing records: %w", err)
	}
	metrics.Drop(metrics.ReasonSinkError)
}

// Ready reports the first write error, if any.
func (l *Lines) Ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close flushes and closes the underlying file.
func (l *Lines) Close(context.Context) error {
	l.timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.closer != nil {
		if cerr := l.closer.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("sink: closing: %w", err)
	}
	return l.err
}
