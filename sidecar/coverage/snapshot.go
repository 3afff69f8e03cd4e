package coverage

import (
	"cmp"
	"net/netip"
	"slices"
	"sync/atomic"
)

// snapshot puts what the counter holds now in r, sorted.
func (c *Counter) snapshot(r *Report) {
	r.Servers = []Server{}
	c.servers.each(func(k netip.AddrPort, s *server) {
		r.Servers = append(r.Servers, Server{
			Server:            addrName(k),
			Connections:       s.conns.snapshot(),
			Pairs:             s.pairs.snapshot(),
			Drops:             s.drops.snapshot(),
			UnresolvedHeaders: s.unresolved.Load(),
		})
	})
	slices.SortFunc(r.Servers, func(a, b Server) int { return cmp.Compare(a.Server, b.Server) })

	r.TLS = []TLS{}
	c.tls.each(func(k tlsKey, n *atomic.Uint64) {
		r.TLS = append(r.TLS, TLS{Server: addrName(k.server), SNI: k.sni, ALPN: k.alpn, Reason: k.reason, Connections: n.Load()})
	})
	slices.SortFunc(r.TLS, func(a, b TLS) int {
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.SNI, b.SNI), cmp.Compare(a.ALPN, b.ALPN), cmp.Compare(a.Reason, b.Reason))
	})

	r.GRPC = []Service{}
	c.services.each(func(k serviceKey, s *service) {
		r.GRPC = append(r.GRPC, Service{Server: addrName(k.server), Service: k.service, WithSchema: s.with.Load(), WithoutSchema: s.without.Load()})
	})
	slices.SortFunc(r.GRPC, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Service, b.Service))
	})

	r.Sensitive = []Endpoint{}
	c.endpoints.each(func(k endpointKey, t *counts) {
		name := k.method + " " + k.path
		if k.method == Other {
			name = Other
		}
		r.Sensitive = append(r.Sensitive, Endpoint{Server: addrName(k.server), Endpoint: name, Types: t.snapshot()})
	})
	slices.SortFunc(r.Sensitive, func(a, b Endpoint) int {
		return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Endpoint, b.Endpoint))
	})
}

// addrName is address:port, or Other for the entry past the bound.
func addrName(a netip.AddrPort) string {
	if !a.IsValid() {
		return Other
	}
	return a.String()
}
