package statelog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// captured is a log line with its attributes flattened to key=value,
// groups joined with dots, as a text handler would print them.
type captured struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu    sync.Mutex
	lines []captured
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	c := captured{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		flatten(c.attrs, "", a)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, c)
	return nil
}

func flatten(m map[string]string, prefix string, a slog.Attr) {
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			flatten(m, prefix+a.Key+".", g)
		}
		return
	}
	m[prefix+a.Key] = a.Value.String()
}

// step is one thing happening at offset `at` from the start.
type step struct {
	at     time.Duration
	op     string // degrade, degradeLost, kept, lost, recover
	key    string // the reason, or what was kept
	n      int
	attrs  []any
	expect *captured // the line this step logs, or nil for none
}

func warn(attrs ...string) *captured { return line(slog.LevelWarn, "sink down", attrs) }
func info(attrs ...string) *captured { return line(slog.LevelInfo, "sink up", attrs) }

func line(l slog.Level, msg string, kv []string) *captured {
	c := &captured{level: l, msg: msg, attrs: map[string]string{}}
	for i := 0; i < len(kv); i += 2 {
		c.attrs[kv[i]] = kv[i+1]
	}
	return c
}

func TestState(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{{
		name: "warn on entering, info on recovery with totals",
		steps: []step{
			{at: 0, op: "degrade", key: "unreachable", attrs: []any{"brokers", "b1:9092"},
				expect: warn("reason", "unreachable", "brokers", "b1:9092")},
			{at: time.Second, op: "kept", key: "spooled", n: 100},
			{at: 2 * time.Second, op: "lost", key: "queue_full", n: 3},
			{at: 3 * time.Second, op: "kept", key: "spooled", n: 20},
			{at: 5 * time.Second, op: "recover", attrs: []any{"by", "probe"},
				expect: info("reason", "unreachable", "degraded_for", "5s", "kept.spooled", "120",
					"dropped.queue_full", "3", "summary", "spooled 120, dropped 3 (queue_full 3)", "by", "probe")},
		},
	}, {
		name: "repeats within the interval are counted, then one reminder with what was lost since",
		steps: []step{
			{at: 0, op: "degrade", key: "unreachable", expect: warn("reason", "unreachable")},
			{at: time.Second, op: "degrade", key: "unreachable"},
			{at: 2 * time.Second, op: "lost", key: "spool_full", n: 7},
			{at: 30 * time.Second, op: "degrade", key: "unreachable"},
			{at: 59 * time.Second, op: "degrade", key: "unreachable"},
			{at: 60 * time.Second, op: "degrade", key: "unreachable",
				expect: warn("reason", "unreachable", "degraded_for", "1m0s", "repeats", "3",
					"dropped.spool_full", "7", "since_last", "dropped 7 (spool_full 7)")},
			{at: 61 * time.Second, op: "lost", key: "spool_full", n: 1},
			{at: 90 * time.Second, op: "degrade", key: "unreachable"},
			{at: 120 * time.Second, op: "degrade", key: "unreachable",
				expect: warn("reason", "unreachable", "degraded_for", "2m0s", "repeats", "1", "since_last", "dropped 1 (spool_full 1)")},
			{at: 121 * time.Second, op: "recover",
				expect: info("reason", "unreachable", "degraded_for", "2m1s", "dropped.spool_full", "8", "summary", "dropped 8 (spool_full 8)")},
		},
	}, {
		name: "a new reason warns at once; going back to an announced one waits for the reminder",
		steps: []step{
			{at: 0, op: "degrade", key: "unreachable", expect: warn("reason", "unreachable")},
			{at: time.Second, op: "degrade", key: "not_answering",
				expect: warn("reason", "not_answering", "degraded_for", "1s", "repeats", "0", "since_last", "dropped 0")},
			{at: 2 * time.Second, op: "degrade", key: "unreachable"},
			{at: 3 * time.Second, op: "degrade", key: "not_answering"},
			{at: 4 * time.Second, op: "degrade", key: "unreachable"},
			{at: 61 * time.Second, op: "degrade", key: "unreachable",
				expect: warn("reason", "unreachable", "degraded_for", "1m1s", "repeats", "3")},
			{at: 62 * time.Second, op: "recover", expect: info("reason", "unreachable", "summary", "dropped 0")},
		},
	}, {
		name: "outside an episode counts and recoveries log nothing",
		steps: []step{
			{at: 0, op: "lost", key: "queue_full", n: 5},
			{at: 0, op: "kept", key: "spooled", n: 5},
			{at: time.Second, op: "recover"},
			{at: 2 * time.Second, op: "degrade", key: "unreachable", expect: warn("reason", "unreachable")},
			{at: 3 * time.Second, op: "recover", expect: info("reason", "unreachable", "degraded_for", "1s", "summary", "dropped 0")},
			{at: 4 * time.Second, op: "recover"},
		},
	}, {
		name: "an event that loses items counts them before its line",
		steps: []step{
			{at: 0, op: "degradeLost", key: "ring_full", n: 10, expect: warn("reason", "ring_full")},
			{at: time.Second, op: "degradeLost", key: "ring_full", n: 2},
			{at: 60 * time.Second, op: "degradeLost", key: "ring_full", n: 3,
				expect: warn("repeats", "1", "dropped.ring_full", "5", "since_last", "dropped 5 (ring_full 5)")},
			{at: 61 * time.Second, op: "recover", expect: info("dropped.ring_full", "15", "summary", "dropped 15 (ring_full 15)")},
		},
	}, {
		name: "a second episode starts its counts afresh",
		steps: []step{
			{at: 0, op: "degrade", key: "unreachable", expect: warn("reason", "unreachable")},
			{at: 0, op: "lost", key: "queue_full", n: 2},
			{at: time.Second, op: "recover", expect: info("summary", "dropped 2 (queue_full 2)")},
			{at: 2 * time.Second, op: "degrade", key: "unreachable", expect: warn("reason", "unreachable")},
			{at: 3 * time.Second, op: "degrade", key: "unreachable"},
			{at: 3 * time.Second, op: "kept", key: "spooled", n: 4},
			{at: 4 * time.Second, op: "recover", expect: info("degraded_for", "2s", "kept.spooled", "4", "summary", "spooled 4, dropped 0")},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			s := New(Config{Log: slog.New(rec), Degraded: "sink down", Recovered: "sink up", Now: func() time.Time { return now }})
			for i, st := range tc.steps {
				now = start.Add(st.at)
				before := len(rec.lines)
				switch st.op {
				case "degrade":
					s.Degrade(st.key, st.attrs...)
				case "degradeLost":
					s.DegradeLost(st.key, st.key, st.n, st.attrs...)
				case "kept":
					s.Kept(st.key, st.n)
				case "lost":
					s.Lost(st.key, st.n)
				case "recover":
					s.Recover(st.attrs...)
				default:
					t.Fatalf("step %d: unknown op %q", i, st.op)
				}
				got := rec.lines[before:]
				if st.expect == nil {
					if len(got) != 0 {
						t.Fatalf("step %d (%s %s at %s): logged %s, want nothing", i, st.op, st.key, st.at, describe(got))
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("step %d (%s %s at %s): logged %s, want one line", i, st.op, st.key, st.at, describe(got))
				}
				if err := matches(got[0], *st.expect); err != nil {
					t.Fatalf("step %d (%s %s at %s): %v in %s", i, st.op, st.key, st.at, err, describe(got))
				}
			}
		})
	}
}

func TestDegradedReportsTheEpisode(t *testing.T) {
	s := New(Config{Log: slog.New(&recorder{}), Degraded: "down", Recovered: "up"})
	if s.Degraded() {
		t.Fatal("a new state is degraded")
	}
	s.Degrade("x")
	if !s.Degraded() {
		t.Fatal("not degraded after Degrade")
	}
	s.Recover()
	if s.Degraded() {
		t.Fatal("still degraded after Recover")
	}
}

func matches(got, want captured) error {
	if got.level != want.level || got.msg != want.msg {
		return fmt.Errorf("got %s %q, want %s %q", got.level, got.msg, want.level, want.msg)
	}
	for k, v := range want.attrs {
		if got.attrs[k] != v {
			return fmt.Errorf("%s=%q, want %q", k, got.attrs[k], v)
		}
	}
	return nil
}

func describe(lines []captured) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "[%s %q %v]", l.level, l.msg, l.attrs)
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}
