// Package statelog logs a degraded state the way someone reading
// `kubectl logs` needs it: a WARN with the reason when the state starts or
// its reason changes, at most one reminder per interval while it lasts,
// carrying what was kept and lost since the previous line, and an INFO when
// it ends with what was kept and lost over the whole episode.
package statelog

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultRemind is the least time between two WARN lines of one state
// whose reason has not changed.
const DefaultRemind = time.Minute

// Config describes one state.
type Config struct {
	// Log receives the lines; slog.Default() when nil.
	Log *slog.Logger
	// Degraded is the WARN message, e.g. "kafka unavailable".
	Degraded string
	// Recovered is the INFO message, e.g. "kafka available".
	Recovered string
	// Remind is the least time between WARN lines; DefaultRemind when 0.
	Remind time.Duration
	// Now is the clock; time.Now when nil. Tests move it by hand.
	Now func() time.Time
}

// State is one condition that is either fine or degraded for a reason.
// It is safe for concurrent use.
type State struct {
	cfg Config

	mu        sync.Mutex
	degraded  bool
	reason    string
	announced map[string]bool // reasons already warned about this episode
	since     time.Time
	lastWarn  time.Time
	repeats   int // Degrade calls not logged since the last WARN
	kept      map[string]int
	lost      map[string]int
	keptSince map[string]int // since the last WARN
	lostSince map[string]int
}

// New returns a State that is fine.
func New(cfg Config) *State {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Remind <= 0 {
		cfg.Remind = DefaultRemind
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &State{cfg: cfg}
}

// Degrade reports the state degraded for reason, a short stable word the
// user can grep for; details that vary (an error, counts) go in attrs. It
// logs a WARN when the episode starts or the reason is new to it, and
// otherwise at most once per Remind; calls in between are only counted.
func (s *State) Degrade(reason string, attrs ...any) {
	s.DegradeLost(reason, "", 0, attrs...)
}

// DegradeLost is Degrade for an event that itself lost n items, counted
// under lostReason before the line is written: the episode's first line
// then needs no separate Lost, and a reminder's counts include it.
func (s *State) DegradeLost(reason, lostReason string, n int, attrs ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if !s.degraded {
		s.degraded, s.since = true, now
		s.announced = map[string]bool{}
		s.kept, s.lost = map[string]int{}, map[string]int{}
		s.keptSince, s.lostSince = map[string]int{}, map[string]int{}
		s.repeats = 0
		s.countLocked(lostReason, n, true)
		s.warn(now, reason, false, attrs)
		return
	}
	s.countLocked(lostReason, n, true)
	// A reason already announced this episode waits for the reminder, so
	// two alternating reasons cannot flood the log.
	if (reason != s.reason && !s.announced[reason]) || now.Sub(s.lastWarn) >= s.cfg.Remind {
		s.warn(now, reason, true, attrs)
		return
	}
	s.reason = reason
	s.repeats++
}

func (s *State) warn(now time.Time, reason string, ongoing bool, attrs []any) {
	s.reason, s.lastWarn = reason, now
	s.announced[reason] = true
	args := append([]any{"reason", reason}, attrs...)
	if ongoing {
		args = append(args, "degraded_for", now.Sub(s.since).Round(time.Millisecond), "repeats", s.repeats)
		args = append(args, groups(s.keptSince, s.lostSince)...)
		args = append(args, "since_last", summary(s.keptSince, s.lostSince))
	}
	s.repeats = 0
	clear(s.keptSince)
	clear(s.lostSince)
	s.cfg.Log.Warn(s.cfg.Degraded, args...)
}

// Recover reports the state fine again. If it was degraded, it logs an
// INFO with the last reason, how long the episode lasted and everything
// kept and lost during it, e.g. summary="spooled 120, dropped 3
// (queue_full 3)".
func (s *State) Recover(attrs ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.degraded {
		return
	}
	s.degraded = false
	args := []any{"reason", s.reason, "degraded_for", s.cfg.Now().Sub(s.since).Round(time.Millisecond)}
	args = append(args, groups(s.kept, s.lost)...)
	args = append(args, "summary", summary(s.kept, s.lost))
	s.cfg.Log.Info(s.cfg.Recovered, append(args, attrs...)...)
}

// Kept counts n items saved while degraded under what, a past participle
// such as "spooled". Outside an episode it does nothing.
func (s *State) Kept(what string, n int) { s.count(what, n, false) }

// Lost counts n items lost while degraded, by the reason they are counted
// under in metrics. Outside an episode it does nothing.
func (s *State) Lost(reason string, n int) { s.count(reason, n, true) }

func (s *State) count(key string, n int, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked(key, n, lost)
}

func (s *State) countLocked(key string, n int, lost bool) {
	if n <= 0 || !s.degraded {
		return
	}
	if lost {
		s.lost[key] += n
		s.lostSince[key] += n
		return
	}
	s.kept[key] += n
	s.keptSince[key] += n
}

// Degraded reports whether an episode is under way.
func (s *State) Degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.degraded
}

// groups renders counts as kept.<what>=n and dropped.<reason>=n.
func groups(kept, lost map[string]int) []any {
	var out []any
	for _, g := range []struct {
		name string
		m    map[string]int
	}{{"kept", kept}, {"dropped", lost}} {
		if len(g.m) == 0 {
			continue
		}
		var as []any
		for _, k := range sortedKeys(g.m) {
			as = append(as, slog.Int(k, g.m[k]))
		}
		out = append(out, slog.Group(g.name, as...))
	}
	return out
}

// summary is the counts in words: "spooled 120, dropped 3 (queue_full 3)".
func summary(kept, lost map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(kept) {
		parts = append(parts, fmt.Sprintf("%s %d", k, kept[k]))
	}
	total := 0
	var why []string
	for _, k := range sortedKeys(lost) {
		total += lost[k]
		why = append(why, fmt.Sprintf("%s %d", k, lost[k]))
	}
	d := fmt.Sprintf("dropped %d", total)
	if len(why) > 0 {
		d += " (" + strings.Join(why, ", ") + ")"
	}
	return strings.Join(append(parts, d), ", ")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
