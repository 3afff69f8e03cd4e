package flow

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/vxlan"
)

// Tunnel says which UDP datagrams carry VXLAN and which of its networks
// are kept.
type Tunnel struct {
	// Port is the UDP destination port of VXLAN; 0 decodes none.
	Port uint16
	// VNIs kept; nil keeps all.
	VNIs map[vxlan.VNI]bool
}

// NewTunnel reads capture.vxlan (validated by config).
func NewTunnel(cfg config.VXLAN) Tunnel {
	t := Tunnel{Port: uint16(cfg.Port)}
	if len(cfg.VNIs) > 0 {
		t.VNIs = make(map[vxlan.VNI]bool, len(cfg.VNIs))
		for _, v := range cfg.VNIs {
			t.VNIs[vxlan.VNI(v)] = true
		}
	}
	return t
}

// fromUDP decodes a datagram to the VXLAN port as VXLAN; any other UDP is
// not TCP. Only one level is decapsulated: VXLAN inside VXLAN is not TCP.
func (d *decoder) fromUDP(udp []byte) (seg segment, why ignored) {
	if d.inner || d.tunnel.Port == 0 || len(udp) < 8 || binary.BigEndian.Uint16(udp[2:4]) != d.tunnel.Port {
		return seg, notTCP
	}
	n := int(binary.BigEndian.Uint16(udp[4:6]))
	if n < 8 || n > len(udp) {
		return seg, malformed
	}
	return d.decapsulate(udp[8:n])
}

// decapsulate decodes a VXLAN header and the Ethernet frame it carries.
func (d *decoder) decapsulate(b []byte) (seg segment, why ignored) {
	vni, frame, err := vxlan.Decode(b)
	switch err {
	case nil:
	case vxlan.ErrShort:
		return seg, vxlanShort
	case vxlan.ErrNoVNI:
		return seg, vxlanNoVNI
	default:
		return seg, vxlanReserved
	}
	if d.tunnel.VNIs != nil && !d.tunnel.VNIs[vni] {
		return seg, vniFiltered
	}
	d.inner = true
	seg, why = d.decodeWith(d.ethParser, frame)
	d.inner = false
	if why == malformed {
		why = innerMalformed
	}
	seg.vxlan, seg.vni = true, uint32(vni)
	return seg, why
}

// netFlow is the network flow of a segment as reassembly keys it. A VXLAN
// network is an address space of its own: two mirrored VPCs may both have
// a 10.0.0.5, so the VNI goes into the flow's endpoint type, which is part
// of reassembly's connection key, above the bits of gopacket's own types.
func netFlow(seg *segment, endpoint gopacket.EndpointType) gopacket.Flow {
	if seg.vxlan {
		endpoint |= gopacket.EndpointType(uint64(seg.vni)+1) << 32
	}
	return gopacket.NewFlow(endpoint, seg.src, seg.dst)
}

// tunnelOf recovers the VXLAN network from a flow's endpoint type.
func tunnelOf(t gopacket.EndpointType) (vni uint32, ok bool) {
	space := uint64(t) >> 32
	if space == 0 {
		return 0, false
	}
	return uint32(space - 1), true
}
