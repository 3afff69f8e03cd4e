package coverage

import (
	"net/netip"
	"sync/atomic"
)

// Bounds on the entries of a report: a pod that talks to many hosts, or
// serves many paths, must not grow the counter's memory or the record
// without limit. Past a bound, new keys count under Other.
const (
	MaxServers   = 64
	MaxTLS       = 64
	MaxServices  = 64
	MaxEndpoints = 128
	// maxNames bounds the protocols, reasons and types under one entry.
	maxNames = 32
)

// otherServer is the key servers past MaxServers share: an address no
// connection has.
var otherServer = netip.AddrPort{}

// Counter counts what the pipeline saw, per server. Its methods are safe
// for concurrent use and, once a server is known, take no lock: they run
// per connection and per pair on the capture workers.
type Counter struct {
	servers   *bounded[netip.AddrPort, server]
	tls       *bounded[tlsKey, atomic.Uint64]
	services  *bounded[serviceKey, service]
	endpoints *bounded[endpointKey, counts]
}

type server struct {
	conns, pairs, drops *counts
	unresolved          atomic.Uint64
}

type tlsKey struct {
	server            netip.AddrPort
	sni, alpn, reason string
}

type serviceKey struct {
	server  netip.AddrPort
	service string
}

type service struct{ with, without atomic.Uint64 }

type endpointKey struct {
	server       netip.AddrPort
	method, path string
}

// NewCounter returns a Counter with nothing counted.
func NewCounter() *Counter {
	return &Counter{
		servers: newBounded(MaxServers, otherServer, func() *server {
			return &server{conns: newCounts(maxNames), pairs: newCounts(maxNames), drops: newCounts(maxNames)}
		}),
		tls:      newBounded[tlsKey, atomic.Uint64](MaxTLS, tlsKey{sni: Other, alpn: Other, reason: Other}, nil),
		services: newBounded[serviceKey, service](MaxServices, serviceKey{service: Other}, nil),
		endpoints: newBounded(MaxEndpoints, endpointKey{method: Other, path: Other}, func() *counts {
			return newCounts(maxNames)
		}),
	}
}

// Conn counts a connection to server under what detection made of it.
func (c *Counter) Conn(server netip.AddrPort, protocol string) {
	c.servers.get(server).conns.add(protocol, 1)
}

// Drop counts a pair to server dropped for reason.
func (c *Counter) Drop(server netip.AddrPort, reason string) {
	c.servers.get(server).drops.add(reason, 1)
}

// Pair counts a pair to server sent to the sink; unresolved says some of
// its header fields could not be resolved (HPACK).
func (c *Counter) Pair(server netip.AddrPort, protocol string, unresolved bool) {
	s := c.servers.get(server)
	s.pairs.add(protocol, 1)
	if unresolved {
		s.unresolved.Add(1)
	}
}

// TLS counts a connection to server podtap could not read, with what its
// ClientHello offered (alpn comma separated) and why (reason).
func (c *Counter) TLS(server netip.AddrPort, sni, alpn, reason string) {
	c.tls.get(tlsKey{server: server, sni: sni, alpn: alpn, reason: reason}).Add(1)
}

// GRPC counts a gRPC pair of service, decoded with a schema or not (sent
// raw, or dropped as grpc_no_schema).
func (c *Counter) GRPC(server netip.AddrPort, svc string, withSchema bool) {
	s := c.services.get(serviceKey{server: server, service: svc})
	if withSchema {
		s.with.Add(1)
	} else {
		s.without.Add(1)
	}
}

// Types counts the sensitive types seen at one endpoint.
type Types struct{ c *counts }

// Saw counts one pair in which a value of type t was found.
func (t Types) Saw(typ string) { t.c.add(typ, 1) }

// Endpoint returns the counts of method path on server, path shaped as
// Endpoint.Endpoint says; the caller counts each type once per pair.
func (c *Counter) Endpoint(server netip.AddrPort, method, path string) Types {
	return Types{c.endpoints.get(endpointKey{server: server, method: method, path: shapePath(path)})}
}
