package capture

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/metrics"
)

const (
	// pollInterval bounds how long ReadPacket waits before ErrTimeout, and
	// so how late the reader notices a cancelled context on a quiet link.
	pollInterval = 100 * time.Millisecond
	// blockTimeout is how long the kernel keeps a partly filled block
	// before handing it over: the capture's latency on a quiet link.
	blockTimeout = 20 * time.Millisecond
	// blockHeadroom covers the block descriptor and per-packet TPACKET_V3
	// and sockaddr_ll headers that share a block with the packet.
	blockHeadroom = 512
	minBlockSize  = 64 << 10
	frameSize     = 4096
)

// Live captures one network interface through an AF_PACKET TPACKET_V3
// ring (see ring): the kernel filters (BPF), truncates and batches packets
// into shared memory.
type Live struct {
	ring  *ring
	iface string
	link  layers.LinkType

	mu sync.Mutex
	// reported is the kernel drop count already added to the metric.
	reported uint64
}

var _ Source = (*Live)(nil)

// OpenLive starts capturing the interface name (capture.interface after
// ResolveInterface), keeping TCP on cfg.Ports minus cfg.ExcludePorts, cut to
// cfg.Snaplen, in a ring of cfg.RingBytes. The packet socket belongs to the
// network namespace of the calling thread.
func OpenLive(name string, cfg config.Capture) (*Live, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, noInterfaceError(name)
	}
	link, err := interfaceLinkType(name)
	if err != nil {
		return nil, err
	}
	prog, err := Filter{
		Link:         link,
		Ports:        cfg.Ports,
		ExcludePorts: cfg.ExcludePorts,
		Snaplen:      cfg.Snaplen,
		DropOutgoing: iface.Flags&net.FlagLoopback != 0,
	}.Program()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("capture: assembling the port filter: %w", err)
	}
	block := blockSize(cfg.Snaplen)
	blocks := max(2, int(cfg.RingBytes)/block)
	r, err := openRing(iface.Index, raw, block, blocks, blockTimeout)
	if err != nil {
		return nil, openError(name, err)
	}
	return &Live{ring: r, iface: name, link: link}, nil
}

// ReadPacket returns the next packet, pointing into the ring.
func (l *Live) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ts, length, ok, err := l.ring.read(pollInterval)
	switch {
	case err != nil:
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("capture: reading %s: %w", l.iface, err)
	case !ok:
		return nil, gopacket.CaptureInfo{}, ErrTimeout
	}
	return data, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: length}, nil
}

// LinkType is Ethernet for Ethernet-like and loopback interfaces, raw IP for
// tunnels without a link header.
func (l *Live) LinkType() layers.LinkType { return l.link }

// Live is true: timers run on the wall clock.
func (l *Live) Live() bool { return true }

// Stats reads the kernel's counters and adds new drops to
// metrics.KernelDrops, so polling it keeps the metric current.
func (l *Live) Stats() (Stats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	packets, drops, err := l.ring.statistics()
	if err != nil {
		return Stats{}, fmt.Errorf("capture: reading %s statistics: %w", l.iface, err)
	}
	if drops > l.reported {
		metrics.KernelDrops.Add(float64(drops - l.reported))
		l.reported = drops
	}
	// The kernel's packet count includes the packets it dropped.
	return Stats{Packets: packets, Drops: drops}, nil
}

// Close unmaps the ring and closes the socket.
func (l *Live) Close() error {
	l.ring.close()
	return nil
}

// blockSize is the smallest power of two that holds one packet of snaplen
// bytes with its headers; TPACKET_V3 cannot split a packet across blocks.
// Powers of two from 64 KiB up are multiples of every page size.
func blockSize(snaplen int) int {
	b := minBlockSize
	for b < snaplen+blockHeadroom {
		b <<= 1
	}
	return b
}

// interfaceLinkType asks the kernel for the interface's hardware type
// (SIOCGIFHWADDR), which says what a packet socket's packets start with.
// The ioctl runs in the caller's network namespace, unlike /sys lookups.
func interfaceLinkType(name string) (layers.LinkType, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("capture: inspecting %s: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("capture: inspecting %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("capture: reading the hardware type of %s: %w", name, err)
	}
	switch hw := ifr.Uint16(); hw {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return layers.LinkTypeEthernet, nil
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6:
		return layers.LinkTypeRaw, nil
	default:
		return 0, fmt.Errorf("capture: interface %s has hardware type %d; only Ethernet, loopback and raw-IP interfaces can be captured", name, hw)
	}
}

// noInterfaceError names the interfaces that do exist, since the usual cause
// is a pod whose interface is not eth0.
func noInterfaceError(name string) error {
	var names []string
	if ifaces, err := net.Interfaces(); err == nil {
		for _, i := range ifaces {
			names = append(names, i.Name)
		}
	}
	return fmt.Errorf("capture: no interface %q in this network namespace (it has: %s); set --interface or capture.interface",
		name, strings.Join(names, ", "))
}

// openError explains the usual reason a packet socket is refused.
func openError(name string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("capture: opening a packet socket on %s: %w: the container needs securityContext.capabilities.add: [NET_RAW] (or run as root)", name, err)
	}
	return fmt.Errorf("capture: opening a packet socket on %s: %w", name, err)
}
