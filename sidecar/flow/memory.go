package flow

import (
	"fmt"

	"github.com/gopacket/gopacket/reassembly"

	"github.com/podtap/podtap/config"
)

// pageFootprint is the memory one reassembly page takes: 1900 bytes of data
// plus its links and metadata. The caps are converted to pages by it, so
// they bound memory rather than payload (a 10-byte segment still takes a
// whole page).
const pageFootprint = 2048

// assemblerOptions turns the byte caps into reassembly's page limits. The
// per-connection cap covers both sides and reassembly counts pages per
// side, so each side gets half. The total cap is split evenly
// between workers, since each assembler counts only its own pages. Past
// either limit reassembly skips to the first buffered segment (a gap)
// instead of buffering more.
func assemblerOptions(cfg config.Flow, workers int) reassembly.AssemblerOptions {
	return reassembly.AssemblerOptions{
		MaxBufferedPagesPerConnection: max(1, int(cfg.MaxConnBufferBytes)/2/pageFootprint),
		MaxBufferedPagesTotal:         max(1, int(cfg.MaxBufferBytes)/pageFootprint/workers),
	}
}

// bufferedBytes is the out-of-order data an assembler holds. Reassembly
// reports its page count only through Dump, so it is read from there, once
// per flush interval.
func bufferedBytes(a *reassembly.Assembler) int {
	var pages int
	if _, err := fmt.Sscanf(a.Dump(), "pageCache: used: %d:", &pages); err != nil {
		return 0
	}
	return pages * pageFootprint
}
