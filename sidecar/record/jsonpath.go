package record

// pathTracker rebuilds the path of a value of a JSON document the scanner
// has validated, from the document's start or from where it was last
// asked: values are asked about in document order, so each document is
// read at most once more, and only when a value in it was found.
type pathTracker struct {
	src []byte
	pos int
	// stack holds the key of the value being read in each open container,
	// or arrayKey in an array.
	stack []keySpan
}

// keySpan is a key's bytes in src.
type keySpan struct{ start, end int }

// arrayKey stands for the elements of an array, collapsed in paths.
var arrayKey = keySpan{-1, -1}

func (p *pathTracker) reset(src []byte) {
	p.src, p.pos, p.stack = src, 0, p.stack[:0]
}

// appendPath appends the path of the value that starts at at, such as
// .customer.items[].email, to dst.
func (p *pathTracker) appendPath(dst []byte, at int) []byte {
	p.advance(at)
	for _, k := range p.stack {
		if k == arrayKey {
			dst = append(dst, "[]"...)
		} else {
			dst = append(append(dst, '.'), p.src[k.start:k.end]...)
		}
	}
	return dst
}

// advance reads src from pos to at, keeping the stack of keys.
func (p *pathTracker) advance(at int) {
	src := p.src
	for i := p.pos; i < at; i++ {
		switch src[i] {
		case '{':
			p.stack = append(p.stack, keySpan{})
		case '[':
			p.stack = append(p.stack, arrayKey)
		case '}', ']':
			p.stack = p.stack[:len(p.stack)-1]
		case '"':
			start := i + 1
			i = stringEnd(src, start)
			// A string followed by a colon is a key of the innermost object.
			j := i + 1
			for j < len(src) && jsonSpace[src[j]] {
				j++
			}
			if j < len(src) && src[j] == ':' && len(p.stack) > 0 {
				p.stack[len(p.stack)-1] = keySpan{start, i}
			}
		}
	}
	p.pos = at
}

// stringEnd returns the index of the quote that closes the string whose
// content starts at i.
func stringEnd(src []byte, i int) int {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

// keyBefore returns the key of the value that starts at at, read back
// from src: the string before the colon before it; nil for an array's
// element or a document's top-level value.
func keyBefore(src []byte, at int) []byte {
	i := at - 1
	for i >= 0 && jsonSpace[src[i]] {
		i--
	}
	if i < 0 || src[i] != ':' {
		return nil
	}
	i--
	for i >= 0 && jsonSpace[src[i]] {
		i--
	}
	end := i
	// The key's opening quote is the first quote back that no backslash
	// escapes.
	for i--; i >= 0; i-- {
		if src[i] != '"' {
			continue
		}
		n := 0
		for k := i - 1; k >= 0 && src[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return src[i+1 : end]
		}
	}
	return nil
}
