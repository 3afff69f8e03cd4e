package http2

// hfield is one decoded header field. NameUnknown and ValueUnknown mark
// parts that came from a dynamic-table entry this decoder never saw, which
// happens when the capture joined the connection late or lost bytes.
type hfield struct {
	Name, Value  string
	NameUnknown  bool
	ValueUnknown bool
}

// entryOverhead is the per-entry overhead of RFC 7541 §4.1.
const entryOverhead = 32

// size is the entry's table size. For an entry whose name is unknown it is
// a lower bound, which keeps eviction conservative: an entry kept too long
// is never referenced by a correct encoder, so it cannot resolve wrongly.
func (f *hfield) size() uint32 {
	return uint32(len(f.Name)+len(f.Value)) + entryOverhead
}

// dynTable is the HPACK dynamic table as a ring, newest entry last.
type dynTable struct {
	ents []hfield
	head int // position of the oldest entry
	n    int
	size uint32
	max  uint32
}

// get returns the i-th newest entry, 1-based; ok is false past the entries
// held.
func (t *dynTable) get(i uint64) (hfield, bool) {
	if i == 0 || i > uint64(t.n) {
		return hfield{}, false
	}
	return t.ents[(t.head+t.n-int(i))%len(t.ents)], true
}

func (t *dynTable) add(f hfield) {
	sz := f.size()
	if sz > t.max {
		// RFC 7541 §4.4: an entry larger than the table empties it.
		t.clear()
		return
	}
	for t.size+sz > t.max && t.n > 0 {
		t.evict()
	}
	if t.n == len(t.ents) {
		t.grow()
	}
	t.ents[(t.head+t.n)%len(t.ents)] = f
	t.n++
	t.size += sz
}

func (t *dynTable) grow() {
	c := 2 * len(t.ents)
	if c == 0 {
		c = 16
	}
	ents := make([]hfield, c)
	for i := range t.n {
		ents[i] = t.ents[(t.head+i)%len(t.ents)]
	}
	t.ents, t.head = ents, 0
}

func (t *dynTable) evict() {
	e := &t.ents[t.head]
	t.size -= e.size()
	*e = hfield{}
	t.head = (t.head + 1) % len(t.ents)
	t.n--
}

func (t *dynTable) setMax(max uint32) {
	t.max = max
	for t.size > t.max && t.n > 0 {
		t.evict()
	}
}

func (t *dynTable) clear() {
	for t.n > 0 {
		t.evict()
	}
	t.head = 0
}
