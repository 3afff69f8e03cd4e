package flow

import (
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/sidecar/capture"
)

// segment is a decoded packet: where its TCP segment is and who sent it.
type segment struct {
	tcp      []byte
	src, dst []byte // IP addresses, 4 or 16 bytes
	ipv6     bool
	// vxlan marks a segment decapsulated from VXLAN, vni its network.
	vxlan bool
	vni   uint32
}

// decoder decodes link and IP layers with gopacket's DecodingLayerParser
// into layer structs it owns, so decoding allocates nothing. TCP itself is
// decoded by the worker that owns the connection, which spreads that work
// over the workers instead of the single reader.
type decoder struct {
	eth   layers.Ethernet
	null  layers.Loopback
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	dot1q layers.Dot1Q
	ip4   layers.IPv4
	ip6   layers.IPv6

	// rawIP is set for links without a link header, where the IP version
	// nibble picks the parser.
	rawIP bool
	// vxlanLink is set for capture.LinkTypeVXLAN: every packet starts with
	// a VXLAN header.
	vxlanLink bool
	// tunnel decodes VXLAN: the port of UDP datagrams that carry it, the
	// VNIs kept, and inner, set while the frame inside is decoded.
	tunnel       Tunnel
	inner        bool
	ethParser    *gopacket.DecodingLayerParser
	parser       *gopacket.DecodingLayerParser
	ip4Parser    *gopacket.DecodingLayerParser
	ip6Parser    *gopacket.DecodingLayerParser
	decodedTypes []gopacket.LayerType
}

func newDecoder(link layers.LinkType, tunnel Tunnel) (*decoder, error) {
	d := &decoder{decodedTypes: make([]gopacket.LayerType, 0, 8), tunnel: tunnel}
	d.ip4Parser = d.newParser(layers.LayerTypeIPv4)
	d.ip6Parser = d.newParser(layers.LayerTypeIPv6)
	d.ethParser = d.newParser(layers.LayerTypeEthernet)
	switch link {
	case capture.LinkTypeVXLAN:
		d.vxlanLink = true
	case layers.LinkTypeEthernet:
		d.parser = d.ethParser
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		d.parser = d.newParser(layers.LayerTypeLoopback)
	case layers.LinkTypeLinuxSLL:
		d.parser = d.newParser(layers.LayerTypeLinuxSLL)
	case layers.LinkTypeLinuxSLL2:
		d.parser = d.newParser(layers.LayerTypeLinuxSLL2)
	case layers.LinkTypeRaw:
		d.rawIP = true
	case layers.LinkTypeIPv4:
		d.parser = d.ip4Parser
	case layers.LinkTypeIPv6:
		d.parser = d.ip6Parser
	default:
		return nil, fmt.Errorf("flow: cannot decode link type %v (%d)", link, int(link))
	}
	return d, nil
}

// newParser builds a parser starting at first. It stops, without error, at
// the first layer it has no decoder for: TCP, or anything we ignore.
func (d *decoder) newParser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first)
	p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.null, &d.sll, &d.sll2, &d.dot1q, &d.ip4, &d.ip6} {
		p.AddDecodingLayer(l)
	}
	p.IgnoreUnsupported = true
	return p
}

// decode finds the TCP segment of a packet, or says why there is none.
func (d *decoder) decode(data []byte) (seg segment, why ignored) {
	if d.vxlanLink {
		return d.decapsulate(data)
	}
	return d.decodeWith(d.parser, data)
}

func (d *decoder) decodeWith(p *gopacket.DecodingLayerParser, data []byte) (seg segment, why ignored) {
	if d.rawIP {
		if len(data) == 0 {
			return seg, malformed
		}
		switch data[0] >> 4 {
		case 4:
			p = d.ip4Parser
		case 6:
			p = d.ip6Parser
		default:
			return seg, malformed
		}
	}
	if err := p.DecodeLayers(data, &d.decodedTypes); err != nil {
		return seg, malformed
	}
	if len(d.decodedTypes) == 0 {
		return seg, malformed
	}
	switch d.decodedTypes[len(d.decodedTypes)-1] {
	case layers.LayerTypeIPv4:
		return d.fromIPv4()
	case layers.LayerTypeIPv6:
		return d.fromIPv6()
	default:
		return seg, notTCP
	}
}

func (d *decoder) fromIPv4() (seg segment, why ignored) {
	ip := &d.ip4
	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		return seg, fragment
	}
	if ip.Protocol != layers.IPProtocolTCP {
		if ip.Protocol == layers.IPProtocolUDP {
			return d.fromUDP(ip.Payload)
		}
		return seg, notTCP
	}
	if len(ip.Payload) < minTCPHeader {
		return seg, malformed
	}
	return segment{tcp: ip.Payload, src: ip.SrcIP, dst: ip.DstIP}, kept
}

// fromIPv6 walks the extension headers gopacket leaves after the fixed
// header (it consumes Hop-by-Hop itself) up to TCP.
func (d *decoder) fromIPv6() (seg segment, why ignored) {
	ip := &d.ip6
	next := ip.NextHeader
	if ip.HopByHop != nil {
		next = ip.HopByHop.NextHeader
	}
	payload := ip.Payload
	for {
		switch next {
		case layers.IPProtocolTCP:
			if len(payload) < minTCPHeader {
				return seg, malformed
			}
			return segment{tcp: payload, src: ip.SrcIP, dst: ip.DstIP, ipv6: true}, kept
		case layers.IPProtocolIPv6Fragment:
			return seg, fragment
		case layers.IPProtocolUDP:
			return d.fromUDP(payload)
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
			if len(payload) < 8 {
				return seg, malformed
			}
			n := (int(payload[1]) + 1) * 8
			if n > len(payload) {
				return seg, malformed
			}
			next, payload = layers.IPProtocol(payload[0]), payload[n:]
		case layers.IPProtocolAH:
			if len(payload) < 8 {
				return seg, malformed
			}
			n := (int(payload[1]) + 2) * 4
			if n > len(payload) {
				return seg, malformed
			}
			next, payload = layers.IPProtocol(payload[0]), payload[n:]
		default:
			return seg, notTCP
		}
	}
}

// minTCPHeader is the length of a TCP header without options.
const minTCPHeader = 20
