package scenario

import (
	"bytes"
	"io"
)

// completeness is how the records of a run compare with the exchanges in
// its capture, each of which carries a number 1..N.
type completeness struct {
	// Records is the number of records written.
	Records int64 `json:"records"`
	// Unique is the number of exchanges 1..N found in them.
	Unique int64 `json:"unique"`
	// Duplicates are records of an exchange already found; Unknown are
	// records with no number or one outside 1..N.
	Duplicates int64 `json:"duplicates"`
	Unknown    int64 `json:"unknown"`
}

// Missing is the number of exchanges without a record.
func (c completeness) Missing(n int) int64 { return int64(n) - c.Unique }

// Markers of an exchange's number in a record: an HTTP response's
// X-Request-Seq header, or a gRPC call's first request message name. They
// leave out the opening quote: bytes.Index skips ahead to a marker's first
// byte, and a quote, on every few bytes of JSON, would defeat that.
var (
	seqMarker  = []byte(`x-request-seq":["`)
	callMarker = []byte(`name":"call-`)
)

// checker is an io.Writer of JSON lines that finds in each the number of
// its exchange after marker. Replays write their records straight into
// one, so that what is measured is podtap and not how the kernel fills a
// file: on this kind of VM, first-touch page allocation made writing the
// same gigabyte to tmpfs cost anywhere from 0.4 to 2.2 CPU-seconds.
type checker struct {
	completeness
	marker []byte
	seen   []bool
	// partial is a line whose newline has not been written yet.
	partial []byte
}

func newChecker(marker []byte, n int) *checker {
	return &checker{marker: marker, seen: make([]bool, n+1)}
}

func (c *checker) Write(p []byte) (int, error) {
	n := len(p)
	if len(c.partial) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			return n, nil
		}
		c.partial = append(c.partial, p[:i]...)
		c.line(c.partial)
		c.partial = c.partial[:0]
		p = p[i+1:]
	}
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		c.line(p[:i])
		p = p[i+1:]
	}
	c.partial = append(c.partial, p...)
	return n, nil
}

// Close counts a last line that has no newline.
func (c *checker) Close() error {
	if len(c.partial) > 0 {
		c.line(c.partial)
		c.partial = nil
	}
	return nil
}

func (c *checker) line(line []byte) {
	c.Records++
	i := bytes.Index(line, c.marker)
	if i < 0 {
		c.Unknown++
		return
	}
	n := len(c.seen) - 1
	num := 0
	for _, b := range line[i+len(c.marker):] {
		if b < '0' || b > '9' || num > n {
			break
		}
		num = num*10 + int(b-'0')
	}
	switch {
	case num < 1 || num > n:
		c.Unknown++
	case c.seen[num]:
		c.Duplicates++
	default:
		c.seen[num] = true
		c.Unique++
	}
}

// checkRecords reads JSON lines from r and checks them as checker does.
func checkRecords(r io.Reader, marker []byte, n int) (completeness, error) {
	c := newChecker(marker, n)
	if _, err := io.Copy(c, r); err != nil {
		return c.completeness, err
	}
	c.Close()
	return c.completeness, nil
}
