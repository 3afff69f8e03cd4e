package http2

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

var (
	// lateJoins counts sides parsed without their beginning, by
	// cause: the capture started mid-connection, or bytes were lost.
	lateJoins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_http2_late_joins_total",
		Help: "HTTP/2 sides joined without their beginning, by cause (start, gap).",
	}, []string{"cause"})
	// resyncSkipped counts bytes passed over while looking for a frame
	// boundary.
	resyncSkipped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_http2_resync_skipped_bytes_total",
		Help: "HTTP/2 bytes skipped while looking for a frame boundary after a late start or a gap.",
	})
	// hpackUnknown counts header fields that referenced a dynamic-table
	// entry the decoder never saw: expected after a late join, a desync
	// otherwise.
	hpackUnknown = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_http2_hpack_unknown_fields_total",
		Help: "HTTP/2 header fields that referenced an HPACK table entry never seen, by state (late_join, desync).",
	}, []string{"state"})
	// tableResets counts HPACK tables restarted as joined late because
	// insertions were missed.
	tableResets = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_http2_hpack_table_resets_total",
		Help: "HPACK tables restarted as partial after a gap, a lost or unreadable header block.",
	})
	// lostStreams counts streams seen only after they started, whose
	// request is therefore unknown.
	lostStreams = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_http2_streams_joined_late_total",
		Help: "HTTP/2 streams first seen after they started (late start or gap); their pairs are dropped as gap.",
	})
)

func init() {
	metrics.Registry.MustRegister(lateJoins, resyncSkipped, hpackUnknown, tableResets, lostStreams)
}
