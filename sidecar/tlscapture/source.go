// Package tlscapture is the capture source of TLS plaintext: it finds the
// application's processes and their TLS libraries under /proc (a PID
// namespace shared with the application), puts eBPF uprobes on them
// (sidecar/tlsbpf), maps each SSL object (or Go tls.Conn) to its TCP
// connection through its socket fd, and hands each connection's two
// plaintext directions, already in order, to a parse stream, the way flow
// hands reassembled bytes.
package tlscapture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/statelog"
)

// Stream receives one connection's plaintext; parse.Stream satisfies it.
type Stream interface {
	Data(dir message.Side, b []byte, ts time.Time)
	Gap(dir message.Side, n int, ts time.Time)
	Tick(now time.Time)
	End(ts time.Time)
}

// Factory makes the stream of a new TLS connection; Conn.A is the local
// end and Conn.TLSLibrary names the library.
type Factory interface {
	NewStream(c message.Conn) Stream
}

// Options configures a Source.
type Options struct {
	// Libraries are the ones probed (config.ParseTLS of capture.tls).
	Libraries []string
	// Proc is the procfs root; "/proc" when empty.
	Proc string
	// Rescan is how often new processes are looked for; 2s when 0.
	Rescan time.Duration
	// IdleTimeout ends a connection silent this long (flow.idle_timeout).
	IdleTimeout time.Duration
	// FlushInterval is how often packet capture sweeps idle connections
	// (flow.flush_interval); 1s when 0.
	FlushInterval time.Duration
	// MaxConnections bounds the connections tracked (flow.max_connections).
	MaxConnections int
	// RingBytes sizes the BPF ring buffer (capture.tls_ring_bytes), a
	// power of two of pages; the object's 8 MiB when 0.
	RingBytes uint32
	// Log receives discovery lines; slog.Default() when nil.
	Log *slog.Logger
}

// Source is TLS plaintext capture, from Open to Close.
type Source struct {
	opts     Options
	want     map[string]bool
	probes   *probes
	attached map[fileID]string
	failed   map[fileID]bool
	exes     map[fileID]string
	// mu guards attached, failed and exes: scans run beside event reading.
	mu    sync.Mutex
	conns map[connKey]*conn
	lost  [3]uint64
	state *statelog.State
	// found is degraded while no process maps a library to probe.
	found *statelog.State
	read  *decrypted
	// clock maps the kernel's monotonic event times to wall time.
	bootOffset time.Duration
	closeOnce  sync.Once
}

// connKey is one SSL object of one process.
type connKey struct {
	pid uint32
	ssl uint64
}

// Open loads and attaches the probes. It fails when the kernel refuses
// them, which mostly means missing capabilities (config.TLSCaptureCapabilities).
func Open(opts Options) (*Source, error) {
	if opts.Proc == "" {
		opts.Proc = "/proc"
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 2 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 100000
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p, err := loadProbes(opts.RingBytes)
	if err != nil {
		return nil, fmt.Errorf("capture.tls: %w", err)
	}
	s := &Source{
		opts: opts, want: map[string]bool{}, probes: p,
		attached: map[fileID]string{}, failed: map[fileID]bool{}, exes: map[fileID]string{}, conns: map[connKey]*conn{},
		state: statelog.New(statelog.Config{Log: opts.Log, Degraded: "tls capture losing plaintext", Recovered: "tls capture complete"}),
		found: statelog.New(statelog.Config{Log: opts.Log, Degraded: "tls capture found no TLS library to probe; it looks again for new processes",
			Recovered: "tls capture found a TLS library"}),
		bootOffset: bootOffset(),
		// Packet capture ends a connection that saw no FIN both ways (a Go
		// server's close_notify draws a RST) up to idle_timeout plus a sweep
		// after its last segment, while TLS capture may end it a tick
		// before that segment: a read connection is remembered that long.
		read: newDecrypted(opts.IdleTimeout+opts.FlushInterval+2*time.Second, 2*opts.MaxConnections),
	}
	for _, l := range opts.Libraries {
		s.want[l] = true
	}
	s.scan()
	return s, nil
}

// Run reads events until ctx is done, feeding streams made by f. It owns
// the streams: every call into them comes from its goroutine.
func (s *Source) Run(ctx context.Context, f Factory) error {
	events := make(chan []byte, 256)
	readErr := make(chan error, 1)
	go func() {
		for {
			rec, err := s.probes.ring.Read()
			if err != nil {
				readErr <- err
				close(events)
				return
			}
			events <- rec.RawSample
		}
	}()
	go func() {
		<-ctx.Done()
		s.probes.ring.Close()
	}()
	// Scans walk every process; they run apart so that events are read
	// while they do, and short connections are mapped before they close.
	go func() {
		rescan := time.NewTicker(s.opts.Rescan)
		defer rescan.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-rescan.C:
				s.scan()
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case raw, ok := <-events:
			if !ok {
				s.endAll()
				if err := <-readErr; !errors.Is(err, os.ErrClosed) && ctx.Err() == nil {
					return fmt.Errorf("tls capture: %w", err)
				}
				return nil
			}
			s.event(raw, f)
		case now := <-tick.C:
			s.tick(now)
		}
	}
}

// Close detaches the probes.
func (s *Source) Close() { s.closeOnce.Do(s.probes.close) }

// scan looks for processes and objects not probed yet. A file is probed
// once, whatever process maps it; a file that failed is not retried.
func (s *Source) scan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[string]int{}
	pids := processes(s.opts.Proc)
	for _, pid := range pids {
		objs, err := objectsOf(s.opts.Proc, pid, s.want, s.exes)
		if err != nil {
			continue // the process exited, or is a kernel thread
		}
		for _, o := range objs {
			id, err := idOf(o.path)
			if err != nil || s.failed[id] {
				continue
			}
			if _, ok := s.attached[id]; ok {
				continue
			}
			if err := s.probes.attach(o); err != nil {
				s.failed[id] = true
				s.opts.Log.Warn("tls capture cannot probe a library", "reason", "attach_failed", "pid", pid, "path", o.path, "err", err)
				continue
			}
			s.attached[id] = o.library
			s.opts.Log.Info("tls capture probing", "library", o.library, "pid", pid, "path", o.path)
		}
	}
	for _, lib := range s.attached {
		counts[lib]++
	}
	if len(s.attached) == 0 {
		s.found.Degrade("no_library", "libraries", s.opts.Libraries, "processes", len(pids), "failed", len(s.failed))
	} else {
		s.found.Recover("probed", len(s.attached))
	}
	for _, lib := range config.TLSLibraries {
		metrics.TLSAttached.WithLabelValues(lib).Set(float64(counts[lib]))
	}
}

// RingBytes reports the size of the ring buffer as the kernel made it.
func (s *Source) RingBytes() (uint32, error) { return s.probes.ringBytes() }

// Attached reports how many objects are probed.
func (s *Source) Attached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attached)
}

func (s *Source) event(raw []byte, f Factory) {
	ev, ok := decodeEvent(raw)
	if !ok {
		s.lose(metrics.TLSLostReadFault, "ring buffer sample shorter than its header")
		return
	}
	ts := time.Unix(0, int64(ev.monoNs)).Add(s.bootOffset)
	c := s.conns[ev.key]
	if c == nil {
		if len(s.conns) >= s.opts.MaxConnections {
			s.lose(metrics.TLSLostConnCap, "flow.max_connections TLS connections are tracked")
			return
		}
		c = &conn{library: ev.lib}
		s.conns[ev.key] = c
	}
	c.last = time.Now()
	// Go's probes map every call (tls.c's go_socket): one without a socket
	// is a conn that is not TCP, at the address of a freed one that was.
	reusedByUnmapped := c.stream != nil && !ev.sock.known && ev.lib == config.TLSLibraryGo
	if c.stream != nil && (ev.sock.known && ev.sock.ino != c.sock.ino || reusedByUnmapped) {
		// The library freed the SSL object and made a new one at the same
		// address, on another socket: a new connection.
		s.end(c, ts)
		c = &conn{library: ev.lib, last: c.last}
		s.conns[ev.key] = c
	}
	if c.stream == nil && ev.sock.known {
		s.open(c, ev.sock, f)
	}
	metrics.TLSEvents.WithLabelValues(ev.lib).Inc()
	metrics.TLSBytes.WithLabelValues(ev.lib).Add(float64(len(ev.data)))
	if c.stream == nil {
		if !c.hold(ev.dir, ev.data, ts) {
			s.lose(metrics.TLSLostUnmapped, "64 KiB of plaintext came before any syscall named the connection's socket")
		}
		return
	}
	c.stream.Data(ev.dir, ev.data, ts)
}

// open starts a connection's stream on the socket the kernel found, with
// whatever was held before it was known.
func (s *Source) open(c *conn, sock socket, f Factory) {
	c.sock = sock
	tc := sock.conn
	s.read.open(tc)
	tc.TLSLibrary = c.library
	c.stream = f.NewStream(tc)
	for _, h := range c.held {
		c.stream.Data(h.dir, h.data, h.ts)
	}
	c.held, c.heldBytes = nil, 0
}

// tick forwards the clock, ends connections that went idle or whose
// socket closed, and counts the kernel's losses.
func (s *Source) tick(now time.Time) {
	for key, c := range s.conns {
		if c.stream != nil {
			c.stream.Tick(now)
		}
		if now.Sub(c.last) > s.opts.IdleTimeout || !c.alive(s.opts.Proc, key.pid) {
			if c.stream != nil {
				s.end(c, now)
			} else if len(c.held) > 0 {
				s.lose(metrics.TLSLostUnmapped, "connection ended before its socket was seen")
			}
			delete(s.conns, key)
		}
	}
	s.read.prune(now)
	got, err := s.probes.losses()
	if err != nil {
		return
	}
	reasons := [3]string{metrics.TLSLostRingFull, metrics.TLSLostTruncated, metrics.TLSLostReadFault}
	lostNow := false
	for i, n := range got {
		if d := n - s.lost[i]; d > 0 {
			metrics.TLSEventsLost.WithLabelValues(reasons[i]).Add(float64(d))
			s.state.DegradeLost("tls_"+reasons[i], reasons[i], int(d))
			lostNow = true
		}
	}
	s.lost = got
	if !lostNow && s.state.Degraded() {
		s.state.Recover()
	}
}

func (s *Source) lose(reason, detail string) {
	metrics.TLSEventsLost.WithLabelValues(reason).Inc()
	s.state.DegradeLost("tls_"+reason, reason, 1, "detail", detail)
}

func (s *Source) endAll() {
	now := time.Now()
	for key, c := range s.conns {
		if c.stream != nil {
			s.end(c, now)
		}
		delete(s.conns, key)
	}
}

func (s *Source) end(c *conn, ts time.Time) {
	c.stream.End(ts)
	s.read.end(c.sock.conn, ts)
}

// Decrypted reports whether TLS capture read the plaintext of c, a TCP
// connection as packet capture saw it. It is safe for concurrent use.
func (s *Source) Decrypted(c message.Conn) bool { return s.read.has(c) }
