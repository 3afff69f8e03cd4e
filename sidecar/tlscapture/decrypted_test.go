package tlscapture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

func TestDecrypted(t *testing.T) {
	ep := func(s string) message.Endpoint {
		ap := netip.MustParseAddrPort(s)
		return message.Endpoint{IP: ap.Addr(), Port: ap.Port()}
	}
	c := message.Conn{A: ep("10.0.0.2:8443"), B: ep("10.0.0.1:40000")}
	reversed := message.Conn{A: c.B, B: c.A}
	other := message.Conn{A: ep("10.0.0.2:8443"), B: ep("10.0.0.1:40001")}
	d := newDecrypted(time.Minute, 1)
	d.open(c)
	d.open(other) // past max: not noted
	if !d.has(c) || !d.has(reversed) {
		t.Fatal("an open connection is not known in both orientations")
	}
	if d.has(other) {
		t.Fatal("a connection past the bound was noted")
	}
	now := time.Unix(1000, 0)
	d.prune(now.Add(time.Hour))
	if !d.has(c) {
		t.Fatal("an open connection was pruned")
	}
	d.end(c, now)
	d.prune(now.Add(time.Minute))
	if !d.has(c) {
		t.Fatal("an ended connection was forgotten before keep")
	}
	d.prune(now.Add(time.Minute + time.Second))
	if d.has(c) {
		t.Fatal("an ended connection was kept past keep")
	}
}
