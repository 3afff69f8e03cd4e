package http1

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/podtap/podtap/sidecar/message"
)

// field locates one header field inside a copied header block.
type field struct {
	name0, name1, val0, val1 int32
	// fold marks an obsolete continuation line, appended to the previous
	// field's value.
	fold bool
}

// block is a header block (or trailer section) copied out of the input.
// Every string of the message (method, path, header names and values)
// is a substring of str, so one allocation holds them all.
type block struct {
	str       string
	first     string // the start line without its line ending
	fields    message.Headers
	malformed bool // a line was neither a field nor a continuation
}

// Room a message keeps for its header block inside its own allocation:
// enough for the requests and responses of typical APIs.
const (
	storeText   = 320
	storeFields = 10
)

// headStore is room for a header block's text and fields that is
// allocated with the message the block belongs to (see newRequest), so
// that a typical message costs one allocation instead of three. Its text
// becomes the message's strings, so it is never written again.
type headStore struct {
	text   [storeText]byte
	fields [storeFields]message.Header
}

// parseBlock copies raw, lower-cases the field names in the copy, and
// returns it as a block. withStart says whether the first line is a start
// line. raw ends with the blank line that closes the block. The copy and
// the fields go to store when they fit (store may be nil).
func parseBlock(raw []byte, withStart bool, store *headStore) block {
	var buf []byte
	if store != nil && len(raw) <= len(store.text) {
		buf = store.text[:len(raw)]
	} else {
		buf = make([]byte, len(raw))
	}
	copy(buf, raw)
	var b block
	i := 0
	first0, first1 := 0, 0
	if withStart {
		j := bytes.IndexByte(buf, '\n')
		if j < 0 {
			j = len(buf)
		}
		first1 = len(trimEOL(buf[:j]))
		i = min(j+1, len(buf))
	}
	// The field offsets live on the stack: a block of up to len(offsets)
	// fields costs no allocation, on a new connection's first message too.
	var offsets [32]field
	fs := offsets[:0]
	for i < len(buf) {
		end, next := len(buf), len(buf)
		if j := bytes.IndexByte(buf[i:], '\n'); j >= 0 {
			end, next = i+j, i+j+1
		}
		if end > i && buf[end-1] == '\r' {
			end--
		}
		if end == i {
			break
		}
		if f, ok := splitField(buf, i, end); ok {
			fs = append(fs, f)
		} else {
			b.malformed = true
		}
		i = next
	}
	// The buffer is never written again once it becomes a string, which
	// is what makes the zero-copy conversion sound.
	b.str = unsafe.String(unsafe.SliceData(buf), len(buf))
	b.first = b.str[first0:first1]
	switch {
	case len(fs) == 0:
	case store != nil && len(fs) <= len(store.fields):
		b.fields = store.fields[:0:len(fs)]
	default:
		b.fields = make(message.Headers, 0, len(fs))
	}
	for _, f := range fs {
		v := b.str[f.val0:f.val1]
		if f.fold {
			if n := len(b.fields); n > 0 {
				if prev := &b.fields[n-1]; prev.Value == "" {
					prev.Value = v
				} else if v != "" {
					prev.Value = prev.Value + " " + v
				}
			}
			continue
		}
		b.fields = append(b.fields, message.Header{Name: b.str[f.name0:f.name1], Value: v})
	}
	return b
}

// splitField finds the name and value of the field line buf[i:end],
// lower-casing the name in place.
func splitField(buf []byte, i, end int) (field, bool) {
	if c := buf[i]; c == ' ' || c == '\t' {
		v0, v1 := trimOWS(buf, i, end)
		return field{val0: int32(v0), val1: int32(v1), fold: true}, true
	}
	k := i
	for ; k < end; k++ {
		l := lowerToken[buf[k]]
		if l == 0 {
			break
		}
		buf[k] = l
	}
	n1 := k
	// Whitespace between name and colon is invalid, but some clients send
	// it; the name is still unambiguous.
	for k < end && (buf[k] == ' ' || buf[k] == '\t') {
		k++
	}
	if n1 == i || k == end || buf[k] != ':' {
		return field{}, false
	}
	v0, v1 := trimOWS(buf, k+1, end)
	return field{name0: int32(i), name1: int32(n1), val0: int32(v0), val1: int32(v1)}, true
}

func trimOWS(b []byte, i, j int) (int, int) {
	for i < j && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t') {
		j--
	}
	return i, j
}

// framing is what the headers say about the message's body and its
// connection.
type framing struct {
	contentType string
	encoding    string // content codings (then non-chunked transfer codings) to undo
	host        string
	upgrade     string
	length      int64 // Content-Length; -1 when absent
	chunked     bool  // Transfer-Encoding ends with chunked
	hasTE       bool
	badLength   bool // unparsable or conflicting Content-Length
}

func readFraming(h message.Headers) framing {
	f := framing{length: -1}
	var te string
	for i := range h {
		name, v := h[i].Name, h[i].Value
		switch name {
		case "content-length":
			n, ok := parseLength(v)
			if !ok || (f.length >= 0 && n != f.length) {
				f.badLength = true
			}
			f.length = n
		case "transfer-encoding":
			te = joinList(te, v)
			f.hasTE = true
		case "content-encoding":
			f.encoding = joinList(f.encoding, v)
		case "content-type":
			if f.contentType == "" {
				f.contentType = v
			}
		case "host":
			if f.host == "" {
				f.host = v
			}
		case "upgrade":
			f.upgrade = joinList(f.upgrade, v)
		}
	}
	if f.hasTE {
		last := te
		rest := ""
		if i := strings.LastIndexByte(te, ','); i >= 0 {
			last, rest = te[i+1:], te[:i]
		}
		if strings.EqualFold(trimOWSString(last), "chunked") {
			f.chunked = true
			te = rest
		}
		f.encoding = joinList(f.encoding, te)
	}
	return f
}

func joinList(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	}
	return a + ", " + b
}

// parseLength reads a Content-Length value. A list of equal values ("5, 5",
// from proxies that merge header lines) is one length.
func parseLength(v string) (int64, bool) {
	n := int64(-1)
	for v != "" {
		e := v
		if i := strings.IndexByte(v, ','); i >= 0 {
			e, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		e = trimOWSString(e)
		// 18 digits cannot overflow an int64.
		if e == "" || len(e) > 18 {
			return -1, false
		}
		var m int64
		for i := 0; i < len(e); i++ {
			if !isDigit(e[i]) {
				return -1, false
			}
			m = m*10 + int64(e[i]-'0')
		}
		if n >= 0 && m != n {
			return -1, false
		}
		n = m
	}
	return n, n >= 0
}

// hasToken reports whether the comma-separated list v holds tok,
// ignoring case (Upgrade: h2c, Connection: upgrade).
func hasToken(v, tok string) bool {
	for e := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(trimOWSString(e), tok) {
			return true
		}
	}
	return false
}
