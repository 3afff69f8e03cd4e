package parse

import "github.com/podtap/podtap/sidecar/metrics"

// countConn counts a connection under what detection made of it: a
// protocol, or why it is not parsed.
func countConn(protocol string) { metrics.ConnectionsTotal.WithLabelValues(protocol).Inc() }
