package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/podtap/podtap/internal/pcapgen"
)

// loopbackMSS is the largest segment on a loopback interface (MTU 65536),
// which is where the anchor capture was taken: one segment per write, up
// to 64 KiB.
const loopbackMSS = 65483

// segmentWriter lays recorded events into the TCP segments a capture on
// loopback would hold: handshake, data split at the MSS, an ACK from the
// receiver after each write, FINs, and now and then a spurious
// retransmission of a segment that was already acknowledged (which a
// sniffer must not turn into a duplicate).
type segmentWriter struct {
	w       *pcapgen.Writer
	buf     *bufio.Writer
	mss     int
	retrans float64
	rng     *rand.Rand
	conns   map[*recordedConn]*tcpState
	// closed are the connections whose close was noted. A read racing the
	// client's own Close (gRPC's transport reads in a goroutine of its
	// own) can note bytes after it; they belong to no exchange the client
	// counted, and are left out.
	closed map[*recordedConn]bool
	last   time.Time
	stats  Stats
}

// tcpState is a recorded connection's sequence space.
type tcpState struct {
	client, server netip.AddrPort
	// next is each side's next sequence number: [0] the client's.
	next [2]uint32
}

// Stats is what a generated capture holds.
type Stats struct {
	Packets         int64 `json:"packets"`
	Bytes           int64 `json:"bytes"`
	Connections     int64 `json:"connections"`
	Retransmissions int64 `json:"retransmissions"`
}

func newSegmentWriter(out io.Writer, mss int, retrans float64, seed uint64) (*segmentWriter, error) {
	buf := bufio.NewWriterSize(out, 1<<20)
	w, err := pcapgen.NewWriter(buf, layers.LinkTypeEthernet)
	if err != nil {
		return nil, err
	}
	return &segmentWriter{
		w: w, buf: buf, mss: mss, retrans: retrans,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		conns:  map[*recordedConn]*tcpState{},
		closed: map[*recordedConn]bool{},
	}, nil
}

// run writes events until the channel closes.
func (s *segmentWriter) run(events <-chan event) error {
	var err error
	for ev := range events {
		if err == nil {
			err = s.event(ev)
		}
	}
	if err != nil {
		return err
	}
	if err := s.buf.Flush(); err != nil {
		return fmt.Errorf("writing the capture: %w", err)
	}
	return nil
}

func (s *segmentWriter) event(ev event) error {
	switch ev.kind {
	case evOpen:
		return s.open(ev)
	case evData:
		return s.data(ev)
	case evClose:
		return s.close(ev)
	}
	return nil
}

func (s *segmentWriter) open(ev event) error {
	c := ev.conn
	st := &tcpState{
		client: c.client,
		server: c.server,
		next:   [2]uint32{s.rng.Uint32(), s.rng.Uint32()},
	}
	s.conns[c] = st
	s.stats.Connections++
	if err := s.segment(ev.at, st, 0, "S", st.next[0], 0, nil); err != nil {
		return err
	}
	st.next[0]++
	if err := s.segment(ev.at, st, 1, "SA", st.next[1], st.next[0], nil); err != nil {
		return err
	}
	st.next[1]++
	return s.segment(ev.at, st, 0, "A", st.next[0], st.next[1], nil)
}

func (s *segmentWriter) data(ev event) error {
	st := s.conns[ev.conn]
	if st == nil {
		if s.closed[ev.conn] {
			return nil
		}
		return fmt.Errorf("data on a connection that was never opened")
	}
	from := 1
	if ev.toServer {
		from = 0
	}
	to := 1 - from
	type sent struct {
		seq  uint32
		data []byte
	}
	var resend []sent
	for rest := ev.data; len(rest) > 0; {
		n := min(len(rest), s.mss)
		seq := st.next[from]
		flags := "A"
		if n == len(rest) {
			flags = "PA"
		}
		if err := s.segment(ev.at, st, from, flags, seq, st.next[to], rest[:n]); err != nil {
			return err
		}
		if s.rng.Float64() < s.retrans {
			resend = append(resend, sent{seq, rest[:n]})
		}
		st.next[from] += uint32(n)
		rest = rest[n:]
	}
	if err := s.segment(ev.at, st, to, "A", st.next[to], st.next[from], nil); err != nil {
		return err
	}
	// A spurious retransmission: the segment was acknowledged just above,
	// and its copy arrives anyway (a retransmission timer that fired
	// early), answered by a duplicate ACK.
	for _, r := range resend {
		s.stats.Retransmissions++
		if err := s.segment(ev.at, st, from, "PA", r.seq, st.next[to], r.data); err != nil {
			return err
		}
		if err := s.segment(ev.at, st, to, "A", st.next[to], st.next[from], nil); err != nil {
			return err
		}
	}
	return nil
}

// close ends a connection as the client closing first does.
func (s *segmentWriter) close(ev event) error {
	st := s.conns[ev.conn]
	if st == nil {
		return nil
	}
	delete(s.conns, ev.conn)
	s.closed[ev.conn] = true
	if err := s.segment(ev.at, st, 0, "FA", st.next[0], st.next[1], nil); err != nil {
		return err
	}
	st.next[0]++
	if err := s.segment(ev.at, st, 1, "FA", st.next[1], st.next[0], nil); err != nil {
		return err
	}
	st.next[1]++
	return s.segment(ev.at, st, 0, "A", st.next[0], st.next[1], nil)
}

// segment writes one packet from side from (0 the client, 1 the server).
// Timestamps only move forward, a nanosecond at least per packet, as a
// capture's do.
func (s *segmentWriter) segment(at time.Time, st *tcpState, from int, flags string, seq, ack uint32, payload []byte) error {
	if !at.After(s.last) {
		at = s.last.Add(time.Nanosecond)
	}
	s.last = at
	src, dst := st.client, st.server
	if from == 1 {
		src, dst = dst, src
	}
	err := s.w.WriteSegment(at, pcapgen.Segment{Src: src, Dst: dst, Seq: seq, Ack: ack, Flags: flags, MSS: s.mss, Payload: payload})
	if err != nil {
		return fmt.Errorf("writing the capture: %w", err)
	}
	s.stats.Packets, s.stats.Bytes = s.w.Packets, s.w.Bytes
	return nil
}
