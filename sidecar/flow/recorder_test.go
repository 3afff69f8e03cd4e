package flow

import (
	"sync"
	"time"
)

// recorder is a Stream that keeps what reassembly delivers: the bytes of
// each direction, with the gaps at their offsets.
type recorder struct {
	conn Conn
	dirs [2]recordedDir
	// ignoreAfter makes Ignored true once this many bytes arrived in
	// total (0: never).
	ignoreAfter int
	// keepBytes false counts bytes without keeping them.
	keepBytes bool
	ticks     int
	lastTick  time.Time
	// onTick and onData, when set, run on every Tick and Data (on the
	// worker).
	onTick func(now time.Time)
	onData func()
	ended  int
	endTS  time.Time
	// afterEnd counts calls made after End, which must not happen.
	afterEnd int
	f        *recorders
}

type recordedDir struct {
	data  []byte
	bytes int
	gaps  []recordedGap
	first time.Time
	// chunks are the Data calls, when the recorders keep bytes.
	chunks []recordedChunk
}

// recordedGap is a gap of n bytes before data offset at.
type recordedGap struct{ at, n int }

// recordedChunk is a Data call of n bytes at data offset at, stamped ts.
type recordedChunk struct {
	at, n int
	ts    time.Time
}

// event is one Data or Gap call, in the order the recorders got them.
type event struct {
	r   *recorder
	dir Side
	gap bool
	n   int
	ts  time.Time
}

func (r *recorder) Data(dir Side, b []byte, ts time.Time) {
	if r.ended > 0 {
		r.afterEnd++
	}
	d := &r.dirs[dir]
	if d.first.IsZero() {
		d.first = ts
	}
	if r.keepBytes {
		d.data = append(d.data, b...)
		d.chunks = append(d.chunks, recordedChunk{at: d.bytes, n: len(b), ts: ts})
	}
	r.f.log(event{r: r, dir: dir, n: len(b), ts: ts})
	d.bytes += len(b)
	if r.onData != nil {
		r.onData()
	}
}

func (r *recorder) Gap(dir Side, n int, ts time.Time) {
	if r.ended > 0 {
		r.afterEnd++
	}
	r.f.log(event{r: r, dir: dir, gap: true, n: n, ts: ts})
	d := &r.dirs[dir]
	d.gaps = append(d.gaps, recordedGap{at: d.bytes, n: n})
}

func (r *recorder) Tick(now time.Time) {
	if r.ended > 0 {
		r.afterEnd++
	}
	r.ticks++
	r.lastTick = now
	if r.onTick != nil {
		r.onTick(now)
	}
}

func (r *recorder) End(ts time.Time) {
	r.ended++
	r.endTS = ts
	r.f.mu.Lock()
	r.f.open--
	r.f.mu.Unlock()
}

func (r *recorder) Ignored() bool {
	return r.ignoreAfter > 0 && r.dirs[0].bytes+r.dirs[1].bytes >= r.ignoreAfter
}

func (r *recorder) gapCount() int { return len(r.dirs[0].gaps) + len(r.dirs[1].gaps) }

// recorders is a Factory of recorders. Workers call it concurrently.
type recorders struct {
	mu          sync.Mutex
	all         []*recorder
	keepBytes   bool
	ignoreAfter int
	// onNew, when set, runs for each new stream on its worker.
	onNew func(*recorder)
	// open counts streams not yet ended; maxOpen is its peak.
	open, maxOpen int
	// logEvents keeps every Data and Gap call in events, in order.
	logEvents bool
	events    []event
}

func (f *recorders) log(e event) {
	if !f.logEvents {
		return
	}
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

func (f *recorders) NewStream(c Conn) Stream {
	r := &recorder{conn: c, keepBytes: f.keepBytes, ignoreAfter: f.ignoreAfter, f: f}
	f.mu.Lock()
	f.all = append(f.all, r)
	f.open++
	f.maxOpen = max(f.maxOpen, f.open)
	onNew := f.onNew
	f.mu.Unlock()
	if onNew != nil {
		onNew(r)
	}
	return r
}

func (f *recorders) streams() []*recorder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*recorder(nil), f.all...)
}
