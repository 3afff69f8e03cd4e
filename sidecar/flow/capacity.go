package flow

import (
	"math"
	"runtime/debug"

	"github.com/podtap/podtap/config"
)

// Reasons of metrics.ConnectionsShed: what gave way at the connection cap.
const (
	// ShedEvicted: a tracked connection, the one silent the longest,
	// stopped being tracked to make room for a new one.
	ShedEvicted = "evicted"
	// ShedRefused: a new connection was not tracked, as every tracked one
	// had carried a packet within the flush interval.
	ShedRefused = "refused"
	// ShedMemoryPressure: a tracked connection, among those silent the
	// longest, stopped being tracked because the live heap neared the Go
	// memory limit.
	ShedMemoryPressure = "memory_pressure"
)

// Which cap is in force, for the logs.
const (
	capLimit  = "flow.max_connections"
	capMemory = "GOMEMLIMIT" // what fits the Go memory limit
)

const (
	// connFootprint is the heap counted for each tracked connection: one
	// that stalled inside a request, headers and the first bytes of its
	// body, holds about 3.4 KiB (TestStalledPartialRequests).
	connFootprint = 4 << 10
	// connShareNum/connShareDen of the Go memory limit, less what is kept
	// for reassembly's own buffers (bufferReserve), is what tracked
	// connections may take; the rest is the collector's headroom and the
	// pairs, batches and sink queue in flight.
	connShareNum, connShareDen = 3, 4
)

// connectionCap is the number of connections tracked at once, and the cap
// that sets it: flow.max_connections, or fewer when that
// many would not fit the Go memory limit (GOMEMLIMIT, which the webhook
// sets from the container's memory limit). Without a memory limit the
// setting alone decides.
func connectionCap(cfg config.Flow) (int, string) {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return cfg.MaxConnections, capLimit
	}
	budget := limit/connShareDen*connShareNum - bufferReserve(cfg, limit)
	fit := max(budget/connFootprint, 1)
	if fit < int64(cfg.MaxConnections) {
		return int(fit), capMemory
	}
	return cfg.MaxConnections, capLimit
}

// bufferReserve is the part of the Go memory limit kept for out-of-order
// data: flow.max_buffer_bytes, but no more than a quarter of the limit. A
// small container limit with the default 64 MiB buffer cap would otherwise
// leave no room for connections at all (a 64Mi limit allowed one); memory
// pressure shedding covers a buffer that grows past its reserve.
func bufferReserve(cfg config.Flow, limit int64) int64 {
	return min(int64(cfg.MaxBufferBytes), limit/4)
}

// MemoryLimitFor is the smallest Go memory limit under which conns
// connections fit, connectionCap's inverse: what to give a sidecar that is
// to track that many (the bench's idle scenario sizes its sidecar by it).
func MemoryLimitFor(cfg config.Flow, conns int) int64 {
	need := int64(conns) * connFootprint
	// With the buffer reserve at flow.max_buffer_bytes, the limit's share
	// less the reserve must hold need; a limit under four reserves keeps
	// a quarter of itself instead, which leaves half of it.
	limit := (need + int64(cfg.MaxBufferBytes) + connShareNum) / connShareNum * connShareDen
	if int64(cfg.MaxBufferBytes) > limit/4 {
		limit = 2*need + connShareDen
	}
	return limit
}
