package flow

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/internal/pcapgen"
)

// pcapBuilder writes a capture file with pcapgen, failing the test on
// error.
type pcapBuilder struct {
	t       testing.TB
	path    string
	f       *os.File
	w       *pcapgen.Writer
	packets int
}

func newPcap(t testing.TB, link layers.LinkType) *pcapBuilder {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgen.NewWriter(f, link)
	if err != nil {
		t.Fatal(err)
	}
	return &pcapBuilder{t: t, path: path, f: f, w: w}
}

// close finishes the file and returns its path.
func (b *pcapBuilder) close() string {
	b.t.Helper()
	if err := b.f.Close(); err != nil {
		b.t.Fatal(err)
	}
	return b.path
}

// raw writes data as one packet.
func (b *pcapBuilder) raw(ts time.Time, data []byte) {
	b.t.Helper()
	if err := b.w.WritePacket(ts, data); err != nil {
		b.t.Fatal(err)
	}
	b.packets++
}

// segment writes one TCP segment; flags is a set of S, A, F, R, P.
func (b *pcapBuilder) segment(ts time.Time, src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) {
	b.t.Helper()
	b.raw(ts, b.frame(src, dst, seq, ack, flags, payload))
}

// frame builds a segment with the builder's link header.
func (b *pcapBuilder) frame(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) []byte {
	b.t.Helper()
	data, err := b.w.Frame(pcapgen.Segment{Src: src, Dst: dst, Seq: seq, Ack: ack, Flags: flags, Payload: payload})
	if err != nil {
		b.t.Fatal(err)
	}
	return data
}

// open writes the SYN and SYN-ACK of a connection from client to server
// at ts and returns the sequence numbers of each side's first byte.
func (b *pcapBuilder) open(ts time.Time, client, server netip.AddrPort) (cseq, sseq uint32) {
	b.t.Helper()
	cseq, sseq = 1000, 5000
	b.segment(ts, client, server, cseq, 0, "S", nil)
	b.segment(ts, server, client, sseq, cseq+1, "SA", nil)
	return cseq + 1, sseq + 1
}

// exchange writes a whole connection: handshake, each request answered by
// its response in segments of at most mss bytes, then FIN in both
// directions. It returns the time after the last packet.
func (b *pcapBuilder) exchange(ts time.Time, client, server netip.AddrPort, reqs, resps [][]byte, mss int) time.Time {
	b.t.Helper()
	step := func() time.Time { ts = ts.Add(100 * time.Microsecond); return ts }
	cseq, sseq := uint32(1000), uint32(500000)
	b.segment(step(), client, server, cseq, 0, "S", nil)
	b.segment(step(), server, client, sseq, cseq+1, "SA", nil)
	cseq++
	sseq++
	b.segment(step(), client, server, cseq, sseq, "A", nil)
	send := func(from, to netip.AddrPort, seq *uint32, ack uint32, data []byte) {
		for len(data) > 0 {
			n := min(mss, len(data))
			b.segment(step(), from, to, *seq, ack, "PA", data[:n])
			*seq += uint32(n)
			data = data[n:]
		}
	}
	for i := range reqs {
		send(client, server, &cseq, sseq, reqs[i])
		send(server, client, &sseq, cseq, resps[i])
	}
	b.segment(step(), client, server, cseq, sseq, "FA", nil)
	b.segment(step(), server, client, sseq, cseq+1, "FA", nil)
	b.segment(step(), client, server, cseq+1, sseq+1, "A", nil)
	return step()
}

func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
