package parse

import (
	"bytes"
	"time"

	"github.com/podtap/podtap/sidecar/http1"
	"github.com/podtap/podtap/sidecar/http2"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/pair"
	"github.com/podtap/podtap/sidecar/tlshello"
)

// detect decides the protocol from the buffered first bytes, or waits for
// more, or gives up on a connection that is not HTTP.
//
// A side that is not HTTP settles nothing alone while the other has
// not spoken: a malformed request line may still be answered by an HTTP
// status line, which makes the connection HTTP (the request a counted
// parse error). It is given up once both sides say no, or once one
// has sent flow.detect_bytes that are not HTTP.
func (s *Stream) detect(ts time.Time) {
	notHTTP, full := 0, false
	for _, dir := range [2]message.Side{message.AtoB, message.BtoA} {
		b := s.pending[dir]
		if len(b) == 0 {
			continue
		}
		switch tlshello.Sniff(b) {
		case tlshello.Yes:
			s.startTLS(dir)
			return
		case tlshello.Maybe:
			continue
		}
		switch http1.Sniff(b) {
		case http1.Request:
			s.start(dir, true, ts)
			return
		case http1.Response:
			s.start(dir.Reverse(), true, ts)
			return
		case http1.NotHTTP:
			switch http2.Sniff(b) {
			case http2.Preface:
				s.start(dir, false, ts)
				return
			case http2.Frames:
				s.start(s.guessClient(), false, ts)
				return
			case http2.NotHTTP2:
				if !s.conn.SawSYN {
					// Joined mid-stream: a message may start further on.
					if at := messageStart(b); at > 0 {
						s.pending[dir] = b[at:]
						s.detect(ts)
						return
					}
				}
				notHTTP++
				full = full || len(b) >= s.f.detectBytes
				continue
			}
		}
		if len(b) >= s.f.detectBytes {
			notHTTP++
			full = true
		}
	}
	if notHTTP == 2 || full {
		s.ignore("ignored")
	}
}

// guessClient picks the client of an HTTP/2 connection joined mid-stream:
// the SYN sender if seen, else the side whose header blocks are requests
// (or whose peer's are responses), else the side with the higher
// (ephemeral) port.
func (s *Stream) guessClient() message.Side {
	if s.conn.SawSYN {
		return message.AtoB
	}
	for _, dir := range [2]message.Side{message.AtoB, message.BtoA} {
		if client, ok := http2.SniffClient(s.pending[dir]); ok {
			if client {
				return dir
			}
			return dir.Reverse()
		}
	}
	if s.conn.A.Port >= s.conn.B.Port {
		return message.AtoB
	}
	return message.BtoA
}

// messageStart finds the first line that starts an HTTP/1 message, or -1.
func messageStart(b []byte) int {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("\r\n"))
		if j < 0 {
			return -1
		}
		i += j + 2
		if i < len(b) {
			if v := http1.Sniff(b[i:]); v == http1.Request || v == http1.Response {
				return i
			}
		}
	}
}

// start creates the parser with clientSide as the client and feeds
// it what detection buffered, the client's bytes first.
func (s *Stream) start(clientSide message.Side, isHTTP1 bool, ts time.Time) {
	s.clientSide = clientSide
	_, server := s.ends()
	if s.pairs != nil {
		// A tunnel's connection pairs afresh; what the outer one still
		// waits for will not come.
		s.pairs.Close()
	}
	s.pairs = s.newMatcher()
	if isHTTP1 {
		s.h1 = http1.NewParser(&s.f.http1, s.pairs)
		s.f.countConn(server, "http1")
	} else {
		s.h2 = http2.NewParser(s.f.http2, s.pairs)
		s.f.countConn(server, "http2")
	}
	var pending [2][]byte
	if s.pending != nil {
		pending = *s.pending
	}
	s.pending = nil
	for _, dir := range [2]message.Side{clientSide, clientSide.Reverse()} {
		b := pending[dir]
		if len(b) == 0 || s.ignored {
			continue
		}
		if isHTTP1 && !s.conn.SawSYN && !startsMessage(b) {
			// A side joined mid-message: let the parser resync.
			s.h1.Gap(dir == clientSide, -1, ts)
		}
		s.feed(dir, b, ts)
	}
}

// ends are the connection's client and server, by clientSide.
func (s *Stream) ends() (client, server message.Endpoint) {
	if s.clientSide == message.BtoA {
		return s.conn.B, s.conn.A
	}
	return s.conn.A, s.conn.B
}

// newMatcher starts pairing the connection, by clientSide.
func (s *Stream) newMatcher() *pair.Matcher {
	client, server := s.ends()
	m := pair.NewMatcher(s.f.pairing, client, server, s.conn.Tunnel)
	m.TLSLibrary = s.conn.TLSLibrary
	return m
}

func startsMessage(b []byte) bool {
	v := http1.Sniff(b)
	return v == http1.Request || v == http1.Response || v == http1.NeedMore
}
