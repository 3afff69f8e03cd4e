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
	// VXLAN: the header is shorter than 8 bytes, lacks the I flag (no
	// VNI), or sets reserved bits (VXLAN-GPE, GBP: not plain Ethernet);
	// the inner frame is truncated or bogus; or its VNI is not in
	// capture.vxlan.vnis.
	IgnoredVXLANShort     = "vxlan_short"
	IgnoredVXLANNoVNI     = "vxlan_no_vni"
	IgnoredVXLANReserved  = "vxlan_reserved_bits"
	IgnoredInnerMalformed = "vxlan_inner_malformed"
	IgnoredVNIFiltered    = "vni_filtered"
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
	vxlanShort
	vxlanNoVNI
	vxlanReserved
	innerMalformed
	vniFiltered
	numIgnored
)

var ignoredReasons = [numIgnored]string{
	notTCP:     IgnoredNotTCP,
	fragment:   IgnoredFragment,
	malformed:  IgnoredMalformed,
	sampledOut: IgnoredSampledOut,
	overLimit:  IgnoredOverLimit,
	queueFull:  IgnoredQueueFull,

	vxlanShort:     IgnoredVXLANShort,
	vxlanNoVNI:     IgnoredVXLANNoVNI,
	vxlanReserved:  IgnoredVXLANReserved,
	innerMalformed: IgnoredInnerMalformed,
	vniFiltered:    IgnoredVNIFiltered,
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
