package flow

import (
	"math"
	"runtime/debug"

	"github.com/podtap/podtap/config"
)

// Reasons of metrics.ConnectionsShed: which cap refused a new connection.
const (
	ShedLimit  = "limit"  // flow.max_connections
	ShedMemory = "memory" // what fits the Go memory limit (GOMEMLIMIT)
)

const (
	// connFootprint is the heap counted for each tracked connection: one
	// that stalled inside a request, headers and the first bytes of its
	// body, holds about 3.4 KiB (TestStalledPartialRequests).
	connFootprint = 4 << 10
	// connShareNum/connShareDen of the Go memory limit, less reassembly's
	// own cap (flow.max_buffer_bytes), is what tracked connections may
	// take; the rest is the collector's headroom and the pairs, batches
	// and sink queue in flight.
	connShareNum, connShareDen = 3, 4
)

// connectionCap is the number of connections tracked at once, and the
// reason of the cap that sets it: flow.max_connections, or fewer when that
// many would not fit the Go memory limit (GOMEMLIMIT, which the webhook
// sets from the container's memory limit). Without a memory limit the
// setting alone decides.
func connectionCap(cfg config.Flow) (int, string) {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return cfg.MaxConnections, ShedLimit
	}
	budget := limit/connShareDen*connShareNum - int64(cfg.MaxBufferBytes)
	fit := max(budget/connFootprint, 1)
	if fit < int64(cfg.MaxConnections) {
		return int(fit), ShedMemory
	}
	return cfg.MaxConnections, ShedLimit
}
