package flow

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/vxlan"
)

// inUDP wraps a VXLAN datagram payload in outer Ethernet/IPv4/UDP to port.
func inUDP(t testing.TB, payload []byte, port uint16) []byte {
	t.Helper()
	b := newPcap(t, layers.LinkTypeEthernet)
	outer := b.frame(addrPort("192.0.2.1:1"), addrPort("192.0.2.2:2"), 1, 1, "A", nil)
	outer = outer[:14+20]
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:2], 50000)
	binary.BigEndian.PutUint16(udp[2:4], port)
	binary.BigEndian.PutUint16(udp[4:6], uint16(8+len(payload)))
	udp = append(udp, payload...)
	outer[14+9] = 17
	binary.BigEndian.PutUint16(outer[14+2:14+4], uint16(20+len(udp)))
	return append(outer, udp...)
}

func TestDecodeVXLAN(t *testing.T) {
	b := newPcap(t, layers.LinkTypeEthernet)
	inner := b.frame(addrPort("10.0.0.5:40000"), addrPort("10.0.0.9:80"), 1, 1, "PA", []byte("GET / HTTP/1.1\r\n\r\n"))
	wrap := func(vni vxlan.VNI, frame []byte) []byte {
		p, err := vxlan.Append(nil, vni, frame)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	reserved := wrap(7, inner)
	reserved[3] = 3
	noVNI := wrap(7, inner)
	noVNI[0] = 0
	tunnel := Tunnel{Port: 4789, VNIs: map[vxlan.VNI]bool{7: true, 8: true}}
	for _, tc := range []struct {
		name string
		link layers.LinkType
		pkt  []byte
		want ignored
		vni  uint32
	}{
		{"live", capture.LinkTypeVXLAN, wrap(7, inner), kept, 7},
		{"live-other-vni", capture.LinkTypeVXLAN, wrap(8, inner), kept, 8},
		{"live-filtered", capture.LinkTypeVXLAN, wrap(9, inner), vniFiltered, 0},
		{"live-short", capture.LinkTypeVXLAN, []byte{8, 0, 0}, vxlanShort, 0},
		{"live-no-vni", capture.LinkTypeVXLAN, noVNI, vxlanNoVNI, 0},
		{"live-reserved", capture.LinkTypeVXLAN, reserved, vxlanReserved, 0},
		{"live-inner-truncated", capture.LinkTypeVXLAN, wrap(7, inner[:20]), innerMalformed, 0},
		{"pcap", layers.LinkTypeEthernet, inUDP(t, wrap(7, inner), 4789), kept, 7},
		{"pcap-other-port", layers.LinkTypeEthernet, inUDP(t, wrap(7, inner), 4790), notTCP, 0},
		{"pcap-filtered", layers.LinkTypeEthernet, inUDP(t, wrap(1, inner), 4789), vniFiltered, 0},
		{"pcap-vxlan-in-vxlan", layers.LinkTypeEthernet, inUDP(t, wrap(7, inUDP(t, wrap(7, inner), 4789)), 4789), notTCP, 0},
	} {
		d, err := newDecoder(tc.link, tunnel)
		if err != nil {
			t.Fatal(err)
		}
		seg, got := d.decode(tc.pkt)
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		if got != kept {
			continue
		}
		if !seg.vxlan || seg.vni != tc.vni {
			t.Errorf("%s: vxlan %v vni %d, want VNI %d", tc.name, seg.vxlan, seg.vni, tc.vni)
		}
		if !bytes.Equal(seg.src, []byte{10, 0, 0, 5}) || !bytes.Equal(seg.dst, []byte{10, 0, 0, 9}) {
			t.Errorf("%s: addresses %v -> %v, want the inner ones", tc.name, seg.src, seg.dst)
		}
	}
}

// TestVNIKeysConnections: the same addresses under two VNIs are two
// connections to reassembly, and each flow gives its VNI back.
func TestVNIKeysConnections(t *testing.T) {
	a := segment{src: []byte{10, 0, 0, 5}, dst: []byte{10, 0, 0, 9}, vxlan: true, vni: 7}
	b := a
	b.vni = 8
	plain := a
	plain.vxlan, plain.vni = false, 0
	zero := a
	zero.vni = 0
	fa, fb, fp, fz := netFlow(&a, layers.EndpointIPv4), netFlow(&b, layers.EndpointIPv4), netFlow(&plain, layers.EndpointIPv4), netFlow(&zero, layers.EndpointIPv4)
	if fa == fb || fa == fp || fz == fp {
		t.Fatalf("flows collide: %v %v %v %v", fa, fb, fp, fz)
	}
	if fp.EndpointType() != layers.EndpointIPv4 {
		t.Errorf("a packet outside a tunnel changed its endpoint type to %v", fp.EndpointType())
	}
	for _, tc := range []struct {
		seg  segment
		vni  uint32
		tunl bool
	}{{a, 7, true}, {b, 8, true}, {zero, 0, true}, {plain, 0, false}} {
		f := netFlow(&tc.seg, layers.EndpointIPv4)
		if vni, ok := tunnelOf(f.EndpointType()); vni != tc.vni || ok != tc.tunl {
			t.Errorf("tunnelOf(%v) = %d %v, want %d %v", f, vni, ok, tc.vni, tc.tunl)
		}
	}
}

// FuzzDecodeVXLAN feeds the vxlan source's datagrams, and the same inside
// outer UDP, to the decoder: whatever the bytes, it says why or keeps a
// segment that lies inside the input.
func FuzzDecodeVXLAN(f *testing.F) {
	b := newPcap(f, layers.LinkTypeEthernet)
	inner := b.frame(addrPort("10.0.0.5:40000"), addrPort("10.0.0.9:80"), 1, 1, "PA", []byte("GET / HTTP/1.1\r\n\r\n"))
	p, _ := vxlan.Append(nil, 7, inner)
	f.Add(p)
	f.Add(p[:12])
	f.Add([]byte{8, 0, 0, 0, 0, 0, 7, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, link := range []layers.LinkType{capture.LinkTypeVXLAN, layers.LinkTypeEthernet} {
			d, err := newDecoder(link, Tunnel{Port: 4789})
			if err != nil {
				t.Fatal(err)
			}
			pkt := data
			if link == layers.LinkTypeEthernet {
				pkt = inUDP(t, data, 4789)
			}
			seg, why := d.decode(pkt)
			if why == kept && (len(seg.tcp) < minTCPHeader || !seg.vxlan) {
				t.Fatalf("kept a segment of %d bytes, vxlan %v", len(seg.tcp), seg.vxlan)
			}
		}
	})
}
