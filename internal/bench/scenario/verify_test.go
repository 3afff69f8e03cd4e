package scenario

import (
	"strings"
	"testing"
)

// TestChecker writes records split at every byte boundary: the counts must
// not depend on where the writes fall.
func TestChecker(t *testing.T) {
	records := strings.Join([]string{
		`{"response":{"headers":{"x-request-seq":["1"]}}}`,
		`{"response":{"headers":{"x-request-seq":["3"]}}}`,
		`{"response":{"headers":{"x-request-seq":["1"]}}}`, // a duplicate
		`{"response":{"headers":{}}}`,                      // no number
		`{"response":{"headers":{"x-request-seq":["9"]}}}`, // outside 1..N
		`{"response":{"headers":{"x-request-seq":["2"]}}}`,
	}, "\n") // the last line has no newline
	want := completeness{Records: 6, Unique: 3, Duplicates: 1, Unknown: 2}
	for split := range len(records) {
		c := newChecker(seqMarker, 3)
		c.Write([]byte(records[:split]))
		c.Write([]byte(records[split:]))
		c.Close()
		if c.completeness != want {
			t.Fatalf("split at %d: %+v, want %+v", split, c.completeness, want)
		}
	}
}
