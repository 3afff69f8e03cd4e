// Package vxlan is the VXLAN header (RFC 7348): the 8 bytes a VTEP puts in
// front of an Ethernet frame inside a UDP datagram. Cloud traffic mirroring
// (AWS VPC traffic mirroring, GCP packet mirroring) and tunnelling sidecars
// deliver packets this way; the receiver decodes it and the sender encodes it.
package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of a VXLAN header.
const HeaderLen = 8

// Port is the IANA port for VXLAN (RFC 7348 section 5).
const Port = 4789

// MaxVNI is the largest VXLAN network identifier: the VNI is 24 bits.
const MaxVNI = 1<<24 - 1

// flagI is the "I" flag: the VNI is valid. RFC 7348 requires it set.
const flagI = 0x08

// Errors by reason, so that a receiver can count each one. They are
// returned as is (not wrapped), so callers may compare with ==.
var (
	// ErrShort is a datagram shorter than a VXLAN header.
	ErrShort = errors.New("vxlan: datagram shorter than the 8-byte header")
	// ErrNoVNI is a header without the I flag, so without a valid VNI.
	ErrNoVNI = errors.New("vxlan: I flag clear, no valid VNI")
	// ErrReserved is a header whose reserved bits are not zero. RFC 7348
	// says receivers must ignore them, but VXLAN-GPE, GBP and other
	// extensions set them and carry something other than Ethernet.
	ErrReserved = errors.New("vxlan: reserved bits set (not plain VXLAN)")
)

// VNI is a VXLAN network identifier (24 bits).
type VNI uint32

// Valid reports whether v fits in 24 bits.
func (v VNI) Valid() bool { return v <= MaxVNI }

// Decode reads the VXLAN header at the start of a UDP payload and returns
// the VNI and the inner Ethernet frame, which aliases b.
func Decode(b []byte) (VNI, []byte, error) {
	if len(b) < HeaderLen {
		return 0, nil, ErrShort
	}
	if b[0]&flagI == 0 {
		return 0, nil, ErrNoVNI
	}
	if b[0] != flagI || b[1] != 0 || b[2] != 0 || b[3] != 0 || b[7] != 0 {
		return 0, nil, ErrReserved
	}
	vni := VNI(binary.BigEndian.Uint32(b[4:8]) >> 8)
	return vni, b[HeaderLen:], nil
}

// Put writes a VXLAN header for vni into the first HeaderLen bytes of b.
func Put(b []byte, vni VNI) error {
	if !vni.Valid() {
		return fmt.Errorf("vxlan: VNI %d does not fit in 24 bits", vni)
	}
	if len(b) < HeaderLen {
		return ErrShort
	}
	b[0], b[1], b[2], b[3] = flagI, 0, 0, 0
	binary.BigEndian.PutUint32(b[4:8], uint32(vni)<<8)
	return nil
}

// Append appends a VXLAN header for vni and then frame to dst.
func Append(dst []byte, vni VNI, frame []byte) ([]byte, error) {
	if !vni.Valid() {
		return dst, fmt.Errorf("vxlan: VNI %d does not fit in 24 bits", vni)
	}
	n := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	if err := Put(dst[n:], vni); err != nil {
		return dst[:n], err
	}
	return append(dst, frame...), nil
}
