// Package pcapgen writes synthetic captures: TCP/IP packets with lengths
// and checksums computed by gopacket, in a pcap stream of a chosen link
// type. The flow tests and the bench build their captures with it, so a
// test capture and a bench capture are framed alike.
package pcapgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// SnapLen is the captures' snapshot length: whole packets.
const SnapLen = 262144

// recordHeader is the size of a pcap record header, counted in Bytes.
const recordHeader = 16

// Segment is one TCP segment.
type Segment struct {
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	// Flags is a set of S (SYN), A (ACK), F (FIN), R (RST) and P (PSH).
	Flags string
	// MSS, when set, is announced in the SYN's options.
	MSS     int
	Payload []byte
}

// Writer writes packets into a pcap stream with nanosecond timestamps.
type Writer struct {
	w    *pcapgo.Writer
	link layers.LinkType
	buf  gopacket.SerializeBuffer
	// Packets and Bytes count what was written; Bytes includes each
	// record's header.
	Packets, Bytes int64
}

// NewWriter writes the file header for link: Ethernet, Null (BSD
// loopback), Linux SLL or SLL2, or Raw, IPv4 and IPv6 (IP without a link
// header).
func NewWriter(out io.Writer, link layers.LinkType) (*Writer, error) {
	switch link {
	case layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
	default:
		return nil, fmt.Errorf("pcapgen: link type %v is not supported", link)
	}
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(SnapLen, link); err != nil {
		return nil, fmt.Errorf("pcapgen: writing the file header: %w", err)
	}
	return &Writer{w: w, link: link, buf: gopacket.NewSerializeBuffer()}, nil
}

// WritePacket writes data as one packet captured at ts.
func (w *Writer) WritePacket(ts time.Time, data []byte) error {
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
	if err := w.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("pcapgen: writing a packet: %w", err)
	}
	w.Packets++
	w.Bytes += int64(len(data)) + recordHeader
	return nil
}

// WriteSegment writes s as one packet captured at ts.
func (w *Writer) WriteSegment(ts time.Time, s Segment) error {
	data, err := w.frame(s)
	if err != nil {
		return err
	}
	return w.WritePacket(ts, data)
}

// Frame is s as the bytes of one packet with the writer's link header.
func (w *Writer) Frame(s Segment) ([]byte, error) {
	data, err := w.frame(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), data...), nil
}

// frame serializes into the writer's buffer, which the next call reuses.
func (w *Writer) frame(s Segment) ([]byte, error) {
	has := func(flag string) bool { return strings.Contains(s.Flags, flag) }
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(s.Src.Port()), DstPort: layers.TCPPort(s.Dst.Port()),
		Seq: s.Seq, Ack: s.Ack, Window: 65535,
		SYN: has("S"), ACK: has("A"), FIN: has("F"), RST: has("R"), PSH: has("P"),
	}
	if tcp.SYN && s.MSS > 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
			OptionData: []byte{byte(s.MSS >> 8), byte(s.MSS)}}}
	}
	var ip gopacket.NetworkLayer
	etherType := layers.EthernetTypeIPv4
	family := layers.ProtocolFamilyIPv4
	if s.Src.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: net.IP(s.Src.Addr().AsSlice()), DstIP: net.IP(s.Dst.Addr().AsSlice())}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(s.Src.Addr().AsSlice()), DstIP: net.IP(s.Dst.Addr().AsSlice())}
		etherType = layers.EthernetTypeIPv6
		family = layers.ProtocolFamilyIPv6Linux
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, fmt.Errorf("pcapgen: building a segment: %w", err)
	}
	stack := []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(s.Payload)}
	switch w.link {
	case layers.LinkTypeEthernet:
		stack = append([]gopacket.SerializableLayer{&layers.Ethernet{
			SrcMAC: srcMAC, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etherType,
		}}, stack...)
	case layers.LinkTypeNull:
		stack = append([]gopacket.SerializableLayer{&layers.Loopback{Family: family}}, stack...)
	case layers.LinkTypeLinuxSLL:
		stack = append([]gopacket.SerializableLayer{sllHeader(etherType)}, stack...)
	case layers.LinkTypeLinuxSLL2:
		stack = append([]gopacket.SerializableLayer{sll2Header(etherType)}, stack...)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(w.buf, opts, stack...); err != nil {
		return nil, fmt.Errorf("pcapgen: building a segment: %w", err)
	}
	return w.buf.Bytes(), nil
}

var srcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}

// sllHeader is a Linux cooked header: pkttype, ARPHRD_ETHER, address
// length and address, protocol.
func sllHeader(etherType layers.EthernetType) gopacket.Payload {
	hdr := make([]byte, 16)
	binary.BigEndian.PutUint16(hdr[0:], 0)
	binary.BigEndian.PutUint16(hdr[2:], 1)
	binary.BigEndian.PutUint16(hdr[4:], 6)
	copy(hdr[6:], srcMAC)
	binary.BigEndian.PutUint16(hdr[14:], uint16(etherType))
	return hdr
}

// sll2Header is a Linux cooked v2 header: protocol, reserved, ifindex,
// ARPHRD_ETHER, pkttype, address length and address.
func sll2Header(etherType layers.EthernetType) gopacket.Payload {
	hdr := make([]byte, 20)
	binary.BigEndian.PutUint16(hdr[0:], uint16(etherType))
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint16(hdr[8:], 1)
	hdr[10], hdr[11] = 0, 6
	copy(hdr[12:], srcMAC)
	return hdr
}
