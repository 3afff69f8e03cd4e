// Package capture is where packets come from: a live interface through
// AF_PACKET (TPACKET_V3) with a kernel BPF port filter, or a pcap/pcapng
// file for replay. It is pure Go, so the sidecar image is a static binary.
package capture

import (
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Source is a stream of packets. One goroutine reads it; Stats may be called
// from the same goroutine between reads.
type Source interface {
	// ReadPacket returns the next packet. data belongs to the source and is
	// valid only until the next call. A file returns io.EOF at its end; a
	// live source returns ErrTimeout when no packet came within its poll
	// interval, so that the reader can look at its clock and context.
	ReadPacket() (data []byte, ci gopacket.CaptureInfo, err error)
	// LinkType is the link layer every packet starts with.
	LinkType() layers.LinkType
	// Live reports a live source: its timers run on the wall clock, while a
	// file's run on packet time.
	Live() bool
	// Stats returns the packets seen and lost so far.
	Stats() (Stats, error)
	// Close releases the source; it must not race with ReadPacket.
	Close() error
}

// Stats counts a source's packets.
type Stats struct {
	// Packets is the number of packets the source delivered.
	Packets uint64
	// Drops is the number of packets the kernel dropped because the ring
	// was full (always 0 for files).
	Drops uint64
}

// ErrTimeout is returned by a live source's ReadPacket when no packet came
// within its poll interval. It is not a failure.
var ErrTimeout = errors.New("capture: no packet within the poll interval")
