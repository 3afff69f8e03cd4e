package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A segment file is the magic followed by records, each framed as
//
//	length  uint32 LE   payload length
//	crc     uint32 LE   CRC-32C of time and payload
//	time    int64  LE   unix nanoseconds the record was spooled for
//	payload length bytes
//
// The CRC covers the time so a flipped bit anywhere in a record is caught.
const (
	magic        = "podtapS1"
	headerSize   = int64(len(magic))
	recordHeader = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord frames one record onto dst.
func appendRecord(dst []byte, unixNano int64, payload []byte) []byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], uint64(unixNano))
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// frameSize is the bytes one record takes in a segment.
func frameSize(payload int) int64 { return recordHeader + int64(payload) }

// errTorn marks a record cut short by a crash; errCorrupt one whose bytes
// are wrong. Only the newest segment may legitimately be torn.
var (
	errTorn    = errors.New("torn record")
	errCorrupt = errors.New("corrupt record")
)

// readRecord reads one framed record. It returns io.EOF at a clean end,
// errTorn when the file ends inside the record, and errCorrupt (wrapped
// with the reason) when the frame is invalid; on a checksum mismatch the
// payload is returned too, so the caller knows where the frame ended.
func readRecord(r *bufio.Reader, maxPayload int) (unixNano int64, payload []byte, err error) {
	var h [recordHeader]byte
	_, err = io.ReadFull(r, h[:])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return 0, nil, errTorn
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reading record header: %w", err)
	}
	length := binary.LittleEndian.Uint32(h[0:4])
	if int64(length) > int64(maxPayload) {
		return 0, nil, fmt.Errorf("%w: length %d exceeds the limit %d", errCorrupt, length, maxPayload)
	}
	payload = make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, nil, errTorn
		}
		return 0, nil, fmt.Errorf("reading record payload: %w", err)
	}
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(h[4:8]) {
		return 0, payload, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return int64(binary.LittleEndian.Uint64(h[8:16])), payload, nil
}

// peekTime returns the time of the next record without consuming it.
func peekTime(r *bufio.Reader) (int64, bool) {
	h, err := r.Peek(recordHeader)
	if err != nil {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(h[8:16])), true
}
