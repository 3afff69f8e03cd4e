package flow

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/sidecar/capture"
)

// discard is a Stream that takes every byte and keeps none.
type discard struct{ bytes int }

func (d *discard) Data(_ Side, b []byte, _ time.Time) { d.bytes += len(b) }
func (*discard) Gap(Side, int, time.Time)             {}
func (*discard) Tick(time.Time)                       {}
func (*discard) End(time.Time)                        {}
func (*discard) Ignored() bool                        { return false }

type discards struct{}

func (discards) NewStream(Conn) Stream { return &discard{} }

// benchConn is one generated keep-alive connection.
type benchConn struct {
	client, server netip.AddrPort
	cseq, sseq     uint32
	exchanges      int
	pending        [][]byte // segments of the current exchange, in order
	fromClient     []bool
}

// writeBenchCapture generates conns concurrent keep-alive connections, each
// with exchanges of a small JSON request and a 100 B to 16 KiB response cut
// in 1448-byte segments, the receiver ACKing every second segment. The
// connections' packets interleave as concurrent clients' would.
func writeBenchCapture(b *testing.B, conns, exchanges int) (path string, packets, payload int) {
	b.Helper()
	p := newPcap(b, layers.LinkTypeEthernet)
	rng := newRand(1)
	server := addrPort("10.0.0.1:8080")
	cs := make([]*benchConn, conns)
	ts := t0
	step := func() time.Time { ts = ts.Add(2 * time.Microsecond); return ts }
	for i := range cs {
		c := &benchConn{
			client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), uint16(40000+i)),
			server: server, cseq: 1000, sseq: 90000,
		}
		p.segment(step(), c.client, c.server, c.cseq, 0, "S", nil)
		p.segment(step(), c.server, c.client, c.sseq, c.cseq+1, "SA", nil)
		c.cseq++
		c.sseq++
		cs[i] = c
	}
	req := []byte(`POST /api/orders HTTP/1.1` + "\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n" + `{"item":"book","count":1}` + "\r\n")
	for live := len(cs); live > 0; {
		live = 0
		for _, c := range cs {
			if len(c.pending) == 0 {
				if c.exchanges == exchanges {
					continue
				}
				c.exchanges++
				c.pending = append(c.pending, req)
				c.fromClient = append(c.fromClient, true)
				resp := response(c.exchanges, 100+rng.Intn(16<<10))
				for len(resp) > 0 {
					n := min(1448, len(resp))
					c.pending = append(c.pending, resp[:n])
					c.fromClient = append(c.fromClient, false)
					resp = resp[n:]
				}
			}
			live++
			seg, fromClient := c.pending[0], c.fromClient[0]
			c.pending, c.fromClient = c.pending[1:], c.fromClient[1:]
			payload += len(seg)
			if fromClient {
				p.segment(step(), c.client, c.server, c.cseq, c.sseq, "PA", seg)
				c.cseq += uint32(len(seg))
			} else {
				p.segment(step(), c.server, c.client, c.sseq, c.cseq, "PA", seg)
				c.sseq += uint32(len(seg))
				if len(c.pending)%2 == 0 {
					p.segment(step(), c.client, c.server, c.cseq, c.sseq, "A", nil)
				}
			}
		}
	}
	return p.close(), p.packets, payload
}

// BenchmarkReplay measures capture file reading, decoding, sharding and
// reassembly of a generated capture into Streams that discard the bytes.
func BenchmarkReplay(b *testing.B) {
	path, packets, payload := writeBenchCapture(b, 64, 150)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.Workers = 0
	check := &recorders{}
	replay(b, path, cfg, check)
	delivered := 0
	for _, r := range check.streams() {
		delivered += r.dirs[AtoB].bytes + r.dirs[BtoA].bytes
	}
	if delivered != payload {
		b.Fatalf("delivered %d payload bytes, the capture has %d", delivered, payload)
	}
	b.SetBytes(info.Size())
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		src, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := New(cfg, 1, discards{}).Run(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		src.Close()
	}
	runtime.ReadMemStats(&after)
	total := float64(packets) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/packet")
}
