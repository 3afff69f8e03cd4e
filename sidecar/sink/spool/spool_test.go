package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testOptions(dir string) Options {
	return Options{
		Dir:           dir,
		MaxBytes:      8 << 20,
		SegmentBytes:  64 << 10,
		Fsync:         FsyncInterval,
		FsyncInterval: 50 * time.Millisecond,
	}
}

// payload is record i: its number first, so order and identity can be
// checked, then filler of a size that varies with i.
func payload(i int) []byte {
	p := fmt.Appendf(nil, "record-%07d|", i)
	return append(p, bytes.Repeat([]byte{byte('a' + i%26)}, 100+i%700)...)
}

func index(t *testing.T, p []byte) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(string(p), "record-%07d|", &i); err != nil {
		t.Fatalf("payload %q: %v", p[:min(len(p), 20)], err)
	}
	if !bytes.Equal(p, payload(i)) {
		t.Fatalf("payload of record %d differs from what was appended", i)
	}
	return i
}

func mustOpen(t *testing.T, opts Options) (*Spool, Recovery) {
	t.Helper()
	s, rec, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, rec
}

func appendRange(t *testing.T, s *Spool, from, to int) Outcome {
	t.Helper()
	var total Outcome
	for i := from; i < to; i++ {
		out, err := s.Append(Entry{Time: time.Unix(1700000000, int64(i)), Payload: payload(i)})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		total.Dropped += out.Dropped
		total.Failed += out.Failed
	}
	return total
}

// drain reads every record, acknowledging each, and returns their indexes.
func drain(t *testing.T, s *Spool) []int {
	t.Helper()
	var got []int
	for {
		r, ref, ok, err := s.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if !ok {
			return got
		}
		got = append(got, index(t, r.Payload))
		s.Ack(ref)
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantSeq(t *testing.T, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d records, want %d (%d..%d)", len(got), to-from, from, to-1)
	}
	for k, i := range got {
		if i != from+k {
			t.Fatalf("record %d is %d, want %d", k, i, from+k)
		}
	}
}

func TestAppendReadAckInOrder(t *testing.T) {
	for _, policy := range []string{"always", "segment", "interval"} {
		t.Run(policy, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			var err error
			if opts.Fsync, err = ParseFsync(policy); err != nil {
				t.Fatal(err)
			}
			s, _ := mustOpen(t, opts)
			defer s.Close()
			appendRange(t, s, 0, 2000)
			if n := len(segFiles(t, opts.Dir)); n < 5 {
				t.Fatalf("%d segments for ~1 MB at 64 KiB each, want several", n)
			}
			st := s.Stats()
			if st.Records != 2000 || st.Oldest != time.Unix(1700000000, 0) {
				t.Fatalf("stats %+v", st)
			}
			wantSeq(t, drain(t, s), 0, 2000)
			if n := len(segFiles(t, opts.Dir)); n != 0 {
				t.Fatalf("%d segments left after everything was acknowledged", n)
			}
			if st := s.Stats(); st.Bytes != 0 || st.Segments != 0 || st.Records != 0 || !st.Oldest.IsZero() {
				t.Fatalf("stats after drain %+v", st)
			}
			var frames int64
			for i := range 2000 {
				frames += frameSize(len(payload(i)))
			}
			if st.PeakBytes < frames {
				t.Fatalf("peak %d bytes, below the %d bytes of records", st.PeakBytes, frames)
			}
		})
	}
}

func TestParseFsyncRejectsUnknown(t *testing.T) {
	if _, err := ParseFsync("sometimes"); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestInterleavedAppendAndRead(t *testing.T) {
	s, _ := mustOpen(t, testOptions(t.TempDir()))
	defer s.Close()
	var got []int
	next := 0
	for round := range 50 {
		appendRange(t, s, next, next+round*7)
		next += round * 7
		for range round * 5 {
			r, ref, ok, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got = append(got, index(t, r.Payload))
			s.Ack(ref)
		}
	}
	got = append(got, drain(t, s)...)
	wantSeq(t, got, 0, next)
}

func TestReopenResumesAfterAcknowledged(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 0, 1000)
	// Read 300, acknowledge the first 250 only: the 50 in flight must
	// come back after a restart, the 250 must not.
	var refs []Ref
	for range 300 {
		_, ref, ok, err := s.Next()
		if err != nil || !ok {
			t.Fatalf("Next: %v %v", ok, err)
		}
		refs = append(refs, ref)
	}
	for _, ref := range refs[:250] {
		s.Ack(ref)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if rec.Records != 750 || rec.Torn != 0 || len(rec.Skipped) != 0 || rec.Cursor != nil {
		t.Fatalf("recovery %+v", rec)
	}
	wantSeq(t, drain(t, s), 250, 1000)
}

func TestBoundDropsOldestSegments(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MaxBytes = 256 << 10
	s, _ := mustOpen(t, opts)
	defer s.Close()
	const n = 3000
	out := appendRange(t, s, 0, n)
	st := s.Stats()
	if st.Bytes > opts.MaxBytes || st.PeakBytes > opts.MaxBytes {
		t.Fatalf("spool holds %d bytes (peak %d), bound %d", st.Bytes, st.PeakBytes, opts.MaxBytes)
	}
	if out.Dropped == 0 || out.Failed != 0 {
		t.Fatalf("outcome %+v", out)
	}
	// What is left is exactly the newest records: nothing lost in the
	// middle, and the count of dropped ones is exact.
	wantSeq(t, drain(t, s), out.Dropped, n)
}

func TestTooLargeRecordDropped(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MaxBytes = 64 << 10
	opts.SegmentBytes = 64 << 10
	s, _ := mustOpen(t, opts)
	defer s.Close()
	out, err := s.Append(Entry{Time: time.Now(), Payload: make([]byte, 70<<10)})
	if err != nil || out.Dropped != 1 {
		t.Fatalf("out %+v err %v", out, err)
	}
	if s.Unread() != 0 {
		t.Fatal("the oversized record was kept")
	}
}

func TestDroppingSegmentInFlight(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MaxBytes = 128 << 10
	s, _ := mustOpen(t, opts)
	defer s.Close()
	appendRange(t, s, 0, 100)
	// Read some records of the oldest segment without acknowledging, as
	// a sender with records in flight does, then push that segment out.
	var refs []Ref
	for range 10 {
		_, ref, _, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	out := appendRange(t, s, 100, 1000)
	for _, ref := range refs {
		s.Ack(ref) // refers to a dropped segment: ignored
	}
	got := drain(t, s)
	// Records read before the drop are not counted as dropped: they are
	// in flight and still get delivered.
	wantSeq(t, got, 10+out.Dropped, 1000)
}

func TestPrependGoesFirst(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 100, 400)
	out, err := s.Prepend(
		Entry{Time: time.Unix(1600000000, 0), Payload: payload(98)},
		Entry{Time: time.Unix(1600000001, 0), Payload: payload(99)},
	)
	if err != nil || out != (Outcome{}) {
		t.Fatalf("Prepend: %+v %v", out, err)
	}
	if st := s.Stats(); st.Oldest != time.Unix(1600000000, 0) || st.Records != 302 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if rec.Records != 302 {
		t.Fatalf("recovery %+v", rec)
	}
	wantSeq(t, drain(t, s), 98, 400)
}

func TestPrependWhileReading(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	defer s.Close()
	appendRange(t, s, 0, 500)
	// Take 20 out as a sender would, then hand them back at shutdown:
	// prepended and acknowledged where they came from.
	var taken []Entry
	var refs []Ref
	for range 20 {
		r, ref, _, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, r)
		refs = append(refs, ref)
	}
	if _, err := s.Prepend(taken...); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		s.Ack(ref)
	}
	wantSeq(t, drain(t, s), 0, 500)
}

func TestTornTailTruncated(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 0, 300)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, opts.Dir)
	newest := segs[len(segs)-1]
	fi, _ := os.Stat(newest)
	// Cut the last record in the middle, as a kill during write() does.
	if err := os.Truncate(newest, fi.Size()-37); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if rec.Torn != 1 || rec.Records != 299 || len(rec.Skipped) != 0 {
		t.Fatalf("recovery %+v", rec)
	}
	after, _ := os.Stat(newest)
	if after.Size() != fi.Size()-frameSize(len(payload(299))) {
		t.Fatalf("truncated to %d, want %d", after.Size(), fi.Size()-frameSize(len(payload(299))))
	}
	appendRange(t, s, 299, 310)
	wantSeq(t, drain(t, s), 0, 310)
}

func TestZeroedTailTruncated(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 0, 50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, opts.Dir)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 4096))
	f.Close()
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if rec.Torn != 1 || rec.Records != 50 {
		t.Fatalf("recovery %+v", rec)
	}
	wantSeq(t, drain(t, s), 0, 50)
}

// segmentRanges returns, per segment file in order, the indexes it holds.
func segmentRanges(t *testing.T, dir string) [][]int {
	t.Helper()
	var out [][]int
	for _, path := range segFiles(t, dir) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		sc := scanSegment(f, fi.Size(), 1<<20, false, -1)
		f.Close()
		if sc.err != nil {
			t.Fatal(sc.err)
		}
		var idx []int
		b, _ := os.ReadFile(path)
		for off := headerSize; off < int64(len(b)); {
			n := int64(b[off]) | int64(b[off+1])<<8 | int64(b[off+2])<<16
			idx = append(idx, index(t, b[off+recordHeader:off+recordHeader+n]))
			off += recordHeader + n
		}
		out = append(out, idx)
	}
	return out
}

func TestCorruptSegmentSkippedAtRecovery(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 0, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, opts.Dir)
	ranges := segmentRanges(t, opts.Dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	bad := segs[1]
	b, _ := os.ReadFile(bad)
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if len(rec.Skipped) != 1 || rec.Skipped[0].Path != bad {
		t.Fatalf("skipped %+v, want %s", rec.Skipped, bad)
	}
	if err := rec.Err(); err == nil || !strings.Contains(err.Error(), filepath.Base(bad)) {
		t.Fatalf("recovery error %v does not name %s", err, filepath.Base(bad))
	}
	if _, err := os.Stat(bad + corruptSuffix); err != nil {
		t.Fatalf("corrupt segment not kept aside: %v", err)
	}
	got := drain(t, s)
	var want []int
	for i, r := range ranges {
		if i != 1 {
			want = append(want, r...)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %d records, want the %d of the intact segments", len(got), len(want))
	}
	if rec.Skipped[0].Records >= len(ranges[1]) {
		t.Fatalf("counted %d readable records of a segment of %d damaged in the middle", rec.Skipped[0].Records, len(ranges[1]))
	}
}

func TestCorruptSegmentSkippedAtRead(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	defer s.Close()
	appendRange(t, s, 0, 1000)
	segs := segFiles(t, opts.Dir)
	ranges := segmentRanges(t, opts.Dir)
	b, _ := os.ReadFile(segs[0])
	b[len(b)-10] ^= 1
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	var got []int
	var skipped *SegmentError
	for {
		r, ref, ok, err := s.Next()
		if errors.As(err, &skipped) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, index(t, r.Payload))
		s.Ack(ref)
	}
	if skipped == nil || skipped.Path != segs[0] || !strings.Contains(skipped.Error(), filepath.Base(segs[0])) {
		t.Fatalf("skip error %v, want one naming %s", skipped, segs[0])
	}
	// The records before the damage were delivered, the rest of that
	// segment counted lost, every other segment delivered.
	n0 := len(ranges[0])
	if len(got)+skipped.Records != 1000 || got[len(got)-1] != 999 || skipped.Records != 1 {
		t.Fatalf("delivered %d, lost %d of the first segment's %d", len(got), skipped.Records, n0)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	defer s.Close()
	_, _, err := Open(opts)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestBadCursorMeansAtLeastOnce(t *testing.T) {
	opts := testOptions(t.TempDir())
	s, _ := mustOpen(t, opts)
	appendRange(t, s, 0, 100)
	for range 10 {
		_, ref, _, _ := s.Next()
		s.Ack(ref)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(opts.Dir, cursorName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, opts)
	defer s.Close()
	if rec.Cursor == nil {
		t.Fatal("unreadable cursor not reported")
	}
	wantSeq(t, drain(t, s), 0, 100)
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []Options{
		{},
		{Dir: t.TempDir(), MaxBytes: 1 << 20, SegmentBytes: 8},
		{Dir: t.TempDir(), MaxBytes: 1 << 10, SegmentBytes: 1 << 20},
	} {
		if s, _, err := Open(o); err == nil {
			s.Close()
			t.Fatalf("Open(%+v) accepted", o)
		}
	}
}

func TestClosedSpoolRefuses(t *testing.T) {
	s, _ := mustOpen(t, testOptions(t.TempDir()))
	s.Close()
	if out, err := s.Append(Entry{Payload: []byte("x")}); !errors.Is(err, ErrClosed) || out.Failed != 1 {
		t.Fatalf("Append after Close: %+v %v", out, err)
	}
	if _, _, _, err := s.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, name := range []string{"interval", "segment"} {
		b.Run(name, func(b *testing.B) {
			opts := testOptions(b.TempDir())
			policy, _ := ParseFsync(name)
			opts.MaxBytes, opts.SegmentBytes, opts.Fsync = 1<<30, 8<<20, policy
			s, _, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p := bytes.Repeat([]byte("x"), 1024)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := s.Append(Entry{Time: time.Now(), Payload: p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
