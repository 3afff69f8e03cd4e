package record

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/podtap/podtap/sidecar/classify"
)

// maxJSONDepth bounds nesting, so that the container stack stays small
// whatever the body; deeper bodies are emitted as strings.
const maxJSONDepth = 256

// redactedValue replaces masked values.
const redactedValue = `"[REDACTED]"`

// jsonCompactor validates a JSON document and appends it compacted (no
// insignificant whitespace, so a record stays one line) in a single pass,
// masking the values of object keys in redact. It is the hot path of
// encoding, so it is one loop over the bytes with an explicit container
// stack rather than a call per token, and it copies src to dst in runs: a
// run ends only at whitespace to drop, a masked value or a string to
// repair, so a document that is already compact, as most API bodies are, is
// copied by one append.
type jsonCompactor struct {
	src []byte
	// done is where the bytes of src not yet copied to dst start.
	done   int
	dst    []byte
	redact *fieldSet
	// hits collects the masked keys, lower-cased.
	hits []string
	// masks are the masked values being scanned, innermost last.
	masks []mask
	// objects has bit d set when the container at depth d is an object.
	objects [maxJSONDepth/64 + 1]uint64
	// cls classifies string values; nil when classification is off.
	cls *classifier
}

// mask is a masked value in progress: once the scan is back at depth, the
// value's output from mark on is replaced by redactedValue.
type mask struct {
	depth uint
	mark  int
	name  string
}

// appendCompactJSON appends src compacted to dst. ok is false when src is
// not valid JSON; dst is then returned unchanged.
func appendCompactJSON(dst, src []byte, redact *fieldSet) (out []byte, hits []string, ok bool) {
	return appendClassifiedJSON(dst, src, redact, nil)
}

// appendClassifiedJSON is appendCompactJSON that also classifies every
// string value with cls, at paths under cls.prefix, and masks the types it
// masks. What cls collects is kept when src is not valid JSON too; the
// caller then discards it.
func appendClassifiedJSON(dst, src []byte, redact *fieldSet, cls *classifier) (out []byte, hits []string, ok bool) {
	c := jsonCompactor{src: src, dst: dst, redact: redact, cls: cls}
	if cls != nil {
		cls.paths.reset(src)
	}
	end, ok := c.scan()
	if !ok {
		return dst, nil, false
	}
	if end = c.space(end); end != len(src) {
		return dst, nil, false
	}
	c.flush(end)
	return c.dst, c.hits, true
}

// flush copies the run src[done:i].
func (c *jsonCompactor) flush(i int) {
	c.dst = append(c.dst, c.src[c.done:i]...)
	c.done = i
}

// space returns the end of the whitespace at i, which it drops. It runs
// between every two tokens, so its common case (no whitespace) is kept
// small enough to be inlined.
func (c *jsonCompactor) space(i int) int {
	if i < len(c.src) && jsonSpace[c.src[i]] {
		return c.dropSpace(i)
	}
	return i
}

//go:noinline
func (c *jsonCompactor) dropSpace(i int) int {
	c.flush(i)
	for i < len(c.src) && jsonSpace[c.src[i]] {
		i++
	}
	c.done = i
	return i
}

// jsonSpace marks JSON's insignificant whitespace.
var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// scan reads one value from the start of src and returns where it ends.
// It is a state machine over three states: a value is expected, a key is
// expected, or a value has just ended. The state every token's step reads
// (the depth, where masks end, the redaction filter) is kept in locals
// rather than loaded through c.
func (c *jsonCompactor) scan() (int, bool) {
	src := c.src
	i := 0
	var depth uint
	// stop is the depth at which a value's end needs handling: that of the
	// innermost masked value, whose output is then replaced, or else 0,
	// where the top-level value ends. Both in one variable make a value's
	// end one compare. No mask is open at depth 0: keys open masks, and
	// keys are inside objects.
	var stop uint
	// filter is the redaction names' filter, copied so that testing a key
	// against it costs no load of c.redact.
	var filter fieldFilter
	if c.redact != nil {
		filter = c.redact.filter
	}
value:
	if i >= len(src) {
		return i, false
	}
	switch src[i] {
	case '"':
		// The first shortLen bytes of a string are read here one at a time,
		// and scanString, a call that reads eight bytes a step, reads on
		// only past them or from a byte that is not plain. Most strings of
		// a dense body end within them, and for those the byte loop is the
		// faster: the branch predictor learns their lengths, which repeat
		// from one object to the next, so the scan runs ahead of the loads,
		// whereas after an eight-byte step the next token waits for the
		// step's arithmetic. The key state below does the same.
		// The loop also notes whether an '@' or a ':' was read, so that
		// a short string of letters the classifier would reject for want
		// of one costs it no call.
		start := i
		j := i + 1
		var seen uint8
		for end := min(j+shortLen, len(src)); j < end; j++ {
			k := stringByte[src[j]]
			if k == 0 {
				break
			}
			seen |= k
		}
		if j < len(src) && src[j] == '"' {
			i = j + 1
			if c.cls != nil {
				if v := src[start+1 : j]; classify.MayMatch(v) && (seen&atOrColon != 0 || !classify.NeedsAtOrColon(v)) {
					c.classifyString(start, i)
				}
			}
			goto after
		}
		var ok, bad bool
		if i, ok, bad = scanString(src, j); !ok {
			return i, false
		}
		if bad {
			c.repairString(start, i)
		} else if c.cls != nil && classify.MayMatch(src[start+1:i-1]) {
			c.classifyString(start, i)
		}
	case '{':
		if i = c.space(i + 1); i < len(src) && src[i] == '}' {
			i++
			goto after
		}
		// A container is entered only once it is known not to be empty:
		// an empty one at the bound is accepted, a value past it is not.
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		c.objects[depth/64] |= 1 << (depth % 64)
		goto key
	case '[':
		if i = c.space(i + 1); i < len(src) && src[i] == ']' {
			i++
			goto after
		}
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		c.objects[depth/64] &^= 1 << (depth % 64)
		goto value
	case 't':
		if i = literal(src, i, "true"); i < 0 {
			return 0, false
		}
	case 'f':
		if i = literal(src, i, "false"); i < 0 {
			return 0, false
		}
	case 'n':
		if i = literal(src, i, "null"); i < 0 {
			return 0, false
		}
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// Most numbers are positive and have no exponent. They are read
		// here rather than by number, a call, which reads the others from
		// their start.
		start := i
		i++
		for i < len(src) && src[i]-'0' < 10 {
			i++
		}
		if i < len(src) && src[i] == '.' {
			i++
			fraction := i
			for i < len(src) && src[i]-'0' < 10 {
				i++
			}
			if i == fraction {
				return i, false
			}
		}
		if i < len(src) && src[i]|0x20 == 'e' {
			if i = number(src, start); i < 0 {
				return 0, false
			}
		}
	case '-', '0':
		if i = number(src, i); i < 0 {
			return 0, false
		}
	case ' ', '\t', '\n', '\r':
		// Whitespace is looked for only where a token was not found,
		// which in compact documents is never.
		i = c.dropSpace(i)
		goto value
	default:
		return i, false
	}

after:
	if depth == stop {
		if depth == 0 {
			return i, true
		}
		n := len(c.masks) - 1
		m := c.masks[n]
		c.masks = c.masks[:n]
		c.dst = append(c.dst[:m.mark], redactedValue...)
		c.done = i
		c.hits = append(c.hits, m.name)
		stop = 0
		if n > 0 {
			stop = c.masks[n-1].depth
		}
	}
separator:
	if i >= len(src) {
		return i, false
	}
	// The cases are tested in order, the common one first.
	switch b := src[i]; {
	case b == ',':
		i++
		if c.inObject(depth) {
			goto key
		}
		goto value
	case b == '}':
		if !c.inObject(depth) {
			return i, false
		}
	case b == ']':
		if c.inObject(depth) {
			return i, false
		}
	case jsonSpace[b]:
		i = c.dropSpace(i)
		goto separator
	default:
		return i, false
	}
	depth--
	i++
	goto after

key:
	if i >= len(src) {
		return i, false
	}
	if src[i] != '"' {
		if jsonSpace[src[i]] {
			i = c.dropSpace(i)
			goto key
		}
		return i, false
	}
	{
		// Keys, short in practice, need no bound on the byte loop.
		start := i
		j := i + 1
		for j < len(src) && plainString[src[j]] {
			j++
		}
		if j < len(src) && src[j] == '"' {
			i = j + 1
			goto keyEnd
		}
		{
			var ok, bad bool
			if i, ok, bad = scanString(src, j); !ok {
				return i, false
			}
			if bad {
				c.repairString(start, i)
			}
		}
	keyEnd:
		// The key, src[start+1:quote], is sliced only for lookupField.
		quote := i - 1
		if i >= len(src) || src[i] != ':' {
			if i = c.space(i); i >= len(src) || src[i] != ':' {
				return i, false
			}
		}
		// Whitespace after the colon is dropped by value; a mask's mark
		// before it is still right, since dropped bytes are not copied.
		i++
		// Keys with escapes are compared as written, and long keys are never
		// masked: sensitive key names are short plain ASCII. The filter
		// rejects nearly every key before lookupField's call; src[start+1]
		// is the key's firstByte.
		if n := quote - start - 1; n <= 64 && filter.has(n, src[start+1]) {
			if name, masked := lookupField(c.redact, src[start+1:quote]); masked {
				// The value is still validated; what it copies is cut
				// back to mark once the value ends.
				c.flush(i)
				c.masks = append(c.masks, mask{depth: depth, mark: len(c.dst), name: name})
				stop = depth
			}
		}
	}
	goto value
}

// classifyString classifies the string token src[start:end], a value,
// and masks it when its type is masked and no name mask holds it already.
// The scanner keeps no stack of keys, which would cost every key a store:
// the value's key is read back from src, and its path is rebuilt only
// for a value found.
//
//go:noinline
func (c *jsonCompactor) classifyString(start, end int) {
	v := c.src[start+1 : end-1]
	// No validator accepts a backslash, so a value with escapes is read as
	// written, and rejected, unless it may be a PEM block (whose newlines
	// JSON escapes) or a bearer token (whose slashes it may).
	if b := v[0]; (b == '-' || b == 'B' || b == 'b') && bytes.IndexByte(v, '\\') >= 0 {
		c.cls.scratch = unescapeJSON(c.cls.scratch[:0], v)
		v = c.cls.scratch
	}
	// Only the validators of values that start with a digit or a colon
	// (dates of birth, IP addresses) read the key.
	var key []byte
	if b := v[0]; b-'0' < 10 || b == ':' {
		key = keyBefore(c.src, start)
	}
	t := classify.Value(key, v)
	if t == classify.None {
		return
	}
	c.cls.path = c.cls.paths.appendPath(append(c.cls.path[:0], c.cls.prefix...), start)
	if c.cls.add(t) && len(c.masks) == 0 {
		c.flush(start)
		c.dst = append(c.dst, redactedValue...)
		c.done = end
	}
}

// shortLen is how many bytes of a string value scan reads one at a time
// before it leaves the rest to scanString, so that long strings are read
// eight bytes a step.
const shortLen = 16

// inObject reports whether the container at depth is an object.
func (c *jsonCompactor) inObject(depth uint) bool {
	return c.objects[depth/64]&(1<<(depth%64)) != 0
}

// repairString replaces the string token src[start:end], which holds
// invalid UTF-8, with a copy in which each invalid byte is U+FFFD.
func (c *jsonCompactor) repairString(start, end int) {
	c.flush(start)
	for tok := c.src[start:end]; len(tok) > 0; {
		r, size := utf8.DecodeRune(tok)
		if r == utf8.RuneError && size == 1 {
			c.dst = append(c.dst, "\ufffd"...)
		} else {
			c.dst = append(c.dst, tok[:size]...)
		}
		tok = tok[size:]
	}
	c.done = end
}

func literal(src []byte, i int, lit string) int {
	if len(src)-i < len(lit) || string(src[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// plainString marks the bytes a string token holds as they are: printable
// ASCII but the quote and the backslash.
var plainString = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// stringByte classes the bytes of a string value for scan's byte loop:
// 0 for a byte that is not plain, plainByte for one that is, atOrColon
// added for '@' and ':'.
var stringByte = func() (t [256]uint8) {
	for b := range t {
		if plainString[b] {
			t[b] = plainByte
		}
	}
	t['@'] |= atOrColon
	t[':'] |= atOrColon
	return t
}()

const (
	plainByte = 1 << iota
	atOrColon
)

// SWAR constants: a byte of each in all eight lanes.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// special8 marks the bytes of x that a string cannot hold as they are (a
// quote, a backslash, a control character or non-ASCII) by setting their
// high bit. Each test adds to the low seven bits of every byte, which can
// carry into the byte's high bit but not out of the byte, so every mark is
// exact and the tests need no borrow-prone subtraction.
func special8(x uint64) uint64 {
	low := x &^ lanes80
	printable := low + lanes01*(0x80-0x20)
	notQuote := (low ^ lanes01*'"') + lanes01*0x7f
	notBackslash := (low ^ lanes01*'\\') + lanes01*0x7f
	return (x | ^(printable & notQuote & notBackslash)) & lanes80
}

// scanString advances over the rest of a string token from src[i], a byte
// inside it, validating escapes and control characters. bad reports
// invalid UTF-8, which encoding/json accepts but a record must not carry.
// Plain bytes are skipped eight at a time: the first byte that is not
// plain is found in one step.
func scanString(src []byte, i int) (end int, ok, bad bool) {
	for {
		for i+8 <= len(src) {
			m := special8(binary.LittleEndian.Uint64(src[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(src) && plainString[src[i]] {
			i++
		}
		if i >= len(src) {
			return i, false, bad
		}
		switch b := src[i]; {
		case b == '"':
			return i + 1, true, bad
		case b == '\\':
			if i+1 >= len(src) {
				return i, false, bad
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) {
					return i, false, bad
				}
				for _, h := range src[i+2 : i+6] {
					if !isHex(h) {
						return i, false, bad
					}
				}
				i += 6
			default:
				return i, false, bad
			}
		case b < 0x20:
			return i, false, bad
		default:
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				bad = true
			}
			i += size
		}
	}
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

// number returns the end of the number at src[i], or -1.
func number(src []byte, i int) int {
	if src[i] == '-' {
		i++
	}
	if i >= len(src) {
		return -1
	}
	if src[i] == '0' {
		i++
	} else if i = digits(src, i); i < 0 {
		return -1
	}
	if i < len(src) && src[i] == '.' {
		if i = digits(src, i+1); i < 0 {
			return -1
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i = digits(src, i); i < 0 {
			return -1
		}
	}
	return i
}

// digits returns the end of one or more digits at src[i], or -1.
func digits(src []byte, i int) int {
	start := i
	for i < len(src) && src[i]-'0' < 10 {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
