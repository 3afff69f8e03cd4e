package flow

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var fuzzLinks = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLinuxSLL,
	layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw,
}

// FuzzPackets feeds a sequence of arbitrary packets, each prefixed by its
// length byte, through decoding and one worker's reassembly. Nothing may
// panic, and every stream must end.
func FuzzPackets(f *testing.F) {
	for i, link := range fuzzLinks {
		b := newPcap(f, link)
		client, server := addrPort("10.1.0.1:1000"), addrPort("10.1.0.2:80")
		var seq []byte
		for _, p := range [][]byte{
			b.frame(client, server, 0, 0, "S", nil),
			b.frame(client, server, 1, 0, "PA", []byte("GET / HTTP/1.1\r\n\r\n")),
			b.frame(server, client, 9, 19, "PA", []byte("HTTP/1.1 200 OK\r\n\r\n")),
			b.frame(client, server, 40, 0, "PA", []byte("ahead")),
			// The server acknowledges past the client's hole.
			b.frame(server, client, 28, 45, "A", nil),
			b.frame(client, server, 19, 0, "FA", nil),
		} {
			seq = append(append(seq, byte(len(p))), p...)
		}
		f.Add(uint8(i), seq)
		b.close()
	}
	f.Fuzz(func(t *testing.T, linkIndex uint8, data []byte) {
		d, err := newDecoder(fuzzLinks[int(linkIndex)%len(fuzzLinks)], Tunnel{Port: 4789})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorders{keepBytes: true}
		cfg := testConfig()
		cfg.MaxConnBufferBytes = 64 << 10
		w := newWorker(New(cfg, 1, rec), 1)
		b := <-w.free
		ts := t0
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			pkt := data[1 : 1+n]
			data = data[1+n:]
			ts = ts.Add(time.Second)
			seg, why := d.decode(pkt)
			if why != kept {
				continue
			}
			net := gopacket.NewFlow(layers.EndpointIPv4, seg.src, seg.dst)
			if seg.ipv6 {
				net = gopacket.NewFlow(layers.EndpointIPv6, seg.src, seg.dst)
			}
			b.reset()
			b.add(ts, net, 0, seg.tcp)
			w.assemble(&b.pkts[0], b.arena)
			w.timers(ts)
		}
		w.close()
		for _, r := range rec.streams() {
			if r.ended != 1 || r.afterEnd != 0 {
				t.Fatalf("%v: ended %d times, %d calls after End", r.conn, r.ended, r.afterEnd)
			}
		}
	})
}
