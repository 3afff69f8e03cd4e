package capture

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ring is an AF_PACKET socket with a TPACKET_V3 receive ring: the kernel
// fills blocks of packets in shared memory and hands each over whole, so
// reading a packet is a pointer into the ring, not a system call.
//
// It waits for a block in Go's network poller, not in a poll(2) of its own
// (as gopacket's afpacket does): a goroutine blocked in a system call keeps
// its thread, has its processor handed to another thread by the runtime's
// monitor, and keeps that monitor waking every 20 µs while it does. With a
// block handed over every millisecond or two at byte-heavy load, that was
// a tenth of the sidecar's CPU and thousands of context switches a second.
type ring struct {
	fd   int
	file *os.File // fd, registered with the network poller
	raw  syscall.RawConn
	mem  []byte
	// blockSize and blocks are the ring's geometry; cur is the block being
	// read, or handed back once read (held false).
	blockSize, blocks, cur int
	held                   bool
	// next is the offset in the current block of the packet after the one
	// last returned; left is how many packets follow it.
	next, left uint32
	// ready is the wait's test, made once: RawConn.Read takes a func.
	ready func(uintptr) bool
	// packets and drops add up the kernel's counters, which it resets at
	// each read.
	packets, drops uint64
}

// Offsets in a block descriptor (struct tpacket_block_desc) of the fields
// of its tpacket_hdr_v1, which starts after the version and to_priv words.
var (
	blockStatusOff = 8 + unsafe.Offsetof(unix.TpacketHdrV1{}.Block_status)
	numPktsOff     = 8 + unsafe.Offsetof(unix.TpacketHdrV1{}.Num_pkts)
	firstPktOff    = 8 + unsafe.Offsetof(unix.TpacketHdrV1{}.Offset_to_first_pkt)
)

// openRing makes a packet socket on the interface with index ifindex whose
// filter applies from its first packet: the socket is made with no
// protocol, so it receives nothing until bound, after the filter and ring.
func openRing(ifindex int, filter []bpf.RawInstruction, blockSize, blocks int, retire time.Duration) (*ring, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	r := &ring{fd: fd, blockSize: blockSize, blocks: blocks}
	if err := r.setUp(ifindex, filter, retire); err != nil {
		r.close()
		return nil, err
	}
	r.ready = func(uintptr) bool { return r.blockReady() }
	return r, nil
}

func (r *ring) setUp(ifindex int, filter []bpf.RawInstruction, retire time.Duration) error {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attaching the port filter: %w", err)
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("asking for TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(r.blockSize),
		Block_nr:       uint32(r.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.blockSize / frameSize * r.blocks),
		Retire_blk_tov: uint32(retire / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("setting up a ring of %d blocks of %d bytes: %w", r.blocks, r.blockSize, err)
	}
	mem, err := unix.Mmap(r.fd, 0, r.blockSize*r.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping the ring: %w", err)
	}
	r.mem = mem
	sll := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(r.fd, &sll); err != nil {
		return fmt.Errorf("binding to the interface: %w", err)
	}
	// The file owns fd from here; it is non-blocking, so os registers it
	// with the network poller.
	r.file = os.NewFile(uintptr(r.fd), "packet socket")
	if r.raw, err = r.file.SyscallConn(); err != nil {
		return err
	}
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("the packet socket cannot wait in the network poller: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *ring) block() unsafe.Pointer {
	return unsafe.Pointer(&r.mem[r.cur*r.blockSize])
}

func (r *ring) word(off uintptr) *uint32 {
	return (*uint32)(unsafe.Add(r.block(), off))
}

// blockReady reports whether the kernel has handed the current block over.
func (r *ring) blockReady() bool {
	return atomic.LoadUint32(r.word(blockStatusOff))&unix.TP_STATUS_USER != 0
}

// read returns the next packet, valid until the next call, and its
// capture time and length on the wire; ok is false when none came within
// wait.
func (r *ring) read(wait time.Duration) (data []byte, ts time.Time, length int, ok bool, err error) {
	for r.left == 0 {
		if r.held {
			// Every packet of the block has been read: hand it back.
			atomic.StoreUint32(r.word(blockStatusOff), unix.TP_STATUS_KERNEL)
			r.held = false
			r.cur = (r.cur + 1) % r.blocks
		}
		if !r.blockReady() {
			if ok, err := r.wait(wait); !ok || err != nil {
				return nil, time.Time{}, 0, false, err
			}
			continue
		}
		r.held = true
		r.left = *r.word(numPktsOff)
		r.next = *r.word(firstPktOff)
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Add(r.block(), r.next))
	start := r.cur*r.blockSize + int(r.next) + int(h.Mac)
	data = r.mem[start : start+int(h.Snaplen) : start+int(h.Snaplen)]
	ts = time.Unix(int64(h.Sec), int64(h.Nsec))
	r.left--
	r.next += h.Next_offset
	return data, ts, int(h.Len), true, nil
}

// wait waits up to d for the current block in the network poller.
func (r *ring) wait(d time.Duration) (bool, error) {
	if err := r.file.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false, err
	}
	switch err := r.raw.Read(r.ready); {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	default:
		return false, err
	}
}

// statistics returns the kernel's counters since the socket was made. The
// kernel counts the dropped packets among the packets.
func (r *ring) statistics() (packets, drops uint64, err error) {
	s, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.packets, r.drops, err
	}
	r.packets += uint64(s.Packets)
	r.drops += uint64(s.Drops)
	return r.packets, r.drops, nil
}

func (r *ring) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.file != nil {
		r.file.Close()
		r.file = nil
	} else if r.fd >= 0 {
		unix.Close(r.fd)
	}
	r.fd = -1
}
