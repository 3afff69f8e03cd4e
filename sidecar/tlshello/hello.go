package tlshello

import (
	"fmt"
	"strings"
)

// reader walks a ClientHello body; a read past its end sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(b[0])<<8 | int(b[1])
}

// vec8 and vec16 read a vector with a 1- or 2-byte length.
func (r *reader) vec8() []byte  { return r.bytes(r.u8()) }
func (r *reader) vec16() []byte { return r.bytes(r.u16()) }

// parseHello reads the body of a ClientHello (RFC 8446 4.1.2; RFC 5246
// 7.4.1.2 is the same up to the extensions) for its server_name (RFC 6066
// 3) and application_layer_protocol_negotiation (RFC 7301 3.1).
func parseHello(body []byte) (Hello, error) {
	r := &reader{b: body}
	r.bytes(2 + 32) // legacy_version, random
	r.vec8()        // legacy_session_id
	r.vec16()       // cipher_suites
	r.vec8()        // legacy_compression_methods
	if r.bad {
		return Hello{}, fmt.Errorf("%w: truncated before the extensions", ErrMalformed)
	}
	var h Hello
	if len(r.b) == 0 {
		// SSL 3.0-style hellos have no extensions.
		return h, nil
	}
	exts := &reader{b: r.vec16()}
	if r.bad {
		return Hello{}, fmt.Errorf("%w: extensions length", ErrMalformed)
	}
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.vec16()
		if exts.bad {
			return Hello{}, fmt.Errorf("%w: extension framing", ErrMalformed)
		}
		var err error
		switch typ {
		case extServerName:
			h.SNI, err = serverName(data)
		case extALPN:
			h.ALPN, err = alpn(data)
		}
		if err != nil {
			return Hello{}, err
		}
	}
	return h, nil
}

func serverName(data []byte) (string, error) {
	r := &reader{b: data}
	list := &reader{b: r.vec16()}
	for !r.bad && len(list.b) > 0 {
		typ := list.u8()
		name := list.vec16()
		if list.bad {
			break
		}
		if typ != serverNameHost {
			continue
		}
		if len(name) == 0 || len(name) > maxServerNameSize || !hostName(name) {
			return "", fmt.Errorf("%w: server_name is not a host name", ErrMalformed)
		}
		return strings.ToLower(string(name)), nil
	}
	if r.bad || list.bad {
		return "", fmt.Errorf("%w: server_name framing", ErrMalformed)
	}
	return "", nil
}

// hostName accepts the bytes DNS names are made of: a name goes into
// metric labels and logs, where control bytes would do harm.
func hostName(b []byte) bool {
	for _, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

func alpn(data []byte) ([]string, error) {
	r := &reader{b: data}
	list := &reader{b: r.vec16()}
	var out []string
	for !r.bad && len(list.b) > 0 {
		p := list.vec8()
		if list.bad || len(p) == 0 {
			return nil, fmt.Errorf("%w: ALPN framing", ErrMalformed)
		}
		if len(out) < maxALPNProtocols {
			out = append(out, printable(p))
		}
	}
	if r.bad {
		return nil, fmt.Errorf("%w: ALPN framing", ErrMalformed)
	}
	return out, nil
}

// printable keeps a protocol id readable: ids are registered ASCII, but
// any bytes are allowed on the wire.
func printable(p []byte) string {
	for _, c := range p {
		if c < 0x21 || c > 0x7e {
			return fmt.Sprintf("0x%x", p)
		}
	}
	return string(p)
}
