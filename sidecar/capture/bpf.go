package capture

import (
	"fmt"
	"slices"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Filter describes the packets the kernel hands to a live capture.
type Filter struct {
	// Link is the link layer of the interface: LinkTypeEthernet (also
	// loopback, which carries a zeroed Ethernet header) or LinkTypeRaw.
	Link layers.LinkType
	// Ports keeps TCP segments whose source or destination port is listed;
	// empty keeps every TCP segment.
	Ports []int
	// ExcludePorts drops TCP segments with either port listed; it wins over
	// Ports.
	ExcludePorts []int
	// Snaplen is the number of bytes kept of an accepted packet.
	Snaplen int
	// DropOutgoing drops packets the host sends. On loopback every packet
	// is seen twice, once leaving (PACKET_OUTGOING) and once arriving
	// (PACKET_HOST); keeping only the arrival halves the work and never
	// shows reassembly a duplicate.
	DropOutgoing bool
}

// Offsets and values of the headers the program reads.
const (
	etherTypeOff   = 12
	etherHdrLen    = 14
	vlanHdrLen     = 4
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	ipProtoTCP     = 6
	ipv4ProtoOff   = 9
	ipv4FragOff    = 6
	ipv4FragMask   = 0x1fff
	ipv6NextHdrOff = 6
	ipv6HdrLen     = 40
	packetOutgoing = 4 // sll_pkttype PACKET_OUTGOING
	maxInstrs      = 4096
)

// Program compiles the filter to classic BPF. The kernel runs it on every
// packet before it is copied to the ring, so excluded traffic costs nothing
// in user space. It keeps TCP over IPv4 and IPv6, under at most one VLAN
// tag, and drops non-first IPv4 fragments, which carry no ports. The verdict
// of an accepted packet is Snaplen, so the kernel also truncates it.
//
// Every instruction except the DropOutgoing prefix runs in x/net/bpf's VM,
// which is how the tests check the program.
func (f Filter) Program() ([]bpf.Instruction, error) {
	if f.Snaplen <= 0 {
		return nil, fmt.Errorf("capture: filter snaplen %d must be positive", f.Snaplen)
	}
	for _, p := range append(slices.Clone(f.Ports), f.ExcludePorts...) {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("capture: filter port %d is not a TCP port (1-65535)", p)
		}
	}
	a := &assembler{labels: map[string]int{}}
	accept := bpf.RetConstant{Val: uint32(f.Snaplen)}
	reject := bpf.RetConstant{Val: 0}

	if f.DropOutgoing {
		a.emit(bpf.LoadExtension{Num: bpf.ExtType})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1})
		a.emit(reject)
	}

	// X holds the offset of the network header from here on.
	switch f.Link {
	case layers.LinkTypeEthernet:
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: etherHdrLen})
		a.emit(bpf.LoadAbsolute{Off: etherTypeOff, Size: 2})
		a.jumpIf(bpf.JumpEqual, etherTypeVLAN, "vlan", "")
		a.jumpIf(bpf.JumpEqual, etherTypeQinQ, "vlan", "ethertype")
		a.label("vlan")
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: etherHdrLen + vlanHdrLen})
		a.emit(bpf.LoadAbsolute{Off: etherTypeOff + vlanHdrLen, Size: 2})
		a.label("ethertype")
		a.jumpIf(bpf.JumpEqual, etherTypeIPv4, "ipv4", "")
		a.jumpIf(bpf.JumpEqual, etherTypeIPv6, "ipv6", "reject")
	case layers.LinkTypeRaw:
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		a.jumpIf(bpf.JumpEqual, 4, "ipv4", "")
		a.jumpIf(bpf.JumpEqual, 6, "ipv6", "reject")
	default:
		return nil, fmt.Errorf("capture: no port filter for link type %v", f.Link)
	}

	a.label("ipv4")
	a.emit(bpf.LoadIndirect{Off: ipv4ProtoOff, Size: 1})
	a.jumpIf(bpf.JumpEqual, ipProtoTCP, "", "reject")
	a.emit(bpf.LoadIndirect{Off: ipv4FragOff, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, ipv4FragMask, "reject", "")
	// X += IHL*4: the TCP header follows the IPv4 options.
	a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.emit(bpf.TAX{})
	a.jump("ports")

	// IPv6 extension headers are not followed: TCP is the next header of
	// the fixed header in practice, and a filter cannot loop.
	a.label("ipv6")
	a.emit(bpf.LoadIndirect{Off: ipv6NextHdrOff, Size: 1})
	a.jumpIf(bpf.JumpEqual, ipProtoTCP, "", "reject")
	a.emit(bpf.TXA{})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: ipv6HdrLen})
	a.emit(bpf.TAX{})
	a.jump("ports")

	// The shared reject sits before the port tests, which may be long, so
	// that the header tests reach it within a jump's 255 instructions.
	a.label("reject")
	a.emit(reject)

	a.label("ports")
	exclude := portRanges(f.ExcludePorts)
	include := portRanges(f.Ports)
	a.emit(bpf.LoadIndirect{Off: 0, Size: 2})
	a.matchRanges(exclude, reject)
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	a.emit(bpf.LoadIndirect{Off: 2, Size: 2})
	a.matchRanges(exclude, reject)
	if len(include) == 0 {
		a.emit(accept)
	} else {
		a.matchRanges(include, accept)
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		a.matchRanges(include, accept)
		a.emit(reject)
	}
	prog, err := a.resolve()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInstrs {
		return nil, fmt.Errorf("capture: port filter needs %d BPF instructions, more than the kernel's %d: list fewer ports or use ranges of consecutive ports", len(prog), maxInstrs)
	}
	return prog, nil
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint32 }

// portRanges merges ports into sorted ranges, so that a list such as
// 8000-8099 costs three instructions instead of two hundred.
func portRanges(ports []int) []portRange {
	sorted := slices.Clone(ports)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out []portRange
	for _, p := range sorted {
		if n := len(out); n > 0 && out[n-1].hi+1 == uint32(p) {
			out[n-1].hi = uint32(p)
			continue
		}
		out = append(out, portRange{uint32(p), uint32(p)})
	}
	return out
}

// matchRanges returns verdict when A lies in one of the ranges. Each test is
// followed by its own return, so no jump is longer than two instructions
// whatever the number of ports (classic BPF jumps reach 255 at most).
func (a *assembler) matchRanges(ranges []portRange, verdict bpf.RetConstant) {
	for _, r := range ranges {
		if r.lo == r.hi {
			a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.lo, SkipTrue: 0, SkipFalse: 1})
		} else {
			a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: r.lo, SkipTrue: 0, SkipFalse: 2})
			a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: r.hi, SkipTrue: 1, SkipFalse: 0})
		}
		a.emit(verdict)
	}
}

// assembler lays out a program with forward jumps to named labels.
type assembler struct {
	prog   []bpf.Instruction
	labels map[string]int
	fixups []fixup
}

// fixup is a jump whose targets are labels ("" is the next instruction).
type fixup struct {
	at              int
	ifTrue, ifFalse string
}

func (a *assembler) emit(ins bpf.Instruction) { a.prog = append(a.prog, ins) }

func (a *assembler) label(name string) { a.labels[name] = len(a.prog) }

func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), ifTrue: ifTrue, ifFalse: ifFalse})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *assembler) jump(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), ifTrue: to})
	a.emit(bpf.Jump{})
}

// resolve turns labels into relative skips.
func (a *assembler) resolve() ([]bpf.Instruction, error) {
	skip := func(from int, to string) (uint32, error) {
		if to == "" {
			return 0, nil
		}
		target, ok := a.labels[to]
		if !ok || target <= from {
			return 0, fmt.Errorf("capture: BPF label %q is not ahead of instruction %d", to, from)
		}
		return uint32(target - from - 1), nil
	}
	for _, f := range a.fixups {
		t, err := skip(f.at, f.ifTrue)
		if err != nil {
			return nil, err
		}
		switch ins := a.prog[f.at].(type) {
		case bpf.Jump:
			ins.Skip = t
			a.prog[f.at] = ins
		case bpf.JumpIf:
			fl, err := skip(f.at, f.ifFalse)
			if err != nil {
				return nil, err
			}
			if t > 255 || fl > 255 {
				return nil, fmt.Errorf("capture: BPF jump at %d is too long", f.at)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(fl)
			a.prog[f.at] = ins
		}
	}
	return a.prog, nil
}
