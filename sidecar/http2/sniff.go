package http2

import (
	"bytes"
	"strings"
)

// Verdict is what Sniff makes of the first bytes of one side.
type Verdict uint8

const (
	// NeedMore: the bytes so far fit HTTP/2 but do not prove it.
	NeedMore Verdict = iota
	// NotHTTP2: the bytes are not HTTP/2.
	NotHTTP2
	// Preface: the bytes start with the client connection preface, so
	// this side is the client's.
	Preface
	// Frames: a run of well-formed frames, as a capture that started
	// mid-connection sees.
	Frames
)

func (v Verdict) String() string {
	switch v {
	case NeedMore:
		return "need_more"
	case NotHTTP2:
		return "not_http2"
	case Preface:
		return "preface"
	case Frames:
		return "frames"
	}
	return "unknown"
}

// sniffLimit is how many bytes always hold a frame boundary followed by a
// second header if the bytes are HTTP/2: a largest default frame, wherever
// it started, plus the next header.
const sniffLimit = 2*(frameHeaderLen+defaultMaxFrame) + frameHeaderLen

// Sniff classifies the first bytes of one side of a connection. A
// capture that starts mid-connection may start mid-frame, so the frames
// are searched for at every offset: two consecutive plausible frame
// headers prove HTTP/2.
func Sniff(b []byte) Verdict {
	if len(b) < len(preface) && bytes.HasPrefix([]byte(preface), b) {
		return NeedMore
	}
	if bytes.HasPrefix(b, []byte(preface)) {
		return Preface
	}
	if _, ok := findBoundary(b, defaultMaxFrame, false); ok {
		return Frames
	}
	if n, _ := chain(b, defaultMaxFrame); n == 1 {
		// One good header and its frame still arriving.
		return NeedMore
	}
	if looksLikeText(b) || isTLSRecord(b) || len(b) >= sniffLimit {
		return NotHTTP2
	}
	return NeedMore
}

// chain follows consecutive plausible frame headers from the start of b,
// stopping at the first implausible one or at the end of b. It returns
// how many it found and where the frame after the last of them starts
// (past the end of b when that frame is still arriving).
func chain(b []byte, maxLen uint32) (n, end int) {
	for end+frameHeaderLen <= len(b) {
		h := parseFrameHeader(b[end:])
		if !h.plausible(maxLen) {
			return n, end
		}
		n++
		end += frameHeaderLen + int(h.length)
	}
	return n, end
}

// findBoundary returns the first offset where a frame header that is
// followed by a second one starts. With atEnd, a header whose frame ends
// exactly at the end of b also counts when it starts at offset 0: reads
// often end on frame boundaries, and resynchronising at once beats waiting
// for more bytes. Without a boundary, found is false and at is the first
// offset that may still become one: a candidate whose frame runs past the
// end of b (more bytes may prove it), or the last bytes that could start a
// header. A proven boundary wins over an earlier unproven candidate: a
// random plausible header is far likelier than a random pair of them.
func findBoundary(b []byte, maxLen uint32, atEnd bool) (at int, found bool) {
	pending := -1
	for p := 0; p+frameHeaderLen <= len(b); p++ {
		if b[p] != 0 && maxLen <= 0xffff {
			// A frame no longer than 64 KiB has a zero top length byte.
			continue
		}
		h := parseFrameHeader(b[p:])
		if !h.plausible(maxLen) {
			continue
		}
		next := p + frameHeaderLen + int(h.length)
		switch {
		case next+frameHeaderLen <= len(b):
			if parseFrameHeader(b[next:]).plausible(maxLen) {
				return p, true
			}
		case next == len(b) && p == 0 && atEnd:
			return p, true
		case pending < 0:
			pending = p
		}
	}
	if pending >= 0 {
		return pending, false
	}
	return max(0, len(b)-frameHeaderLen+1), false
}

// looksLikeText reports printable ASCII at the start of b: HTTP/1 and
// other text protocols, which a frame header never starts with.
func looksLikeText(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	for _, c := range b[:4] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// isTLSRecord reports a TLS record header: plaintext HTTP/2 cannot be
// read from inside TLS, so such a connection is not ours.
func isTLSRecord(b []byte) bool {
	return len(b) >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04
}

// SniffClient tells from the frames of one side whether it is the
// HTTP client's. A header block starts with its pseudo-headers, and HPACK
// names them by static index, so even mid-connection the first field of a
// HEADERS frame says request (:method, :path, :scheme, :authority) or
// response (:status); a PUSH_PROMISE comes only from servers. ok is false
// while b holds no frame that says.
func SniffClient(b []byte) (client, ok bool) {
	if bytes.HasPrefix(b, []byte(preface)) {
		return true, true
	}
	p, found := findBoundary(b, defaultMaxFrame, true)
	if !found {
		return false, false
	}
	for p+frameHeaderLen <= len(b) {
		h := parseFrameHeader(b[p:])
		if !h.plausible(defaultMaxFrame) {
			return false, false
		}
		payload := b[p+frameHeaderLen : min(len(b), p+frameHeaderLen+int(h.length))]
		switch h.typ {
		case framePushPromise:
			return false, true
		case frameHeaders:
			if client, ok := requestBlock(h, payload); ok {
				return client, true
			}
		}
		p += frameHeaderLen + int(h.length)
	}
	return false, false
}

// requestBlock reads the first field of a HEADERS frame's block, whose
// payload may be cut short, and reports whether it belongs to a request.
func requestBlock(h frameHeader, p []byte) (request, ok bool) {
	if h.flags&flagPadded != 0 {
		if len(p) < 1 {
			return false, false
		}
		p = p[1:]
	}
	if h.flags&flagPriority != 0 {
		if len(p) < 5 {
			return false, false
		}
		p = p[5:]
	}
	for len(p) > 0 {
		var idx uint64
		var err error
		switch b := p[0]; {
		case b&0xe0 == 0x20:
			if _, p, err = readInt(p, 5); err != nil {
				return false, false
			}
			continue
		case b&0x80 != 0:
			idx, p, err = readInt(p, 7)
		case b&0xc0 == 0x40:
			idx, p, err = readInt(p, 6)
		default:
			idx, p, err = readInt(p, 4)
		}
		if err != nil {
			return false, false
		}
		name := ""
		switch {
		case idx >= 1 && idx <= uint64(len(staticTable)):
			name = staticTable[idx-1].Name
		case idx == 0:
			if name, _, err = readString(p); err != nil {
				return false, false
			}
		}
		switch {
		case name == ":status":
			return false, true
		case strings.HasPrefix(name, ":"):
			return true, true
		}
		return false, false
	}
	return false, false
}
