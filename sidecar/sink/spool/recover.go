package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Recovery reports what Open found.
type Recovery struct {
	// Segments and Records are what is left to deliver.
	Segments int
	Records  int
	// Torn counts records cut short by a crash and truncated away.
	Torn int
	// Skipped are the corrupt segments set aside, each naming its file.
	Skipped []*SegmentError
	// Cursor is set when the delivery cursor could not be read: records
	// delivered before the crash may then be sent again.
	Cursor error
}

// Err joins the errors of the skipped segments, nil when none was.
func (r Recovery) Err() error {
	errs := make([]error, len(r.Skipped))
	for i, e := range r.Skipped {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (s *Spool) recover() (Recovery, error) {
	var rec Recovery
	cursor, err := readCursor(s.opts.Dir)
	if err != nil {
		rec.Cursor = err
	}
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return rec, err
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			// An atomic write that did not finish; its target is intact.
			if err := os.Remove(filepath.Join(s.opts.Dir, name)); err != nil {
				return rec, err
			}
			continue
		}
		if id, ok := parseSegName(name); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	s.nextID = firstID
	for i, id := range ids {
		seg, err := s.recoverSegment(id, i == len(ids)-1, cursor, &rec)
		if err != nil {
			return rec, err
		}
		if seg != nil {
			s.segs = append(s.segs, seg)
			s.bytes += seg.size
			s.unread += seg.records - seg.read
			rec.Segments++
			rec.Records += seg.records - seg.read
		}
		s.nextID = id + 1
	}
	s.peak = s.bytes
	return rec, syncDir(s.opts.Dir)
}

// recoverSegment scans one segment and repairs what a crash can leave. It
// returns nil for a segment with nothing left to deliver (removed) or a
// corrupt one (renamed and recorded in rec).
func (s *Spool) recoverSegment(id uint64, newest bool, cursor map[uint64]int64, rec *Recovery) (*segment, error) {
	path := filepath.Join(s.opts.Dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off, hasCursor := cursor[id]
	if !hasCursor {
		off = -1
	}
	sc := scanSegment(f, fi.Size(), s.opts.MaxRecordBytes, newest, off)
	if sc.err != nil {
		f.Close()
		serr := &SegmentError{Path: path, Records: sc.records, AtLeast: true, Err: sc.err}
		if err := os.Rename(path, path+corruptSuffix); err != nil {
			serr.Err = errors.Join(serr.Err, fmt.Errorf("renaming: %w", err))
		}
		rec.Skipped = append(rec.Skipped, serr)
		return nil, nil
	}
	if sc.torn {
		if sc.end > 0 {
			rec.Torn++
		}
		if err := f.Truncate(sc.end); err != nil {
			return nil, fmt.Errorf("truncating the torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("syncing %s: %w", path, err)
		}
	}
	seg := &segment{
		id: id, size: sc.end, records: sc.records, firstTS: sc.firstTS,
		readOff: headerSize, ackOff: headerSize, sealed: true,
	}
	if hasCursor && sc.before >= 0 {
		seg.read, seg.readOff, seg.ackOff = sc.before, off, off
	}
	if seg.read == seg.records {
		f.Close()
		return nil, os.Remove(path)
	}
	return seg, nil
}
