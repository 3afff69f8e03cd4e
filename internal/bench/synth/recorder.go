package synth

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The bench's captures are recorded from real connections: a real net/http
// (or gRPC) client talks to a real server over loopback, and every byte the
// client writes or reads is noted, in order, then laid into TCP segments
// (see segments.go). Recording at the client is enough: what it writes is
// what crossed the wire towards the server, what it reads crossed the other
// way, and per connection the order of the two is the wire's order. Unlike a
// live packet capture this cannot drop, so a capture holds exactly the
// exchanges the client counted, which is what makes completeness checkable.

// eventKind is what happened on a recorded connection.
type eventKind uint8

const (
	evOpen eventKind = iota
	evData
	evClose
)

// event is one step of one recorded connection.
type event struct {
	kind eventKind
	conn *recordedConn
	// toServer is the direction of data: client writes go to the server.
	toServer bool
	data     []byte
	at       time.Time
}

// recorder collects the events of every connection in one global order.
// Events are handed to the segment writer through a channel; the mutex
// makes "noted" and "queued" one step, so two connections' events keep the
// order in which they were noted.
type recorder struct {
	mu     sync.Mutex
	events chan event
}

func newRecorder(out chan event) *recorder { return &recorder{events: out} }

func (r *recorder) note(ev event) {
	r.mu.Lock()
	ev.at = time.Now()
	r.events <- ev
	r.mu.Unlock()
}

// dial opens a TCP connection that is recorded.
func (r *recorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	rc := &recordedConn{Conn: c, rec: r,
		client: c.LocalAddr().(*net.TCPAddr).AddrPort(),
		server: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
	}
	r.note(event{kind: evOpen, conn: rc})
	return rc, nil
}

// recordedConn notes what passes through a client connection.
type recordedConn struct {
	net.Conn
	rec            *recorder
	client, server netip.AddrPort
	closeOnce      sync.Once
}

// Write notes the bytes before sending them: the server can only answer
// after, so the response is always noted after its request. A failed write
// fails the client's exchange, and a generation with a failed exchange is
// thrown away, so noted-but-unsent bytes never reach a kept capture.
func (c *recordedConn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.rec.note(event{kind: evData, conn: c, toServer: true, data: append([]byte(nil), p...)})
	}
	return c.Conn.Write(p)
}

func (c *recordedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.rec.note(event{kind: evData, conn: c, data: append([]byte(nil), p[:n]...)})
	}
	return n, err
}

func (c *recordedConn) Close() error {
	c.closeOnce.Do(func() { c.rec.note(event{kind: evClose, conn: c}) })
	return c.Conn.Close()
}
