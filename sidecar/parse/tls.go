package parse

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/statelog"
	"github.com/podtap/podtap/sidecar/tlshello"
)

// maxTLSServers bounds the label sets of podtap_tls_connections_total and
// the table the log line ranks: a pod calling many hosts must not grow
// either without limit. Later ones count under "other".
const maxTLSServers = 64

// tlsTop is how many servers the log line names.
const tlsTop = 5

// overflowLabel names the label set of what came past maxTLSServers.
const overflowLabel = "other"

// tlsConn is a connection detected as TLS, while its ClientHello is read.
type tlsConn struct {
	hello  *tlshello.Parser
	client message.Side
}

// tlsServer is one (server, SNI, ALPN) that podtap could not read.
type tlsServer struct {
	server, sni, alpn, reason string
}

// tlsSeen counts the TLS connections podtap could not read: in the metric,
// and in a WARN through statelog at most once per statelog.DefaultRemind,
// naming the servers seen most. The workers of a pipeline share it.
type tlsSeen struct {
	mu       sync.Mutex
	counts   map[tlsServer]int
	counters map[tlsServer]prometheus.Counter
	overflow int
	// unlogged counts connections since the last line.
	unlogged int
	lastLine time.Time
	state    *statelog.State
	now      func() time.Time
	tally    message.Tally
}

func newTLSSeen(log *slog.Logger, now func() time.Time, tally message.Tally) *tlsSeen {
	return &tlsSeen{
		tally:    tally,
		counts:   map[tlsServer]int{},
		counters: map[tlsServer]prometheus.Counter{},
		now:      now,
		state: statelog.New(statelog.Config{
			Log:      log,
			Degraded: "TLS connections podtap cannot read: only their ClientHello is seen; top lists the servers by connections",
			Now:      now,
		}),
	}
}

// count records one connection podtap could not read.
func (t *tlsSeen) count(server message.Endpoint, h tlshello.Hello, reason string) {
	k := tlsServer{server: netip.AddrPortFrom(server.IP, server.Port).String(), sni: h.SNI, alpn: strings.Join(h.ALPN, ","), reason: reason}
	t.tally.TLS(server, k.sni, k.alpn, reason)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.counts[k]; !ok && len(t.counts) >= maxTLSServers {
		t.overflow++
		k = tlsServer{server: overflowLabel, sni: overflowLabel, alpn: overflowLabel, reason: reason}
	} else {
		t.counts[k]++
	}
	c, ok := t.counters[k]
	if !ok {
		c = metrics.TLSConnections.WithLabelValues(k.server, k.sni, k.alpn, k.reason)
		t.counters[k] = c
	}
	c.Inc()
	t.unlogged++
	if now := t.now(); t.lastLine.IsZero() || now.Sub(t.lastLine) >= statelog.DefaultRemind {
		t.lastLine = now
		t.state.DegradeLost(reason, "tls_not_read", t.unlogged, "top", t.topLocked(), "servers", len(t.counts), "past_bound", t.overflow)
		t.unlogged = 0
	}
}

// topLocked names the servers seen most, e.g.
// "10.0.0.2:443 sni=shop.example alpn=h2 ×12". Called with mu held.
func (t *tlsSeen) topLocked() string {
	keys := make([]tlsServer, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tlsServer) int {
		if c := cmp.Compare(t.counts[b], t.counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a.server+a.sni, b.server+b.sni)
	})
	var sb strings.Builder
	for i, k := range keys[:min(len(keys), tlsTop)] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s sni=%s alpn=%s ×%d", k.server, orNone(k.sni), orNone(k.alpn), t.counts[k])
	}
	return sb.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// startTLS takes over a connection whose client began a TLS handshake:
// its bytes are not HTTP podtap can read, so they are not parsed, and
// the ClientHello is read for the report.
func (s *Stream) startTLS(client message.Side) {
	s.tls = &tlsConn{hello: tlshello.New(0), client: client}
	b := s.pending[client]
	s.pending = nil
	s.tlsData(client, b)
}

// tlsData feeds the client's bytes to the ClientHello parser.
func (s *Stream) tlsData(dir message.Side, b []byte) {
	if dir != s.tls.client {
		return
	}
	if s.tls.hello.Feed(b) != tlshello.NeedMore {
		s.endTLS()
	}
}

// endTLS reports the connection, with what its ClientHello said (nothing
// when it was malformed or cut short), and stops looking at it.
func (s *Stream) endTLS() {
	server := s.conn.B
	if s.tls.client == message.BtoA {
		server = s.conn.A
	}
	var h tlshello.Hello
	if s.tls.hello.Status() == tlshello.Done {
		h = s.tls.hello.Hello()
	}
	if s.f.decrypted.Load() != nil {
		// The plaintext, if TLS capture reads it, comes after the
		// handshake: whether it did is known at the end.
		s.undecrypted = &tlsHello{server: server, hello: h}
	} else {
		s.f.tls.count(server, h, metrics.TLSCaptureOff)
	}
	s.tls = nil
	s.ignoreOn(server, "tls")
}

// tlsHello is what a TLS connection's ClientHello said.
type tlsHello struct {
	server message.Endpoint
	hello  tlshello.Hello
}

// DeferTLS tells the factory that TLS capture runs: a TLS connection seen
// in packets is counted at its end, as not_probed, only when decrypted
// says TLS capture did not read it, so no connection is reported both as
// pairs and as unreadable.
func (f *Factory) DeferTLS(decrypted func(message.Conn) bool) {
	f.decrypted.Store(&decrypted)
}
