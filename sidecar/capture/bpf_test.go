package capture

import (
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// packetSpec describes a crafted packet.
type packetSpec struct {
	ipv6     bool
	udp      bool
	vlan     bool
	ipOpts   bool // an IPv4 header with options (IHL 6)
	fragment bool // a non-first IPv4 fragment
	sport    uint16
	dport    uint16
}

func craft(t *testing.T, link layers.LinkType, p packetSpec) []byte {
	t.Helper()
	var stack []gopacket.SerializableLayer
	etherType := layers.EthernetTypeIPv4
	var network gopacket.NetworkLayer
	if p.ipv6 {
		etherType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		if p.udp {
			ip.NextHeader = layers.IPProtocolUDP
		}
		stack, network = append(stack, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		if p.udp {
			ip.Protocol = layers.IPProtocolUDP
		}
		if p.ipOpts {
			ip.Options = []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 1, OptionLength: 1},
				{OptionType: 1, OptionLength: 1}, {OptionType: 0, OptionLength: 1}}
		}
		if p.fragment {
			ip.FragOffset = 185
		}
		stack, network = append(stack, ip), ip
	}
	if p.udp {
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		_ = udp.SetNetworkLayerForChecksum(network)
		stack = append(stack, udp)
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 1, ACK: true, Window: 100}
		_ = tcp.SetNetworkLayerForChecksum(network)
		stack = append(stack, tcp)
	}
	stack = append(stack, gopacket.Payload("hello"))
	if link == layers.LinkTypeEthernet {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etherType}
		if p.vlan {
			eth.EthernetType = layers.EthernetTypeDot1Q
			stack = append([]gopacket.SerializableLayer{eth, &layers.Dot1Q{VLANIdentifier: 42, Type: etherType}}, stack...)
		} else {
			stack = append([]gopacket.SerializableLayer{eth}, stack...)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func run(t *testing.T, f Filter, pkt []byte) int {
	t.Helper()
	prog, err := f.Program()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFilterProgram(t *testing.T) {
	const snap = 65535
	ports := Filter{Ports: []int{8080, 8000, 8001, 8002}, ExcludePorts: []int{8001}, Snaplen: snap}
	all := Filter{Snaplen: snap}
	exclude := Filter{ExcludePorts: []int{22}, Snaplen: snap}
	for _, tc := range []struct {
		name   string
		filter Filter
		pkt    packetSpec
		want   bool
	}{
		{"dst port listed", ports, packetSpec{sport: 40000, dport: 8080}, true},
		{"src port listed", ports, packetSpec{sport: 8080, dport: 40000}, true},
		{"port in a range", ports, packetSpec{sport: 40000, dport: 8002}, true},
		{"excluded inside a range", ports, packetSpec{sport: 40000, dport: 8001}, false},
		{"excluded wins over the other side", ports, packetSpec{sport: 8001, dport: 8080}, false},
		{"port not listed", ports, packetSpec{sport: 40000, dport: 9090}, false},
		{"udp on a listed port", ports, packetSpec{udp: true, sport: 40000, dport: 8080}, false},
		{"ipv6 listed", ports, packetSpec{ipv6: true, sport: 40000, dport: 8080}, true},
		{"ipv6 not listed", ports, packetSpec{ipv6: true, sport: 40000, dport: 9090}, false},
		{"ipv6 udp", ports, packetSpec{ipv6: true, udp: true, sport: 40000, dport: 8080}, false},
		{"vlan listed", ports, packetSpec{vlan: true, sport: 40000, dport: 8080}, true},
		{"vlan not listed", ports, packetSpec{vlan: true, sport: 40000, dport: 9090}, false},
		{"vlan ipv6 listed", ports, packetSpec{vlan: true, ipv6: true, sport: 8080, dport: 40000}, true},
		{"ipv4 options", ports, packetSpec{ipOpts: true, sport: 40000, dport: 8080}, true},
		{"ipv4 options not listed", ports, packetSpec{ipOpts: true, sport: 40000, dport: 9090}, false},
		{"non-first fragment", ports, packetSpec{fragment: true, sport: 40000, dport: 8080}, false},
		{"all: any tcp", all, packetSpec{sport: 1, dport: 2}, true},
		{"all: ipv6 tcp", all, packetSpec{ipv6: true, sport: 1, dport: 2}, true},
		{"all: udp", all, packetSpec{udp: true, sport: 1, dport: 2}, false},
		{"exclude: src", exclude, packetSpec{sport: 22, dport: 40000}, false},
		{"exclude: dst", exclude, packetSpec{sport: 40000, dport: 22}, false},
		{"exclude: other", exclude, packetSpec{sport: 40000, dport: 80}, true},
	} {
		for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
			if tc.pkt.vlan && link == layers.LinkTypeRaw {
				continue
			}
			f := tc.filter
			f.Link = link
			got := run(t, f, craft(t, link, tc.pkt))
			if (got > 0) != tc.want {
				t.Errorf("%s (%v): verdict %d, want accepted=%v", tc.name, link, got, tc.want)
			}
		}
	}
}

func TestFilterSnaplen(t *testing.T) {
	pkt := craft(t, layers.LinkTypeEthernet, packetSpec{sport: 1, dport: 2})
	if got := run(t, Filter{Link: layers.LinkTypeEthernet, Snaplen: 40}, pkt); got != 40 {
		t.Errorf("accepted %d bytes, want the 40-byte snaplen", got)
	}
}

func TestFilterRejectsNonIP(t *testing.T) {
	f := Filter{Link: layers.LinkTypeEthernet, Snaplen: 65535}
	arp := craft(t, layers.LinkTypeEthernet, packetSpec{sport: 1, dport: 2})
	arp[12], arp[13] = 0x08, 0x06
	for name, pkt := range map[string][]byte{
		"arp":             arp,
		"empty":           {},
		"ethernet only":   arp[:14],
		"truncated ipv4":  craft(t, layers.LinkTypeEthernet, packetSpec{sport: 1, dport: 2})[:14+20],
		"truncated ports": craft(t, layers.LinkTypeEthernet, packetSpec{sport: 1, dport: 2})[:14+20+1],
	} {
		if got := run(t, f, pkt); got != 0 {
			t.Errorf("%s: accepted (%d)", name, got)
		}
	}
}

func TestFilterManyPorts(t *testing.T) {
	var consecutive, scattered []int
	for p := 1; p <= 5000; p++ {
		consecutive = append(consecutive, p)
		if p%2 == 1 {
			scattered = append(scattered, p)
		}
	}
	f := Filter{Link: layers.LinkTypeEthernet, Ports: consecutive, Snaplen: 65535}
	prog, err := f.Program()
	if err != nil {
		t.Fatalf("5000 consecutive ports: %v", err)
	}
	if len(prog) > 60 {
		t.Errorf("5000 consecutive ports took %d instructions; they are one range", len(prog))
	}
	if got := run(t, f, craft(t, layers.LinkTypeEthernet, packetSpec{sport: 40000, dport: 4999})); got == 0 {
		t.Error("port 4999 of the range rejected")
	}
	// 1000 separate ports still fit, and the last ones are reached.
	f.Ports = scattered[:1000]
	if got := run(t, f, craft(t, layers.LinkTypeEthernet, packetSpec{sport: 40000, dport: 1999})); got == 0 {
		t.Error("port 1999, the last of 1000 listed, rejected")
	}
	if got := run(t, f, craft(t, layers.LinkTypeEthernet, packetSpec{sport: 40000, dport: 1998})); got != 0 {
		t.Error("unlisted port 1998 accepted")
	}
	f.Ports = scattered
	if _, err := f.Program(); err == nil || !strings.Contains(err.Error(), "fewer ports") {
		t.Errorf("2500 separate ports: err %v, want a too-long program error", err)
	}
}

func TestFilterInvalid(t *testing.T) {
	for name, f := range map[string]Filter{
		"port 0":      {Link: layers.LinkTypeEthernet, Ports: []int{0}, Snaplen: 100},
		"port 70000":  {Link: layers.LinkTypeEthernet, ExcludePorts: []int{70000}, Snaplen: 100},
		"no snaplen":  {Link: layers.LinkTypeEthernet},
		"token ring?": {Link: layers.LinkTypeTokenRing, Snaplen: 100},
	} {
		if _, err := f.Program(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The packet-type test reads a kernel ancillary field that x/net/bpf's VM
// does not implement, so the live loopback test checks its effect; here
// the program must still assemble for the kernel and start with it.
func TestFilterDropOutgoingAssembles(t *testing.T) {
	prog, err := Filter{Link: layers.LinkTypeEthernet, Ports: []int{80}, Snaplen: 100, DropOutgoing: true}.Program()
	if err != nil {
		t.Fatal(err)
	}
	if ext, ok := prog[0].(bpf.LoadExtension); !ok || ext.Num != bpf.ExtType {
		t.Errorf("first instruction %v, want the packet type load", prog[0])
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Errorf("assembling: %v", err)
	}
}
