package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// fileBuffer is the read buffer of a capture file: large reads keep the
// replay close to the disk's speed.
const fileBuffer = 1 << 20

// pcapngMagic starts a pcapng Section Header Block, in either byte order.
const pcapngMagic = 0x0a0d0d0a

// Raw-IP link types as some pcap writers store them: DLT_RAW is 12 on most
// systems and 14 on OpenBSD, LINKTYPE_RAW is 101.
const (
	linkTypeRawDLT12 layers.LinkType = 12
	linkTypeRawDLT14 layers.LinkType = 14
)

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// File replays a pcap or pcapng file (gzip-compressed pcap too).
type File struct {
	f       *os.File
	path    string
	r       packetReader
	link    layers.LinkType
	packets uint64
}

var _ Source = (*File)(nil)

// OpenFile opens a capture file. Its link type must be one the flow stage
// decodes: Ethernet, BSD loopback (DLT_NULL, DLT_LOOP), Linux cooked (SLL,
// SLL2) or raw IP (DLT_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6).
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	br := bufio.NewReaderSize(f, fileBuffer)
	r, err := newPacketReader(br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s is not a readable pcap or pcapng file: %w", path, err)
	}
	link := normalizeLinkType(r.LinkType())
	if !SupportedLinkType(link) {
		f.Close()
		return nil, fmt.Errorf("capture: %s has link type %v (%d); supported are Ethernet, BSD loopback, Linux cooked (SLL, SLL2) and raw IP",
			path, r.LinkType(), int(r.LinkType()))
	}
	return &File{f: f, path: path, r: r, link: link}, nil
}

// newPacketReader picks the pcap or pcapng reader by the file's magic.
// pcapgo's readers wrap br in a bufio.Reader of their own, which reuses br
// since it is large enough.
func newPacketReader(br *bufio.Reader) (packetReader, error) {
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading the file header: %w", err)
	}
	if binary.LittleEndian.Uint32(head) == pcapngMagic {
		return pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	}
	return pcapgo.NewReader(br)
}

// normalizeLinkType maps the platform-specific DLT_RAW values to
// LinkTypeRaw.
func normalizeLinkType(l layers.LinkType) layers.LinkType {
	if l == linkTypeRawDLT12 || l == linkTypeRawDLT14 {
		return layers.LinkTypeRaw
	}
	return l
}

// SupportedLinkType reports whether packets of link type l can be decoded.
func SupportedLinkType(l layers.LinkType) bool {
	switch l {
	case layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop,
		layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return true
	}
	return false
}

// ReadPacket returns the next packet; data is reused by the next call. A
// file cut short inside its last record (a capture that was killed) ends
// like a complete one, with a warning.
func (f *File) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := f.r.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		f.packets++
		return data, ci, nil
	case errors.Is(err, io.EOF):
		return nil, ci, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		slog.Warn("capture file ends inside a packet record; treating it as the end", "file", f.path, "packets", f.packets)
		return nil, ci, io.EOF
	default:
		return nil, ci, fmt.Errorf("capture: reading %s after %d packets: %w", f.path, f.packets, err)
	}
}

// LinkType is the file's link type (the first interface's, for pcapng).
func (f *File) LinkType() layers.LinkType { return f.link }

// Live is false: timers run on packet time.
func (f *File) Live() bool { return false }

// Stats counts the packets read; a file has no drops.
func (f *File) Stats() (Stats, error) { return Stats{Packets: f.packets}, nil }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
