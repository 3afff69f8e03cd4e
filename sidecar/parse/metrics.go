package parse

import (
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// countConn counts a connection to server under what detection made of
// it: a protocol, or why it is not parsed.
func (f *Factory) countConn(server message.Endpoint, protocol string) {
	metrics.ConnectionsTotal.WithLabelValues(protocol).Inc()
	f.tally.Conn(server, protocol)
}
