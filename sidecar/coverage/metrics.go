package coverage

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The sidecar-wide counts the report copies from the stages' metrics,
// which count them where they happen, at no further cost per packet.
const (
	metricKernelDrops       = "podtap_kernel_drops_total"
	metricPairsDropped      = "podtap_pairs_dropped_total"
	metricLateJoins         = "podtap_http2_late_joins_total"
	metricStreamsJoinedLate = "podtap_http2_streams_joined_late_total"
	metricHPACKUnknown      = "podtap_http2_hpack_unknown_fields_total"
)

// fromMetrics fills the sidecar-wide counts from g.
func fromMetrics(r *Report, g prometheus.Gatherer) error {
	r.Drops = map[string]uint64{}
	if g == nil {
		return nil
	}
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("coverage: reading metrics: %w", err)
	}
	for _, f := range families {
		switch f.GetName() {
		case metricKernelDrops:
			r.KernelDrops = sum(f)
		case metricLateJoins:
			r.HTTP2.LateJoins = sum(f)
		case metricStreamsJoinedLate:
			r.HTTP2.StreamsJoinedLate = sum(f)
		case metricHPACKUnknown:
			r.HTTP2.UnresolvedHeaderFields = sum(f)
		case metricPairsDropped:
			for _, m := range f.GetMetric() {
				if n := uint64(m.GetCounter().GetValue()); n > 0 {
					r.Drops[label(m, "reason")] += n
				}
			}
		}
	}
	return nil
}

func sum(f *dto.MetricFamily) uint64 {
	var n float64
	for _, m := range f.GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return uint64(n)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
