package tunnel

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame builds an Ethernet/IP/TCP packet with gopacket, as a capture of an
// offloaded send would hold it.
func frame(t testing.TB, v6 bool, payload []byte, flags string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: 8080, DstPort: 40000, Seq: 0xfffffff0, Ack: 7, Window: 512, PSH: bytes.ContainsRune([]byte(flags), 'P'), FIN: bytes.ContainsRune([]byte(flags), 'F'), ACK: true}
	var ip gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: []byte{0xfd, 15: 1}, DstIP: []byte{0xfd, 15: 2}}
		_ = tcp.SetNetworkLayerForChecksum(l)
		ip = l
	} else {
		l := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 100, Protocol: layers.IPProtocolTCP, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
		_ = tcp.SetNetworkLayerForChecksum(l)
		ip = l
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSegments(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, tc := range []struct {
		name     string
		v6       bool
		payload  []byte
		flags    string
		maxIP    int
		segments int
	}{
		{"ipv4 cut in four", false, payload, "PF", 1450, 4},
		{"ipv6 cut in four", true, payload, "P", 1450, 4},
		{"ipv4 that fits is sent whole", false, payload[:1000], "P", 1450, 0},
		{"exactly the limit is sent whole", false, payload[:1410], "P", 1450, 0},
		{"one byte over is cut in two", false, payload[:1411], "P", 1450, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]byte
			cut := segments(frame(t, tc.v6, tc.payload, tc.flags), tc.maxIP, nil, func(b []byte) { got = append(got, bytes.Clone(b)) })
			if cut != (tc.segments > 0) || len(got) != tc.segments {
				t.Fatalf("cut %v into %d segments, want %d", cut, len(got), tc.segments)
			}
			if !cut {
				return
			}
			var joined []byte
			want := uint32(0xfffffff0)
			for i, seg := range got {
				p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
				if p.ErrorLayer() != nil {
					t.Fatalf("segment %d does not decode: %v", i, p.ErrorLayer().Error())
				}
				tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp.Seq != want {
					t.Errorf("segment %d: seq %#x, want %#x", i, tcp.Seq, want)
				}
				last := i == len(got)-1
				if tcp.PSH != (last && bytes.ContainsRune([]byte(tc.flags), 'P')) || tcp.FIN != (last && bytes.ContainsRune([]byte(tc.flags), 'F')) {
					t.Errorf("segment %d: PSH %v FIN %v", i, tcp.PSH, tcp.FIN)
				}
				if n := len(seg) - ethLen; n > tc.maxIP {
					t.Errorf("segment %d: IP packet of %d bytes, limit %d", i, n, tc.maxIP)
				}
				if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
					if int(ip4.Length) != len(seg)-ethLen || ip4.Id != 100+uint16(i) {
						t.Errorf("segment %d: IPv4 length %d id %d", i, ip4.Length, ip4.Id)
					}
					if ipv4Checksum(seg[ethLen:ethLen+20]) != 0 {
						t.Errorf("segment %d: IPv4 header checksum is wrong", i)
					}
				}
				if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && int(ip6.Length) != len(seg)-ethLen-40 {
					t.Errorf("segment %d: IPv6 payload length %d", i, ip6.Length)
				}
				want += uint32(len(tcp.Payload))
				joined = append(joined, tcp.Payload...)
			}
			if !bytes.Equal(joined, tc.payload) {
				t.Errorf("the segments carry %d bytes, not the %d of the packet", len(joined), len(tc.payload))
			}
		})
	}
}

func TestSegmentsLeaveOthersWhole(t *testing.T) {
	big := frame(t, false, make([]byte, 3000), "P")
	fragment := bytes.Clone(big)
	binary.BigEndian.PutUint16(fragment[ethLen+6:], 0x2000) // more fragments
	udp := bytes.Clone(big)
	udp[ethLen+9] = 17
	for name, f := range map[string][]byte{"fragment": fragment, "udp": udp, "short": big[:30], "arp": append([]byte{12: 0x08, 13: 0x06}, make([]byte, 28)...)} {
		if segments(f, 1450, nil, func([]byte) { t.Errorf("%s: a segment was sent", name) }) {
			t.Errorf("%s was cut", name)
		}
	}
}

func FuzzSegments(f *testing.F) {
	f.Add(frame(f, false, make([]byte, 3000), "PF"), 600)
	f.Add(frame(f, true, make([]byte, 2000), "P"), 1450)
	f.Fuzz(func(t *testing.T, b []byte, maxIP int) {
		if maxIP < 576 || maxIP > 65000 {
			return
		}
		l, ok := layout(b)
		total := 0
		cut := segments(b, maxIP, nil, func(seg []byte) {
			if len(seg)-ethLen > maxIP {
				t.Fatalf("segment of %d bytes over %d", len(seg)-ethLen, maxIP)
			}
			total += len(seg) - (l.payloadOff)
		})
		if cut && (!ok || total != l.end-l.payloadOff) {
			t.Fatalf("segments carry %d payload bytes, the packet %d", total, l.end-l.payloadOff)
		}
	})
}
