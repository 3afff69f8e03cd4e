package capture

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDropWatch feeds the watch the kernel's counters as a reader polling
// once a second would read them, and checks every line it logs.
func TestDropWatch(t *testing.T) {
	type poll struct {
		packets, drops uint64
		want           string // the line logged at this poll, "" for none
	}
	tests := []struct {
		name  string
		polls []poll
	}{{
		name: "drops start, go on quietly, stop",
		polls: []poll{
			{packets: 1000},
			{packets: 2000},
			{packets: 3000, drops: 50, want: `level=WARN msg="kernel dropping packets" reason=ring_full dropped=50 of_packets=1000 interval=1s per_second=50 setting=capture.ring_bytes`},
			{packets: 4000, drops: 80},
			{packets: 5000, drops: 90},
			{packets: 6000, drops: 90, want: `level=INFO msg="kernel drops stopped" reason=ring_full degraded_for=3s dropped.ring_full=90 summary="dropped 90 (ring_full 90)" total_drops=90`},
			{packets: 7000, drops: 90},
		},
	}, {
		name: "drops lasting over a minute bring one reminder with the drops since the first line",
		polls: func() []poll {
			ps := []poll{{packets: 100, drops: 10, want: `level=WARN msg="kernel dropping packets" reason=ring_full dropped=10 of_packets=100 interval=1s per_second=10 setting=capture.ring_bytes`}}
			for i := uint64(1); i <= 60; i++ {
				ps = append(ps, poll{packets: 100 + 100*i, drops: 10 + 2*i})
			}
			ps[60].want = `level=WARN msg="kernel dropping packets" reason=ring_full dropped=2 of_packets=100 interval=1s per_second=2 setting=capture.ring_bytes degraded_for=1m0s repeats=59 dropped.ring_full=120 since_last="dropped 120 (ring_full 120)"`
			ps = append(ps, poll{packets: 6200, drops: 130, want: `level=INFO msg="kernel drops stopped" reason=ring_full degraded_for=1m1s dropped.ring_full=130 summary="dropped 130 (ring_full 130)" total_drops=130`})
			return ps
		}(),
	}, {
		name: "a counter that starts again counts from zero",
		polls: []poll{
			{packets: 500, drops: 40, want: `level=WARN msg="kernel dropping packets" reason=ring_full dropped=40 of_packets=500 interval=1s per_second=40 setting=capture.ring_bytes`},
			{packets: 10, drops: 0, want: `level=INFO msg="kernel drops stopped" reason=ring_full degraded_for=1s dropped.ring_full=40 summary="dropped 40 (ring_full 40)" total_drops=0`},
			{packets: 20, drops: 5, want: `level=WARN msg="kernel dropping packets" reason=ring_full dropped=5 of_packets=10 interval=1s per_second=5 setting=capture.ring_bytes`},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			w := newDropWatch(log, func() time.Time { return now })
			for i, p := range tc.polls {
				now = now.Add(time.Second)
				buf.Reset()
				w.Observe(Stats{Packets: p.packets, Drops: p.drops})
				if got := strings.TrimSuffix(buf.String(), "\n"); got != p.want {
					t.Fatalf("poll %d (packets %d, drops %d):\n got %q\nwant %q", i, p.packets, p.drops, got, p.want)
				}
			}
		})
	}
}
