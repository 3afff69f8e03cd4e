package flow

import (
	"fmt"
	"strings"
	"testing"
)

// runs lists what side.run says of n bytes from seq, as "from-to@ms",
// with "now" for bytes never buffered.
func runs(h *side, seq uint32, n int) string {
	var parts []string
	k := 0
	for n > 0 {
		ts, run, next := h.run(k, seq, n, ms(999))
		at := fmt.Sprint(ts.Sub(t0).Milliseconds())
		if at == "999" {
			at = "now"
		}
		parts = append(parts, fmt.Sprintf("%d-%d@%s", seq-h.next, seq-h.next+uint32(run), at))
		seq, n, k = seq+uint32(run), n-run, next
	}
	return strings.Join(parts, " ")
}

func TestSideCaptureTimes(t *testing.T) {
	type seg struct{ from, to, at int }
	for _, tc := range []struct {
		name  string
		base  uint32
		segs  []seg
		limit int
		want  string // runs of bytes 0-100 after next = base
	}{
		{"none", 1, nil, 10, "0-100@now"},
		{"in order", 1, []seg{{10, 20, 1}, {20, 30, 2}}, 10, "0-10@now 10-20@1 20-30@2 30-100@now"},
		{"reversed", 1, []seg{{20, 30, 2}, {10, 20, 1}}, 10, "0-10@now 10-20@1 20-30@2 30-100@now"},
		{"retransmission keeps first time", 1, []seg{{10, 30, 1}, {10, 30, 2}}, 10, "0-10@now 10-30@1 30-100@now"},
		{"overlap fills around", 1, []seg{{20, 30, 1}, {50, 60, 2}, {10, 70, 3}}, 10,
			"0-10@now 10-20@3 20-30@1 30-50@3 50-60@2 60-70@3 70-100@now"},
		{"inside another", 1, []seg{{10, 60, 1}, {20, 30, 2}}, 10, "0-10@now 10-60@1 60-100@now"},
		{"limit keeps earlier ranges", 1, []seg{{10, 20, 1}, {30, 40, 2}, {50, 60, 3}}, 2,
			"0-10@now 10-20@1 20-30@now 30-40@2 40-100@now"},
		{"across the sequence wrap", 0xffffffc0, []seg{{40, 80, 1}, {80, 90, 2}}, 10, "0-40@now 40-80@1 80-90@2 90-100@now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &side{next: tc.base}
			for _, s := range tc.segs {
				h.buffer(tc.base+uint32(s.from), s.to-s.from, ms(s.at), tc.limit)
			}
			if got := runs(h, tc.base, 100); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSideAdvance(t *testing.T) {
	h := &side{next: 1}
	h.buffer(11, 10, ms(1), 10)
	h.buffer(31, 10, ms(2), 10)
	h.advance(16) // halfway into the first range
	if got, want := runs(h, 16, 30), "0-5@1 5-15@now 15-25@2 25-30@now"; got != want {
		t.Errorf("after advancing into a range: %s, want %s", got, want)
	}
	h.advance(41)
	if h.waiting != nil {
		t.Errorf("%d ranges left past every buffered byte", len(h.stamps()))
	}
	h.buffer(51, 10, ms(3), 10)
	h.close()
	h.buffer(61, 10, ms(4), 10)
	if h.waiting != nil {
		t.Error("a closed direction keeps capture times")
	}
}

func TestSideAckedHole(t *testing.T) {
	h := &side{next: 100}
	if h.ackedHole() {
		t.Fatal("a hole with nothing buffered")
	}
	h.buffer(200, 50, ms(1), 10)
	for _, tc := range []struct {
		ack  uint32
		want bool
	}{
		{150, false},                  // the peer got part of the hole only
		{200, true},                   // all of it
		{180, true},                   // an older ACK does not move acked back
		{200 + maxAckJump + 10, true}, // a jump no window allows is ignored
	} {
		h.ack(tc.ack)
		if got := h.ackedHole(); got != tc.want {
			t.Errorf("after ACK %d (acked %d): ackedHole %v, want %v", tc.ack, h.acked, got, tc.want)
		}
	}
	if h.acked != 200 {
		t.Errorf("acked %d, want 200", h.acked)
	}
	wrap := &side{next: 0xfffffff0}
	wrap.buffer(0x10, 10, ms(1), 10)
	wrap.ack(0x20)
	if !wrap.ackedHole() {
		t.Error("a hole across the sequence wrap, acknowledged past, is not seen")
	}
}
