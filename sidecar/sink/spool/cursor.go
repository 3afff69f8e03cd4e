package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The cursor file remembers, per segment, the offset before which every
// record was delivered, so a restart does not send those records again.
// Without it (or when it is unreadable) delivery is still at least once:
// whole segments are sent again.
const (
	cursorName  = "cursor"
	cursorMagic = "podtapC1"
)

// encodeCursor lays out magic, count, (segment id, offset) pairs, CRC-32C.
func encodeCursor(pos map[uint64]int64) []byte {
	b := make([]byte, 0, len(cursorMagic)+4+16*len(pos)+4)
	b = append(b, cursorMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pos)))
	for id, off := range pos {
		b = binary.LittleEndian.AppendUint64(b, id)
		b = binary.LittleEndian.AppendUint64(b, uint64(off))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCursor(b []byte) (map[uint64]int64, error) {
	const fixed = len(cursorMagic) + 4 + 4
	if len(b) < fixed || string(b[:len(cursorMagic)]) != cursorMagic {
		return nil, errors.New("not a cursor file")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	n := binary.LittleEndian.Uint32(body[len(cursorMagic):])
	entries := body[len(cursorMagic)+4:]
	if uint64(len(entries)) != uint64(n)*16 {
		return nil, fmt.Errorf("length %d does not hold %d entries", len(entries), n)
	}
	pos := make(map[uint64]int64, n)
	for i := 0; i < len(entries); i += 16 {
		pos[binary.LittleEndian.Uint64(entries[i:])] = int64(binary.LittleEndian.Uint64(entries[i+8:]))
	}
	return pos, nil
}

func readCursor(dir string) (map[uint64]int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cursor: %w", err)
	}
	pos, err := decodeCursor(b)
	if err != nil {
		return nil, fmt.Errorf("cursor %s: %w", filepath.Join(dir, cursorName), err)
	}
	return pos, nil
}

// writeCursor replaces the cursor atomically: a crash leaves the old or the
// new one, never a mix.
func writeCursor(dir string, pos map[uint64]int64) error {
	if err := writeFileAtomic(dir, cursorName, encodeCursor(pos)); err != nil {
		return fmt.Errorf("writing the cursor: %w", err)
	}
	return nil
}

// writeFileAtomic writes name through a temporary file, synced, renamed
// over name, and syncs the directory so the rename survives a power loss.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
