package parse

import "github.com/podtap/podtap/sidecar/metrics"

func countConn(protocol string) { metrics.ConnectionsTotal.WithLabelValues(protocol).Inc() }
