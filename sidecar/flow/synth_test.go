package flow

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapBuilder writes valid TCP/IP packets (checksums and lengths computed
// by gopacket) into a pcap file with a chosen link type.
type pcapBuilder struct {
	t       testing.TB
	path    string
	f       *os.File
	w       *pcapgo.Writer
	link    layers.LinkType
	buf     gopacket.SerializeBuffer
	packets int
	bytes   int
}

func newPcap(t testing.TB, link layers.LinkType) *pcapBuilder {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(262144, link); err != nil {
		t.Fatal(err)
	}
	return &pcapBuilder{t: t, path: path, f: f, w: w, link: link, buf: gopacket.NewSerializeBuffer()}
}

// close finishes the file and returns its path.
func (b *pcapBuilder) close() string {
	b.t.Helper()
	if err := b.f.Close(); err != nil {
		b.t.Fatal(err)
	}
	return b.path
}

// raw writes data as one packet.
func (b *pcapBuilder) raw(ts time.Time, data []byte) {
	b.t.Helper()
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
	if err := b.w.WritePacket(ci, data); err != nil {
		b.t.Fatal(err)
	}
	b.packets++
	b.bytes += len(data)
}

// segment writes one TCP segment; flags is a set of S, A, F, R, P.
func (b *pcapBuilder) segment(ts time.Time, src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) {
	b.t.Helper()
	b.raw(ts, b.frame(src, dst, seq, ack, flags, payload))
}

// frame builds a segment with the builder's link header.
func (b *pcapBuilder) frame(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) []byte {
	b.t.Helper()
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, Window: 65535,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R"),
		PSH: strings.Contains(flags, "P"),
	}
	var ip gopacket.SerializableLayer
	etherType := layers.EthernetTypeIPv4
	family := layers.ProtocolFamilyIPv4
	if src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		_ = tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
		etherType = layers.EthernetTypeIPv6
		family = layers.ProtocolFamilyIPv6Linux
	}
	stack := []gopacket.SerializableLayer{ip, tcp, gopacket.Payload(payload)}
	switch b.link {
	case layers.LinkTypeEthernet:
		stack = append([]gopacket.SerializableLayer{&layers.Ethernet{
			SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: etherType,
		}}, stack...)
	case layers.LinkTypeNull:
		stack = append([]gopacket.SerializableLayer{&layers.Loopback{Family: family}}, stack...)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(b.buf, opts, stack...); err != nil {
		b.t.Fatal(err)
	}
	out := append([]byte(nil), b.buf.Bytes()...)
	switch b.link {
	case layers.LinkTypeLinuxSLL:
		// pkttype, ARPHRD_ETHER, address length and address, protocol.
		hdr := make([]byte, 16)
		binary.BigEndian.PutUint16(hdr[0:], 0)
		binary.BigEndian.PutUint16(hdr[2:], 1)
		binary.BigEndian.PutUint16(hdr[4:], 6)
		copy(hdr[6:], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(hdr[14:], uint16(etherType))
		out = append(hdr, out...)
	case layers.LinkTypeLinuxSLL2:
		// protocol, reserved, ifindex, ARPHRD_ETHER, pkttype, address
		// length and address.
		hdr := make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], uint16(etherType))
		binary.BigEndian.PutUint32(hdr[4:], 2)
		binary.BigEndian.PutUint16(hdr[8:], 1)
		hdr[10], hdr[11] = 0, 6
		copy(hdr[12:], []byte{2, 0, 0, 0, 0, 1})
		out = append(hdr, out...)
	}
	return out
}

// open writes the SYN and SYN-ACK of a connection from client to server
// at ts and returns the sequence numbers of each side's first byte.
func (b *pcapBuilder) open(ts time.Time, client, server netip.AddrPort) (cseq, sseq uint32) {
	b.t.Helper()
	cseq, sseq = 1000, 5000
	b.segment(ts, client, server, cseq, 0, "S", nil)
	b.segment(ts, server, client, sseq, cseq+1, "SA", nil)
	return cseq + 1, sseq + 1
}

// exchange writes a whole connection: handshake, each request answered by
// its response in segments of at most mss bytes, then FIN in both
// directions. It returns the time after the last packet.
func (b *pcapBuilder) exchange(ts time.Time, client, server netip.AddrPort, reqs, resps [][]byte, mss int) time.Time {
	b.t.Helper()
	step := func() time.Time { ts = ts.Add(100 * time.Microsecond); return ts }
	cseq, sseq := uint32(1000), uint32(500000)
	b.segment(step(), client, server, cseq, 0, "S", nil)
	b.segment(step(), server, client, sseq, cseq+1, "SA", nil)
	cseq++
	sseq++
	b.segment(step(), client, server, cseq, sseq, "A", nil)
	send := func(from, to netip.AddrPort, seq *uint32, ack uint32, data []byte) {
		for len(data) > 0 {
			n := min(mss, len(data))
			b.segment(step(), from, to, *seq, ack, "PA", data[:n])
			*seq += uint32(n)
			data = data[n:]
		}
	}
	for i := range reqs {
		send(client, server, &cseq, sseq, reqs[i])
		send(server, client, &sseq, cseq, resps[i])
	}
	b.segment(step(), client, server, cseq, sseq, "FA", nil)
	b.segment(step(), server, client, sseq, cseq+1, "FA", nil)
	b.segment(step(), client, server, cseq+1, sseq+1, "A", nil)
	return step()
}

func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
