package http2

import "encoding/binary"

// Frame types (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// SETTINGS identifiers this parser needs.
const (
	settingHeaderTableSize = 0x1
	settingMaxFrameSize    = 0x5
)

const (
	frameHeaderLen = 9
	// defaultMaxFrame is SETTINGS_MAX_FRAME_SIZE's initial value.
	defaultMaxFrame = 1 << 14
	// maxFrameLimit is the largest SETTINGS_MAX_FRAME_SIZE allowed.
	maxFrameLimit = 1<<24 - 1
)

// preface is the client connection preface (RFC 9113 §3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

type frameHeader struct {
	length uint32
	typ    uint8
	flags  uint8
	stream uint32
	// reserved is the stream identifier's reserved bit.
	reserved bool
}

func parseFrameHeader(b []byte) frameHeader {
	sid := binary.BigEndian.Uint32(b[5:9])
	return frameHeader{
		length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:      b[3],
		flags:    b[4],
		stream:   sid & 0x7fffffff,
		reserved: sid&0x80000000 != 0,
	}
}

// knownFlags are the flags each frame type defines.
var knownFlags = [...]uint8{
	frameData:         flagEndStream | flagPadded,
	frameHeaders:      flagEndStream | flagEndHeaders | flagPadded | flagPriority,
	framePriority:     0,
	frameRSTStream:    0,
	frameSettings:     flagAck,
	framePushPromise:  flagEndHeaders | flagPadded,
	framePing:         flagAck,
	frameGoAway:       0,
	frameWindowUpdate: 0,
	frameContinuation: flagEndHeaders,
}

// valid reports whether the header obeys the rules of its type that a
// receiver treats as connection errors: the stream-zero rules and the fixed
// payload lengths. Unknown types are valid (they are ignored), as long as
// the length fits maxLen.
func (h frameHeader) valid(maxLen uint32) bool {
	if h.length > maxLen {
		return false
	}
	if int(h.typ) >= len(knownFlags) {
		return true
	}
	zero := h.stream == 0
	switch h.typ {
	case frameData, frameHeaders, frameContinuation:
		return !zero
	case framePriority:
		return !zero && h.length == 5
	case frameRSTStream:
		return !zero && h.length == 4
	case frameSettings:
		return zero && h.length%6 == 0 && (h.flags&flagAck == 0 || h.length == 0)
	case framePushPromise:
		return !zero && h.length >= 4
	case framePing:
		return zero && h.length == 8
	case frameGoAway:
		return zero && h.length >= 8
	case frameWindowUpdate:
		return h.length == 4
	}
	return true
}

// plausible is the strict test used to find frame boundaries in bytes of
// unknown alignment: valid, a known type, only defined flags, the reserved
// bit clear, and room for the padding and priority fields the flags
// announce. Real senders satisfy it; random bytes rarely do.
func (h frameHeader) plausible(maxLen uint32) bool {
	if int(h.typ) >= len(knownFlags) || h.reserved || h.flags&^knownFlags[h.typ] != 0 || !h.valid(maxLen) {
		return false
	}
	need := uint32(0)
	if h.flags&flagPadded != 0 && (h.typ == frameData || h.typ == frameHeaders || h.typ == framePushPromise) {
		need++
	}
	if h.typ == frameHeaders && h.flags&flagPriority != 0 {
		need += 5
	}
	return h.length >= need
}
