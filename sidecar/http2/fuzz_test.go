package http2

import (
	"testing"

	"golang.org/x/net/http2/hpack"

	"github.com/podtap/podtap/sidecar/message"
)

// FuzzHPACKLateJoin decodes arbitrary blocks with a decoder that joined
// late, after a warm-up of real blocks; it must never panic, and the table
// must stay within its bounds.
func FuzzHPACKLateJoin(f *testing.F) {
	blocks := encodeBlocks(f, [][]hpack.HeaderField{
		{{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/a.B/C"}, {Name: "x-id", Value: "1"}},
		{{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/a.B/C"}, {Name: "x-id", Value: "2"}},
	}, nil)
	for _, b := range blocks {
		f.Add(b, b)
	}
	f.Add([]byte{0x3f, 0xe1, 0x1f}, []byte{0xbe, 0xbf, 0xc0})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		d := newDecoder(true)
		for _, b := range [][]byte{first, second, first} {
			if _, err := d.decode(nil, b); err != nil {
				d.reset(true)
			}
			if d.table.size > d.table.max && d.table.n > 0 {
				t.Fatalf("table holds %d bytes over its max %d", d.table.size, d.table.max)
			}
			if d.table.max > maxTableBytes {
				t.Fatalf("table max %d over the cap", d.table.max)
			}
		}
	})
}

type nopHalves struct{ reqs, resps int }

func (n *nopHalves) Request(*message.Request)   { n.reqs++ }
func (n *nopHalves) Response(*message.Response) { n.resps++ }

// FuzzParser feeds arbitrary bytes to both directions of a connection, cut
// at fuzzed places and with fuzzed gaps: it must never panic, and every
// request handed on must get its response by Close.
func FuzzParser(f *testing.F) {
	w := newWire(f)
	w.headersSplit(true, 1, false, 5, grpcReq("/a.B/C")...)
	w.data(true, 1, true, grpcFrame(f, []byte("hello"), true))
	w.headers(false, 1, false, ":status", "200", "content-type", "application/grpc", "grpc-encoding", "gzip")
	w.dataPadded(false, 1, false, grpcFrame(f, []byte("world"), false), 3)
	w.headers(false, 1, true, "grpc-status", "0")
	client, server := bytesOf(w.segs, true), bytesOf(w.segs, false)
	f.Add(client, server, uint16(7), uint16(0))
	f.Add(client[24:], server[5:], uint16(3), uint16(40))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}, uint16(1), uint16(3))
	f.Fuzz(func(t *testing.T, client, server []byte, step, gapAt uint16) {
		h := &nopHalves{}
		c := NewParser(Options{MaxBodyBytes: 1 << 16, MaxHeaderBytes: 1 << 12, MaxStreams: 8}, h)
		n := int(step%64) + 1
		for i := 0; i < len(client) || i < len(server); i += n {
			if i == int(gapAt) {
				c.Gap(true, int(step%50)-1, t0)
			}
			if i < len(client) {
				c.Feed(true, client[i:min(i+n, len(client))], t0)
			}
			if i < len(server) {
				c.Feed(false, server[i:min(i+n, len(server))], t0)
			}
		}
		c.Close(t0)
		if h.reqs != h.resps {
			t.Fatalf("%d requests handed on, %d responses", h.reqs, h.resps)
		}
		if len(c.streams) != 0 {
			t.Fatalf("%d streams left after Close", len(c.streams))
		}
	})
}
