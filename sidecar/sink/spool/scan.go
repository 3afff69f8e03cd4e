package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// scanned is what a segment file holds, as found at recovery.
type scanned struct {
	records int
	end     int64 // offset just past the last good record
	firstTS int64
	// before is the number of records before the cursor offset, or -1
	// when the cursor does not fall on a record boundary.
	before int
	// torn: the file ends in a partial record, to be truncated at end.
	torn bool
	// err: the segment is corrupt; it says where and why.
	err error
}

// scanSegment validates a segment file record by record. Only the newest
// segment can have been cut by a crash: every older one was synced when it
// was sealed. So in the newest segment a short tail, a zeroed tail (a
// filesystem that extended the file before the data reached the disk) or a
// bad checksum on the very last record is a torn write, truncated; anything
// else wrong, in any segment, makes the segment corrupt.
func scanSegment(r io.Reader, size int64, maxPayload int, newest bool, cursor int64) scanned {
	s := scanned{before: -1}
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, headerSize)
	if n, err := io.ReadFull(br, head); err != nil {
		if newest && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			s.torn = true
			return s
		}
		s.err = fmt.Errorf("reading the segment header (%d bytes): %w", n, err)
		return s
	}
	if string(head) != magic {
		if newest && isZero(head) {
			s.torn = true
			return s
		}
		s.err = fmt.Errorf("bad segment header %q", head)
		return s
	}
	off := headerSize
	s.end = off
	for {
		if off == cursor {
			s.before = s.records
		}
		if h, err := br.Peek(recordHeader); err == nil && isZero(h) {
			if newest {
				s.torn = true
				s.end = off
				return s
			}
			s.err = fmt.Errorf("record at offset %d: %w: zeroed header", off, errCorrupt)
			return s
		}
		ts, payload, err := readRecord(br, maxPayload)
		switch {
		case err == nil:
			if s.records == 0 {
				s.firstTS = ts
			}
			s.records++
			off += frameSize(len(payload))
			s.end = off
			continue
		case errors.Is(err, io.EOF):
			return s
		case errors.Is(err, errTorn) && newest:
			s.torn = true
			return s
		case errors.Is(err, errCorrupt) && newest && off+frameSize(len(payload)) >= size && payload != nil:
			s.torn = true
			return s
		case errors.Is(err, errTorn):
			s.err = fmt.Errorf("record at offset %d: %w: truncated in a sealed segment", off, errCorrupt)
		default:
			s.err = fmt.Errorf("record at offset %d: %w", off, err)
		}
		return s
	}
}

func isZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }
