// Package tlshello reads the SNI and ALPN of a TLS ClientHello from the
// first bytes a client sends. It is fed the client's bytes as captured, in
// slices of any size, and holds at most one handshake message, bounded:
// podtap cannot decrypt such a connection, but can say to whom it went.
package tlshello

import "errors"

// DefaultMaxBytes bounds the handshake message a Parser keeps. ClientHellos
// are a few hundred bytes, up to about 2 KiB with post-quantum key shares;
// 16 KiB, one full TLS record, leaves room for the largest in use.
const DefaultMaxBytes = 16 << 10

// Status is what a Parser knows so far.
type Status int

const (
	// NeedMore means the ClientHello is not complete yet.
	NeedMore Status = iota
	// Done means the ClientHello was read; Hello returns it.
	Done
	// Failed means the bytes are not a ClientHello, or one over the
	// bound; Err says which.
	Failed
)

// Errors a Parser fails with.
var (
	ErrNotTLS    = errors.New("tlshello: not a TLS handshake record")
	ErrNotHello  = errors.New("tlshello: first handshake message is not a ClientHello")
	ErrTooLarge  = errors.New("tlshello: ClientHello larger than the bound")
	ErrMalformed = errors.New("tlshello: malformed ClientHello")
)

// Hello is what a ClientHello says about where the client is going.
type Hello struct {
	// SNI is the server_name extension's host name; empty without one.
	SNI string
	// ALPN lists the protocols the client offers, in its order.
	ALPN []string
}

// Parser is one client's state. The zero value is not ready; use New.
//
// It reads TLS records (a 5-byte header, then the body) and gathers
// the handshake bytes they carry, since a ClientHello may be split over
// records as well as over TCP segments, until the first handshake
// message is whole.
type Parser struct {
	max    int
	status Status
	err    error
	hello  Hello
	// hdr gathers a record header split across slices.
	hdr  [5]byte
	nhdr int
	// left is what remains of the current record's body.
	left int
	// msg gathers the handshake message: its 4-byte header, then body.
	msg []byte
}

// New returns a parser that keeps at most maxBytes of the handshake
// message (DefaultMaxBytes when maxBytes <= 0).
func New(maxBytes int) *Parser {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Parser{max: maxBytes}
}

// Status reports what the parser knows.
func (p *Parser) Status() Status { return p.status }

// Err is why the parser failed; nil unless Status is Failed.
func (p *Parser) Err() error { return p.err }

// Hello is the ClientHello read; valid once Status is Done.
func (p *Parser) Hello() Hello { return p.hello }

// Feed takes the client's next bytes and reports the status. Once Done or
// Failed, further bytes are ignored.
func (p *Parser) Feed(b []byte) Status {
	for len(b) > 0 && p.status == NeedMore {
		if p.left == 0 {
			n := copy(p.hdr[p.nhdr:], b)
			p.nhdr += n
			b = b[n:]
			if p.nhdr < len(p.hdr) {
				if !plausibleHeader(p.hdr[:p.nhdr]) {
					p.fail(ErrNotTLS)
				}
				break
			}
			p.nhdr = 0
			if !plausibleHeader(p.hdr[:]) {
				p.fail(ErrNotTLS)
				break
			}
			p.left = int(p.hdr[3])<<8 | int(p.hdr[4])
			if p.left == 0 {
				p.fail(ErrMalformed)
			}
			continue
		}
		n := min(p.left, len(b))
		p.take(b[:n])
		p.left -= n
		b = b[n:]
	}
	return p.status
}

// plausibleHeader checks a (perhaps partial) record header: a handshake
// record of SSL 3.0 to TLS 1.3 framing, no longer than TLS allows
// (2^14 plus the expansion earlier versions permit).
func plausibleHeader(h []byte) bool {
	switch {
	case len(h) >= 1 && h[0] != recordHandshake:
		return false
	case len(h) >= 2 && h[1] != 3:
		return false
	case len(h) >= 3 && h[2] > 4:
		return false
	case len(h) >= 5 && int(h[3])<<8|int(h[4]) > 1<<14+2048:
		return false
	}
	return true
}

const (
	recordHandshake   = 22
	typeClientHello   = 1
	handshakeHeader   = 4
	extServerName     = 0
	extALPN           = 16
	serverNameHost    = 0
	maxALPNProtocols  = 16
	maxServerNameSize = 255
)

// take adds record body bytes to the handshake message, no more than it
// still needs, and parses it once whole.
func (p *Parser) take(b []byte) {
	if len(p.msg) < handshakeHeader {
		n := min(len(b), handshakeHeader-len(p.msg))
		p.msg = append(p.msg, b[:n]...)
		b = b[n:]
		if p.msg[0] != typeClientHello {
			p.fail(ErrNotHello)
			return
		}
		if len(p.msg) < handshakeHeader {
			return
		}
	}
	size := int(p.msg[1])<<16 | int(p.msg[2])<<8 | int(p.msg[3])
	if size > p.max {
		p.fail(ErrTooLarge)
		return
	}
	p.msg = append(p.msg, b[:min(len(b), handshakeHeader+size-len(p.msg))]...)
	if len(p.msg) < handshakeHeader+size {
		return
	}
	hello, err := parseHello(p.msg[handshakeHeader:])
	p.msg = nil
	if err != nil {
		p.fail(err)
		return
	}
	p.hello, p.status = hello, Done
}

func (p *Parser) fail(err error) {
	p.status, p.err, p.msg = Failed, err, nil
}
