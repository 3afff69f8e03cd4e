// Package spool is a bounded first-in first-out queue of records on disk. It
// keeps records while their destination is away and survives a crash of
// the process: append-only segment files, a length and CRC-32C per record,
// a configurable fsync policy, and recovery that truncates a torn tail and
// skips (naming it) a corrupt segment. Past its byte bound it drops its
// oldest segment and says how many records went with it.
//
// Records are read in the order they were appended; a read record stays on
// disk until it is acknowledged, so a crash between read and delivery
// sends it again rather than losing it.
package spool

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fsync is when appended records are forced to disk.
type Fsync int

const (
	// FsyncInterval syncs the segment being written every interval, and
	// on roll and close: a power loss costs at most one interval.
	FsyncInterval Fsync = iota
	// FsyncAlways syncs after every Append call.
	FsyncAlways
	// FsyncSegment syncs only when a segment is rolled or the spool closed.
	FsyncSegment
)

// ParseFsync reads the config value: "always", "segment" or "interval".
func ParseFsync(s string) (Fsync, error) {
	switch s {
	case "interval", "":
		return FsyncInterval, nil
	case "always":
		return FsyncAlways, nil
	case "segment":
		return FsyncSegment, nil
	}
	return 0, fmt.Errorf("spool: fsync %q is not accepted; want \"always\", \"segment\" or \"interval\"", s)
}

// Options configure a spool.
type Options struct {
	// Dir holds the segments; it is created if missing.
	Dir string
	// MaxBytes bounds the files of the spool.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is rolled.
	SegmentBytes int64
	// Fsync is the durability policy.
	Fsync Fsync
	// FsyncInterval is the period of FsyncInterval, and how often the
	// delivery cursor is saved. Default 1s.
	FsyncInterval time.Duration
	// MaxRecordBytes is the largest payload; a longer length field read
	// back means corruption. Default 64 MiB.
	MaxRecordBytes int
	// Logger receives background errors. Default slog.Default().
	Logger *slog.Logger
}

// Entry is what the spool keeps of one record: its bytes and its time.
type Entry struct {
	// Time is kept with the record; the oldest unread one is reported.
	Time    time.Time
	Payload []byte
}

// Ref names a read record for Ack.
type Ref struct {
	seg uint64
	end int64
}

// Outcome says what became of the records of an Append or Prepend.
type Outcome struct {
	// Dropped records were lost to the byte bound: older ones pushed out,
	// or ones too large to ever fit.
	Dropped int
	// Failed records were not written because of the returned error.
	Failed int
}

// Stats describe the spool now.
type Stats struct {
	Bytes     int64
	PeakBytes int64
	Segments  int
	// Records is the number of records not yet read.
	Records int
	// Oldest is the time of the oldest unread record; zero when none.
	Oldest time.Time
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool: closed")

// SegmentError says a segment was skipped: it is renamed with a .corrupt
// suffix, kept for inspection, and its records are not delivered.
type SegmentError struct {
	// Path is the segment's file, as it was named.
	Path string
	// Records is how many records were lost with it. When AtLeast is set
	// (a segment found corrupt at recovery) only the records before the
	// damage could be counted; more were lost after it.
	Records int
	AtLeast bool
	Err     error
}

func (e *SegmentError) Error() string {
	lost := fmt.Sprintf("%d records lost", e.Records)
	if e.AtLeast {
		lost = "at least " + lost
	}
	return fmt.Sprintf("spool: segment %s skipped (%s, renamed %s%s): %v",
		e.Path, lost, filepath.Base(e.Path), corruptSuffix, e.Err)
}

func (e *SegmentError) Unwrap() error { return e.Err }

const (
	segSuffix     = ".seg"
	tmpSuffix     = ".tmp"
	corruptSuffix = ".corrupt"
	// firstID leaves room below for segments prepended at shutdown.
	firstID = uint64(1) << 40
	// flushAt bounds the bytes an Append buffers before writing.
	flushAt = 1 << 20
)

// Spool is safe for concurrent use.
type Spool struct {
	opts Options
	log  *slog.Logger
	lock *os.File

	mu      sync.Mutex
	segs    []*segment // ordered by id, oldest first
	active  *segment   // the segment appended to, last of segs, or nil
	w       *os.File
	buf     []byte
	bufRecs int
	dirty   bool
	rd      *bufio.Reader
	rdFile  *os.File
	rdSeg   *segment
	bytes   int64
	peak    int64
	unread  int
	nextID  uint64
	moved   bool // the cursor changed since it was saved
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type segment struct {
	id      uint64
	size    int64
	records int
	read    int
	readOff int64
	firstTS int64
	nextTS  int64     // time of the next unread record, once known
	pend    []pending // read records awaiting Ack, in read order
	ackOff  int64     // every record before this offset is acknowledged
	sealed  bool
}

type pending struct {
	end  int64
	done bool
}

func segName(id uint64) string { return fmt.Sprintf("%016x%s", id, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil
}

func (s *Spool) path(seg *segment) string { return filepath.Join(s.opts.Dir, segName(seg.id)) }

// Open opens or creates the spool in opts.Dir and recovers what a previous
// process left. Problems with single segments do not fail Open: they are
// reported in the Recovery.
func Open(opts Options) (*Spool, Recovery, error) {
	if opts.Dir == "" {
		return nil, Recovery{}, errors.New("spool: no directory")
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 64 << 20
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = time.Second
	}
	if opts.SegmentBytes <= headerSize+recordHeader {
		return nil, Recovery{}, fmt.Errorf("spool: segment size %d is too small", opts.SegmentBytes)
	}
	if opts.MaxBytes < opts.SegmentBytes {
		return nil, Recovery{}, fmt.Errorf("spool: bound %d is below the segment size %d", opts.MaxBytes, opts.SegmentBytes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, Recovery{}, fmt.Errorf("spool: creating %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{
		opts: opts, log: opts.Logger, lock: lock,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	rec, err := s.recover()
	if err != nil {
		lock.Close()
		return nil, rec, fmt.Errorf("spool: recovering %s: %w", opts.Dir, err)
	}
	go s.syncLoop()
	return s, rec, nil
}

// Append adds records after every other one. When the bound is reached
// the oldest segments are dropped to make room.
func (s *Spool) Append(recs ...Entry) (Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Outcome
	if s.closed {
		out.Failed = len(recs)
		return out, ErrClosed
	}
	for i, r := range recs {
		n := frameSize(len(r.Payload))
		if len(r.Payload) > s.opts.MaxRecordBytes || n+headerSize > s.opts.MaxBytes {
			out.Dropped++
			continue
		}
		if s.active != nil && s.active.size+n > s.opts.SegmentBytes && s.active.records > 0 {
			if lost, err := s.seal(); err != nil {
				out.Failed += lost + len(recs) - i
				return out, err
			}
		}
		need := n
		if s.active == nil {
			need += headerSize
		}
		for s.bytes+need > s.opts.MaxBytes && len(s.segs) > 0 {
			wasActive := s.segs[0] == s.active
			d, err := s.dropOldest()
			out.Dropped += d
			if err != nil {
				s.log.Error("spool: removing a dropped segment", "err", err)
			}
			if wasActive {
				need += headerSize
			}
		}
		if s.active == nil {
			if err := s.create(); err != nil {
				out.Failed += len(recs) - i
				return out, err
			}
		}
		ts := r.Time.UnixNano()
		s.buf = appendRecord(s.buf, ts, r.Payload)
		s.bufRecs++
		a := s.active
		if a.records == 0 {
			a.firstTS = ts
		}
		a.records++
		a.size += n
		s.bytes += n
		s.unread++
		s.peak = max(s.peak, s.bytes)
		if len(s.buf) >= flushAt {
			if lost, err := s.flush(); err != nil {
				out.Failed += lost + len(recs) - i - 1
				return out, err
			}
		}
	}
	if lost, err := s.flush(); err != nil {
		out.Failed += lost
		return out, err
	}
	if s.opts.Fsync == FsyncAlways && s.w != nil {
		if err := s.w.Sync(); err != nil {
			return out, fmt.Errorf("spool: syncing %s: %w", s.path(s.active), err)
		}
		s.dirty = false
	}
	return out, nil
}

// Prepend adds records before every other one, in a segment of their own
// written atomically: records taken out for delivery that must be kept
// after all. If they do not fit the bound, the oldest of them are dropped.
func (s *Spool) Prepend(recs ...Entry) (Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Outcome
	if s.closed {
		out.Failed = len(recs)
		return out, ErrClosed
	}
	size := headerSize
	for _, r := range recs {
		size += frameSize(len(r.Payload))
	}
	for len(recs) > 0 && (size > s.opts.MaxBytes-s.bytes || len(recs[0].Payload) > s.opts.MaxRecordBytes) {
		size -= frameSize(len(recs[0].Payload))
		recs = recs[1:]
		out.Dropped++
	}
	if len(recs) == 0 {
		return out, nil
	}
	id := s.nextID
	if len(s.segs) > 0 {
		id = s.segs[0].id
	}
	if id == 0 {
		out.Failed = len(recs)
		return out, errors.New("spool: no segment id left to prepend")
	}
	id--
	data := make([]byte, 0, size)
	data = append(data, magic...)
	for _, r := range recs {
		data = appendRecord(data, r.Time.UnixNano(), r.Payload)
	}
	if err := writeFileAtomic(s.opts.Dir, segName(id), data); err != nil {
		out.Failed = len(recs)
		return out, fmt.Errorf("spool: writing %s: %w", segName(id), err)
	}
	seg := &segment{
		id: id, size: size, records: len(recs), firstTS: recs[0].Time.UnixNano(),
		readOff: headerSize, ackOff: headerSize, sealed: true,
	}
	s.segs = append([]*segment{seg}, s.segs...)
	s.bytes += size
	s.unread += len(recs)
	s.peak = max(s.peak, s.bytes)
	return out, nil
}

// Next reads the oldest unread record; ok is false when there is none. A
// segment that cannot be read is skipped and reported as a *SegmentError;
// call Next again for the records after it.
func (s *Spool) Next() (rec Entry, ref Ref, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return rec, ref, false, ErrClosed
	}
	for {
		seg := s.headUnread()
		if seg == nil {
			return rec, ref, false, nil
		}
		if seg == s.active {
			// Reading a sealed file keeps reads and appends apart; new
			// records go to the next segment.
			if lost, err := s.seal(); err != nil {
				return rec, ref, false, fmt.Errorf("spool: sealing %s (%d records lost): %w", s.path(seg), lost, err)
			}
			continue
		}
		if s.rdSeg != seg {
			if err := s.openReader(seg); err != nil {
				return rec, ref, false, s.skip(seg, err)
			}
		}
		ts, payload, err := readRecord(s.rd, s.opts.MaxRecordBytes)
		if err != nil {
			return rec, ref, false, s.skip(seg, err)
		}
		seg.read++
		seg.readOff += frameSize(len(payload))
		seg.pend = append(seg.pend, pending{end: seg.readOff})
		s.unread--
		if seg.read < seg.records {
			if t, ok := peekTime(s.rd); ok {
				seg.nextTS = t
			}
		}
		return Entry{Time: time.Unix(0, ts), Payload: payload}, Ref{seg: seg.id, end: seg.readOff}, true, nil
	}
}

// Ack marks a read record delivered (or saved elsewhere). A segment whose
// records are all read and acknowledged is deleted.
func (s *Spool) Ack(ref Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	seg := s.find(ref.seg)
	if seg == nil {
		return // dropped or skipped meanwhile
	}
	i := sort.Search(len(seg.pend), func(i int) bool { return seg.pend[i].end >= ref.end })
	if i == len(seg.pend) || seg.pend[i].end != ref.end {
		return
	}
	seg.pend[i].done = true
	for len(seg.pend) > 0 && seg.pend[0].done {
		seg.ackOff = seg.pend[0].end
		seg.pend = seg.pend[1:]
		s.moved = true
	}
	if seg.sealed && seg.read == seg.records && len(seg.pend) == 0 {
		if err := s.remove(seg); err != nil {
			s.log.Error("spool: removing a delivered segment", "err", err)
		}
	}
}

// Unread is the number of records not yet read.
func (s *Spool) Unread() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unread
}

// Stats reports the spool's size and age.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Bytes: s.bytes, PeakBytes: s.peak, Segments: len(s.segs), Records: s.unread}
	if seg := s.headUnread(); seg != nil {
		ts := seg.firstTS
		if seg.read > 0 && seg.nextTS != 0 {
			ts = seg.nextTS
		}
		st.Oldest = time.Unix(0, ts)
	}
	return st
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.opts.Dir }

// Close syncs and closes the spool; records stay for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	var errs []error
	if s.active != nil {
		if lost, err := s.seal(); err != nil {
			errs = append(errs, fmt.Errorf("spool: closing (%d records lost): %w", lost, err))
		}
	}
	if err := s.saveCursor(); err != nil {
		errs = append(errs, err)
	}
	s.closeReader()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("spool: releasing the lock: %w", err))
	}
	return errors.Join(errs...)
}

func (s *Spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.closed {
			if s.opts.Fsync == FsyncInterval && s.dirty && s.w != nil {
				if err := s.w.Sync(); err != nil {
					s.log.Error("spool: syncing", "segment", s.path(s.active), "err", err)
				}
				s.dirty = false
			}
			if err := s.saveCursor(); err != nil {
				s.log.Error("spool: saving the cursor", "err", err)
			}
		}
		s.mu.Unlock()
	}
}

// The methods below are called with mu held.

func (s *Spool) headUnread() *segment {
	for _, seg := range s.segs {
		if seg.read < seg.records {
			return seg
		}
	}
	return nil
}

func (s *Spool) find(id uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].id >= id })
	if i < len(s.segs) && s.segs[i].id == id {
		return s.segs[i]
	}
	return nil
}

func (s *Spool) create() error {
	seg := &segment{id: s.nextID, size: headerSize, readOff: headerSize, ackOff: headerSize}
	path := s.path(seg)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: creating %s: %w", path, err)
	}
	if _, err := f.Write([]byte(magic)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: writing %s: %w", path, err)
	}
	// The new name must survive a power loss with the data synced later.
	if err := syncDir(s.opts.Dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: syncing %s: %w", s.opts.Dir, err)
	}
	s.nextID++
	s.segs = append(s.segs, seg)
	s.active, s.w = seg, f
	s.bytes += headerSize
	s.peak = max(s.peak, s.bytes)
	return nil
}

// flush writes the buffered records. On failure they are taken back out
// of the segment, which is sealed at its last good record; lost says how
// many records that was.
func (s *Spool) flush() (lost int, err error) {
	if len(s.buf) == 0 {
		return 0, nil
	}
	a := s.active
	if _, err = s.w.Write(s.buf); err != nil {
		n := int64(len(s.buf))
		lost = s.bufRecs
		a.size -= n
		a.records -= lost
		s.bytes -= n
		s.unread -= lost
		s.buf, s.bufRecs = s.buf[:0], 0
		// Cut a partial write so the file ends at a record boundary.
		terr := s.w.Truncate(a.size)
		s.w.Close()
		s.w, s.active = nil, nil
		a.sealed = true
		if a.records == 0 {
			s.remove(a)
		}
		return lost, fmt.Errorf("spool: writing %s: %w", s.path(a), errors.Join(err, terr))
	}
	s.buf, s.bufRecs = s.buf[:0], 0
	s.dirty = true
	return 0, nil
}

// seal finishes the active segment: flushed, synced, closed.
func (s *Spool) seal() (lost int, err error) {
	if s.active == nil {
		return 0, nil
	}
	if lost, err = s.flush(); err != nil {
		return lost, err
	}
	a := s.active
	err = s.w.Sync()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w, s.active, s.dirty = nil, nil, false
	a.sealed = true
	if err != nil {
		return 0, fmt.Errorf("spool: sealing %s: %w", s.path(a), err)
	}
	return 0, nil
}

// dropOldest deletes the oldest segment to respect the bound; its unread
// records (buffered ones included) are the ones dropped.
func (s *Spool) dropOldest() (int, error) {
	seg := s.segs[0]
	if seg == s.active {
		s.buf, s.bufRecs = s.buf[:0], 0
	}
	dropped := seg.records - seg.read
	return dropped, s.remove(seg)
}

// remove forgets a segment and deletes its file.
func (s *Spool) remove(seg *segment) error {
	if s.rdSeg == seg {
		s.closeReader()
	}
	if s.active == seg {
		s.w.Close()
		s.w, s.active, s.dirty = nil, nil, false
	}
	s.forget(seg)
	if err := os.Remove(s.path(seg)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (s *Spool) forget(seg *segment) {
	for i, x := range s.segs {
		if x == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	s.bytes -= seg.size
	s.unread -= seg.records - seg.read
	s.moved = true
}

// skip sets aside a segment that cannot be read.
func (s *Spool) skip(seg *segment, cause error) error {
	path := s.path(seg)
	lost := seg.records - seg.read
	s.closeReader()
	s.forget(seg)
	if err := os.Rename(path, path+corruptSuffix); err != nil {
		cause = errors.Join(cause, fmt.Errorf("renaming: %w", err))
	}
	return &SegmentError{Path: path, Records: lost, Err: cause}
}

func (s *Spool) openReader(seg *segment) error {
	s.closeReader()
	f, err := os.Open(s.path(seg))
	if err != nil {
		return err
	}
	if _, err := f.Seek(seg.readOff, 0); err != nil {
		f.Close()
		return err
	}
	s.rdFile, s.rdSeg = f, seg
	s.rd = bufio.NewReaderSize(f, 256<<10)
	return nil
}

func (s *Spool) closeReader() {
	if s.rdFile != nil {
		s.rdFile.Close()
	}
	s.rd, s.rdFile, s.rdSeg = nil, nil, nil
}

func (s *Spool) saveCursor() error {
	if !s.moved {
		return nil
	}
	pos := make(map[uint64]int64)
	for _, seg := range s.segs {
		if seg.ackOff > headerSize {
			pos[seg.id] = seg.ackOff
		}
	}
	if err := writeCursor(s.opts.Dir, pos); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.moved = false
	return nil
}
