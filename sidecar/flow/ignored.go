package flow

import "github.com/podtap/podtap/sidecar/metrics"

// Reasons of metrics.PacketsIgnored: why a packet carried no usable TCP
// segment, or why its segment was not reassembled.
const (
	IgnoredNotTCP     = "not_tcp"     // ARP, UDP, ICMP, an unknown EtherType...
	IgnoredFragment   = "fragment"    // an IPv4 or IPv6 fragment
	IgnoredMalformed  = "malformed"   // truncated headers, bogus lengths
	IgnoredSampledOut = "sampled_out" // its connection is not in the sample
	IgnoredOverLimit  = "over_limit"  // its connection came past flow.max_connections
	IgnoredQueueFull  = "queue_full"  // the workers were behind by flow.queue_bytes
)

// ignored is an index into ignoredReasons; counting by index lets the hot
// path keep plain per-goroutine counters instead of touching Prometheus.
type ignored uint8

const (
	kept ignored = iota
	notTCP
	fragment
	malformed
	sampledOut
	overLimit
	queueFull
	numIgnored
)

var ignoredReasons = [numIgnored]string{
	notTCP:     IgnoredNotTCP,
	fragment:   IgnoredFragment,
	malformed:  IgnoredMalformed,
	sampledOut: IgnoredSampledOut,
	overLimit:  IgnoredOverLimit,
	queueFull:  IgnoredQueueFull,
}

// ignoredCounts counts ignored packets locally until flushed to the metric.
type ignoredCounts [numIgnored]uint64

// flush adds the counts to metrics.PacketsIgnored and zeroes them.
func (c *ignoredCounts) flush() {
	for i := notTCP; i < numIgnored; i++ {
		if c[i] > 0 {
			metrics.PacketsIgnored.WithLabelValues(ignoredReasons[i]).Add(float64(c[i]))
			c[i] = 0
		}
	}
}
