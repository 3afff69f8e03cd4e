package grpc

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

var (
	// lookups counts schema lookups by reflection, by result.
	lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_grpc_reflection_lookups_total",
		Help: "gRPC schema lookups by server reflection, by result (ok, no_reflection, error).",
	}, []string{"result"})
	// decoded counts gRPC pairs by how their messages came out.
	decoded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_grpc_pairs_total",
		Help: "gRPC pairs enriched, by outcome (decoded, undecoded) and schema source (protoset, reflection, none).",
	}, []string{"outcome", "source"})
	// pendingPairs and pendingBytes measure the pairs waiting for a
	// schema.
	pendingPairs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podtap_grpc_pending_pairs",
		Help: "gRPC pairs waiting for their schema.",
	})
	pendingBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podtap_grpc_pending_bytes",
		Help: "Bytes of gRPC pairs waiting for their schema (bounded by grpc.pending_bytes).",
	})
	// inferences counts the calls whose path was not seen, by whether
	// their method could be inferred.
	inferences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podtap_grpc_method_inference_total",
		Help: "gRPC pairs whose path was not seen, by method inference outcome (inferred, ambiguous, none, no_schema).",
	}, []string{"outcome"})
)

func init() {
	metrics.Registry.MustRegister(lookups, decoded, pendingPairs, pendingBytes, inferences)
}
