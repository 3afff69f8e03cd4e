package http2

import (
	"errors"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// defaultTableSize is the initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113
// §6.5.2) and so the initial dynamic table size of every connection.
const defaultTableSize = 4096

// maxTableBytes caps the dynamic table kept per side. A peer may allow
// a larger one; entries past the cap are forgotten, and references to them
// then resolve as unknown, never wrongly.
const maxTableBytes = 64 << 10

var (
	errTruncated   = errors.New("hpack: truncated field")
	errIntOverflow = errors.New("hpack: integer overflow")
	errIndexZero   = errors.New("hpack: index 0")
)

// decoder is an HPACK decoder (RFC 7541) that survives a late start.
// x/net's hpack.Decoder fails a whole block on a reference to an entry it
// does not hold; a passive observer that joined mid-connection holds only
// the entries inserted since, so this decoder records exactly those and
// resolves a reference to anything older as unknown. Eviction never drops
// an entry the encoder may still reference, so a field that resolves is
// always right.
type decoder struct {
	table dynTable
	// allowed is the decoding side's SETTINGS_HEADER_TABLE_SIZE as last
	// seen: the table size assumed while the real one is not known.
	allowed uint32
	// partial reports that the decoder joined late: entries older than the
	// ones it saw inserted may exist and are unknown.
	partial bool
	// trueMax is the encoder's table size from its last size update;
	// sizeKnown says whether one was seen since the decoder (re)started.
	trueMax   uint32
	sizeKnown bool
	// unknown counts references to unknown entries since the last take.
	unknown int
}

func newDecoder(partial bool) *decoder {
	d := &decoder{allowed: defaultTableSize}
	d.reset(partial)
	return d
}

// reset forgets the table. A partial decoder starts from a table of
// unknown content, e.g. after bytes were lost.
func (d *decoder) reset(partial bool) {
	d.table.clear()
	d.partial = partial
	d.sizeKnown = !partial
	d.trueMax = defaultTableSize
	if partial {
		d.table.setMax(min(max(d.allowed, defaultTableSize), maxTableBytes))
	} else {
		d.table.setMax(defaultTableSize)
	}
}

// setAllowed applies the decoding side's SETTINGS_HEADER_TABLE_SIZE. It
// only bounds the encoder, which announces the size it really uses with a
// size update, so it matters while that size is not known.
func (d *decoder) setAllowed(v uint32) {
	d.allowed = v
	if !d.sizeKnown {
		d.table.setMax(min(max(v, defaultTableSize), maxTableBytes))
	}
}

// takeUnknown returns and clears the count of unknown references.
func (d *decoder) takeUnknown() int {
	n := d.unknown
	d.unknown = 0
	return n
}

// decode appends the fields of one complete header block to dst. On error
// the table may hold part of the block's insertions; the caller resets it.
func (d *decoder) decode(dst []hfield, p []byte) ([]hfield, error) {
	for len(p) > 0 {
		b := p[0]
		var err error
		switch {
		case b&0x80 != 0: // indexed field
			var idx uint64
			if idx, p, err = readInt(p, 7); err != nil {
				return dst, err
			}
			if idx == 0 {
				return dst, errIndexZero
			}
			dst = append(dst, d.at(idx))
		case b&0xc0 == 0x40: // literal with incremental indexing
			dst, p, err = d.literal(dst, p, 6, true)
		case b&0xe0 == 0x20: // dynamic table size update
			var v uint64
			if v, p, err = readInt(p, 5); err != nil {
				return dst, err
			}
			d.sizeUpdate(v)
		default: // literal without indexing (0000) or never indexed (0001)
			dst, p, err = d.literal(dst, p, 4, false)
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// at resolves an index of the combined static and dynamic table.
func (d *decoder) at(idx uint64) hfield {
	if idx <= uint64(len(staticTable)) {
		return staticTable[idx-1]
	}
	if f, ok := d.table.get(idx - uint64(len(staticTable))); ok {
		return f
	}
	d.unknown++
	// The encoder says the entry exists, so a complete-looking table was
	// not: treat it as joined late from here on.
	d.partial = true
	return hfield{NameUnknown: true, ValueUnknown: true}
}

func (d *decoder) literal(dst []hfield, p []byte, prefix uint, index bool) ([]hfield, []byte, error) {
	idx, p, err := readInt(p, prefix)
	if err != nil {
		return dst, p, err
	}
	var f hfield
	if idx > 0 {
		nf := d.at(idx)
		f.Name, f.NameUnknown = nf.Name, nf.NameUnknown
	} else {
		if f.Name, p, err = readString(p); err != nil {
			return dst, p, err
		}
		f.Name = strings.ToLower(f.Name)
	}
	if f.Value, p, err = readString(p); err != nil {
		return dst, p, err
	}
	if index {
		d.insert(f)
	}
	return append(dst, f), p, nil
}

func (d *decoder) insert(f hfield) {
	d.table.add(f)
	// Once the entries seen fill the encoder's table, no older entry can
	// remain in it: the decoder is complete again.
	if d.partial && d.sizeKnown && d.table.size+entryOverhead > d.trueMax {
		d.partial = false
	}
}

func (d *decoder) sizeUpdate(v uint64) {
	d.trueMax = uint32(min(v, 1<<32-1))
	d.sizeKnown = true
	d.table.setMax(uint32(min(v, maxTableBytes)))
	if d.partial && d.table.size+entryOverhead > d.trueMax {
		d.partial = false
	}
}

// readInt reads an HPACK integer with an n-bit prefix (RFC 7541 §5.1).
func readInt(p []byte, n uint) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, errTruncated
	}
	mask := uint64(1)<<n - 1
	v := uint64(p[0]) & mask
	if v < mask {
		return v, p[1:], nil
	}
	var m uint
	for i := 1; i < len(p); i++ {
		b := p[i]
		v += uint64(b&0x7f) << m
		if b&0x80 == 0 {
			return v, p[i+1:], nil
		}
		m += 7
		if m > 28 {
			// Nothing in a header block needs more than 32 bits.
			return 0, p, errIntOverflow
		}
	}
	return 0, p, errTruncated
}

// readString reads an HPACK string literal (RFC 7541 §5.2).
func readString(p []byte) (string, []byte, error) {
	if len(p) == 0 {
		return "", p, errTruncated
	}
	huff := p[0]&0x80 != 0
	l, p, err := readInt(p, 7)
	if err != nil {
		return "", p, err
	}
	if l > uint64(len(p)) {
		return "", p, errTruncated
	}
	raw := p[:l]
	p = p[l:]
	if !huff {
		return string(raw), p, nil
	}
	s, err := hpack.HuffmanDecodeToString(raw)
	if err != nil {
		return "", p, err
	}
	return s, p, nil
}
