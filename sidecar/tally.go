package sidecar

import (
	"net/netip"

	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// tally counts into the coverage report what the stages hear in their
// own types; it is the only place that knows both.
type tally struct{ c *coverage.Counter }

func addrPort(e message.Endpoint) netip.AddrPort { return netip.AddrPortFrom(e.IP, e.Port) }

func (t tally) Conn(server message.Endpoint, protocol string) {
	t.c.Conn(addrPort(server), protocol)
}

func (t tally) TLS(server message.Endpoint, sni, alpn, reason string) {
	t.c.TLS(addrPort(server), sni, alpn, reason)
}

func (t tally) Drop(server message.Endpoint, reason string) { t.c.Drop(addrPort(server), reason) }

func (t tally) DropPair(p *message.Pair, reason string) {
	server := addrPort(p.Server)
	t.c.Drop(server, reason)
	if p.GRPC != nil && reason == metrics.ReasonGRPCNoSchema {
		t.c.GRPC(server, p.GRPC.Service, false)
	}
}

// sent counts a pair handed to the sink, after encoding filled its
// sensitive findings.
func (t tally) sent(p *message.Pair) {
	server := addrPort(p.Server)
	t.c.Pair(server, p.Protocol, hasFlag(p.Flags, message.FlagHPACKUnknown))
	if p.GRPC != nil {
		t.c.GRPC(server, p.GRPC.Service, !hasFlag(p.Flags, message.FlagGRPCUndecoded))
	}
	if len(p.Sensitive) == 0 || p.Request == nil {
		return
	}
	types := t.c.Endpoint(server, p.Request.Method, p.Request.Path)
	for i, f := range p.Sensitive {
		if !typeSeen(p.Sensitive[:i], f.Type) {
			types.Saw(f.Type)
		}
	}
}

func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

func typeSeen(found []message.Finding, typ string) bool {
	for _, f := range found {
		if f.Type == typ {
			return true
		}
	}
	return false
}
