package pair

import (
	"net/netip"

	"github.com/podtap/podtap/sidecar/message"
)

// meshOutboundPorts are the ports a mesh proxy's outbound listener takes
// traffic on after iptables redirection: on lo, a connection to them is
// the application calling out.
var meshOutboundPorts = map[uint16]bool{
	15001: true, // Istio outbound capture
	4140:  true, // Linkerd outbound proxy
}

// Direction tells inbound from outbound by the pod's own addresses.
type Direction struct {
	pod map[netip.Addr]bool
	// loopback marks a capture on lo, where both ends are the pod.
	loopback bool
}

// NewDirection classifies by the pod's addresses; loopback says the
// capture runs on lo (under a service mesh).
func NewDirection(podIPs []netip.Addr, loopback bool) *Direction {
	d := &Direction{pod: make(map[netip.Addr]bool, len(podIPs)), loopback: loopback}
	for _, ip := range podIPs {
		d.pod[ip.Unmap()] = true
	}
	return d
}

// Of returns message.Inbound, message.Outbound or message.Unknown.
func (d *Direction) Of(client, server message.Endpoint) string {
	if d == nil {
		return message.Unknown
	}
	c, s := d.isPod(client.IP), d.isPod(server.IP)
	switch {
	case c && s:
		if meshOutboundPorts[server.Port] {
			return message.Outbound
		}
		return message.Inbound
	case s:
		return message.Inbound
	case c:
		return message.Outbound
	}
	return message.Unknown
}

func (d *Direction) isPod(ip netip.Addr) bool {
	ip = ip.Unmap()
	if d.loopback && ip.IsLoopback() {
		return true
	}
	return d.pod[ip]
}
