package http1

import "bytes"

// Verdict classifies the first bytes of one side of a connection.
type Verdict uint8

const (
	// NeedMore: the bytes so far could start an HTTP/1 message.
	NeedMore Verdict = iota
	// Request: a request line.
	Request
	// Response: a status line.
	Response
	// NotHTTP: no HTTP/1 message starts this way. The HTTP/2 preface is
	// NotHTTP too: callers look for it before asking Sniff.
	NotHTTP
)

func (v Verdict) String() string {
	switch v {
	case NeedMore:
		return "need_more"
	case Request:
		return "request"
	case Response:
		return "response"
	}
	return "not_http"
}

// maxMethod bounds a method name in sniffing; registered methods are at
// most 17 bytes ("BASELINE-CONTROL" is 16).
const maxMethod = 24

// Sniff classifies the first bytes of a side. A known method followed
// by a space (or the end of the line) is taken as a request at once, so
// that long URLs do not delay detection; an unknown method needs a whole
// well-formed request line. A status line needs "HTTP/1.x NNN".
func Sniff(b []byte) Verdict {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if len(b) == 0 {
		return NeedMore
	}
	if v, ok := sniffStatus(b); ok {
		return v
	}
	m := 0
	for m < len(b) && m <= maxMethod && isToken(b[m]) {
		m++
	}
	switch {
	case m > maxMethod:
		return NotHTTP
	case m == len(b):
		return NeedMore
	case m == 0 || b[m] != ' ' && b[m] != '\r' && b[m] != '\n':
		return NotHTTP
	case knownMethod(b[:m]):
		return Request
	}
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		for _, c := range b[m:] {
			if c < ' ' && c != '\r' || c == 0x7f {
				return NotHTTP
			}
		}
		return NeedMore
	}
	if strictRequestLine(b[:j+1], false) {
		return Request
	}
	return NotHTTP
}

// sniffStatus classifies bytes that begin like "HTTP/"; ok is false when
// they do not, and b may still be a request.
func sniffStatus(b []byte) (Verdict, bool) {
	const pfx = "HTTP/1."
	n := min(len(b), len(pfx))
	if string(b[:n]) != pfx[:n] {
		if n >= 5 && string(b[:5]) == "HTTP/" {
			return NotHTTP, true
		}
		return 0, false
	}
	// "HTTP/1.x NNN" and the byte after it.
	const need = 13
	for i := n; i < min(len(b), need); i++ {
		c := b[i]
		ok := false
		switch i {
		case 7:
			ok = c == '0' || c == '1'
		case 8:
			ok = c == ' '
		case 9, 10, 11:
			ok = isDigit(c)
		case 12:
			ok = c == ' ' || c == '\r' || c == '\n'
		}
		if !ok {
			return NotHTTP, true
		}
	}
	if len(b) < need {
		return NeedMore, true
	}
	return Response, true
}
