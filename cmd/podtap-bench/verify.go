package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
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
// X-Request-Seq header, or a gRPC call's first request message name.
var (
	seqMarker  = []byte(`"x-request-seq":["`)
	callMarker = []byte(`"name":"call-`)
)

// checkRecords reads JSON lines from r and finds in each the number of its
// exchange after marker.
func checkRecords(r io.Reader, marker []byte, n int) (completeness, error) {
	var c completeness
	seen := make([]bool, n+1)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		c.Records++
		i := bytes.Index(line, marker)
		if i < 0 {
			c.Unknown++
			continue
		}
		num := 0
		for _, b := range line[i+len(marker):] {
			if b < '0' || b > '9' || num > n {
				break
			}
			num = num*10 + int(b-'0')
		}
		switch {
		case num < 1 || num > n:
			c.Unknown++
		case seen[num]:
			c.Duplicates++
		default:
			seen[num] = true
			c.Unique++
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("reading records: %w", err)
	}
	return c, nil
}

func checkFile(path string, marker []byte, n int) (completeness, error) {
	f, err := os.Open(path)
	if err != nil {
		return completeness{}, err
	}
	defer f.Close()
	return checkRecords(f, marker, n)
}
