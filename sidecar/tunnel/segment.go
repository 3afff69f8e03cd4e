package tunnel

import "encoding/binary"

const (
	ethLen      = 14
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	protoTCP    = 6
	ipv6HdrLen  = 40
	tcpFlagFIN  = 0x01
	tcpFlagPSH  = 0x08
	minTCPHdr   = 20
	tcpSeqOff   = 4
	tcpFlagsOff = 13
)

// tcpLayout locates the headers of an Ethernet frame carrying TCP over IPv4
// (without fragmentation) or IPv6 (TCP as the first next header); ok is
// false for anything else, which is sent whole.
type tcpLayout struct {
	ipOff, tcpOff, payloadOff, end int
	v6                             bool
}

func layout(frame []byte) (tcpLayout, bool) {
	if len(frame) < ethLen {
		return tcpLayout{}, false
	}
	var l tcpLayout
	l.ipOff = ethLen
	ip := frame[ethLen:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != protoTCP {
			return l, false
		}
		if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 { // MF or an offset: a fragment
			return l, false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return l, false
		}
		l.tcpOff, l.end = l.ipOff+ihl, l.ipOff+total
	case etherIPv6:
		if len(ip) < ipv6HdrLen || ip[0]>>4 != 6 || ip[6] != protoTCP {
			return l, false
		}
		total := ipv6HdrLen + int(binary.BigEndian.Uint16(ip[4:6]))
		if total > len(ip) {
			return l, false
		}
		l.v6, l.tcpOff, l.end = true, l.ipOff+ipv6HdrLen, l.ipOff+total
	default:
		return l, false
	}
	if l.end-l.tcpOff < minTCPHdr {
		return l, false
	}
	doff := int(frame[l.tcpOff+12]>>4) * 4
	if doff < minTCPHdr || l.tcpOff+doff > l.end {
		return l, false
	}
	l.payloadOff = l.tcpOff + doff
	return l, true
}

// segments calls send with each segment of a TCP frame whose IP packet is
// larger than maxIP bytes, each at most maxIP, as TSO would have cut it on
// the wire: the headers copied, the sequence number advanced, the IPv4
// length, ID and header checksum set, FIN and PSH on the last segment only.
// The TCP checksum is left as captured: a packet captured before the NIC's
// checksum offload never had a valid one, and the receiver does not check
// it. It reports false, sending nothing, when frame is not such a packet.
func segments(frame []byte, maxIP int, buf []byte, send func([]byte)) bool {
	l, ok := layout(frame)
	if !ok || l.end-l.ipOff <= maxIP {
		return false
	}
	hdr := frame[:l.payloadOff]
	payload := frame[l.payloadOff:l.end]
	chunk := maxIP - (l.payloadOff - l.ipOff)
	if chunk < 1 || len(payload) == 0 {
		return false
	}
	seq := binary.BigEndian.Uint32(frame[l.tcpOff+tcpSeqOff:])
	flags := frame[l.tcpOff+tcpFlagsOff]
	var id uint16
	if !l.v6 {
		id = binary.BigEndian.Uint16(frame[l.ipOff+4:])
	}
	for off, i := 0, 0; off < len(payload); i++ {
		n := min(chunk, len(payload)-off)
		seg := append(append(buf[:0], hdr...), payload[off:off+n]...)
		ip := seg[l.ipOff:]
		if l.v6 {
			binary.BigEndian.PutUint16(ip[4:6], uint16(len(ip)-ipv6HdrLen))
		} else {
			binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
			binary.BigEndian.PutUint16(ip[4:6], id+uint16(i))
			ihl := int(ip[0]&0x0f) * 4
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:12], ipv4Checksum(ip[:ihl]))
		}
		binary.BigEndian.PutUint32(seg[l.tcpOff+tcpSeqOff:], seq+uint32(off))
		f := flags
		if off+n < len(payload) {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		seg[l.tcpOff+tcpFlagsOff] = f
		send(seg)
		off += n
	}
	return true
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
