package tlscapture

import (
	"net/netip"
	"sync"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// decrypted remembers the TCP connections whose plaintext TLS capture
// read, while they are open and for a while after, so that packet capture
// does not also report them as TLS it could not read. Packet capture ends
// its side of a connection at the FIN or after flow.idle_timeout, so an
// ended connection is kept that long.
type decrypted struct {
	mu   sync.Mutex
	keep time.Duration
	max  int
	// ended is when the connection ended; zero while it is open.
	ended map[[2]netip.AddrPort]time.Time
}

func newDecrypted(keep time.Duration, max int) *decrypted {
	return &decrypted{keep: keep, max: max, ended: map[[2]netip.AddrPort]time.Time{}}
}

func tupleOf(c message.Conn) [2]netip.AddrPort {
	return [2]netip.AddrPort{netip.AddrPortFrom(c.A.IP, c.A.Port), netip.AddrPortFrom(c.B.IP, c.B.Port)}
}

// open notes a connection; past max it is not noted, and packet capture
// then reports it as not read.
func (d *decrypted) open(c message.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ended) < d.max {
		d.ended[tupleOf(c)] = time.Time{}
	}
}

func (d *decrypted) end(c message.Conn, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ended[tupleOf(c)]; ok {
		d.ended[tupleOf(c)] = now
	}
}

// has reports whether c, in either orientation, was read.
func (d *decrypted) has(c message.Conn) bool {
	t := tupleOf(c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ended[t]; ok {
		return true
	}
	_, ok := d.ended[[2]netip.AddrPort{t[1], t[0]}]
	return ok
}

// prune forgets connections that ended longer than keep ago.
func (d *decrypted) prune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ended := range d.ended {
		if !ended.IsZero() && now.Sub(ended) > d.keep {
			delete(d.ended, t)
		}
	}
}
