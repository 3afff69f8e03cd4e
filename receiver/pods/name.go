package pods

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/statelog"
)

// ReasonUnknownIP counts a pair neither of whose addresses is a known
// pod's: its record goes out without pod fields.
const ReasonUnknownIP = "unknown_ip"

// Unnamed counts pairs whose record carries no pod, by reason.
var Unnamed = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "podtap_receiver_unnamed_pairs_total",
	Help: "Pairs the receiver sent without pod fields, by reason (unknown_ip: neither address is a known pod's).",
}, []string{"reason"})

func init() { metrics.Registry.MustRegister(Unnamed) }

// NamePod sets the pair's pod and direction: the server's pod (inbound)
// when the server is a known pod, else the client's (outbound). It does
// not tell VNIs apart: the index holds this cluster's addresses only.
func (m *Map) NamePod(p *message.Pair) {
	if ref, ok := m.Lookup(p.Server.IP); ok {
		p.Pod, p.Direction = &ref, message.Inbound
	} else if ref, ok := m.Lookup(p.Client.IP); ok {
		p.Pod, p.Direction = &ref, message.Outbound
	} else {
		Unnamed.WithLabelValues(ReasonUnknownIP).Inc()
		m.miss(p)
		return
	}
	m.hit()
}

func (m *Map) miss(p *message.Pair) {
	m.unknown.DegradeLost(ReasonUnknownIP, ReasonUnknownIP, 1,
		"client", p.Client.IP.String(), "server", p.Server.IP.String(), "vni", p.Tunnel.VNI)
	m.lastMiss.Store(time.Now().UnixNano())
}

// hit ends the WARN episode once pairs have been named for a reminder
// interval without a miss.
func (m *Map) hit() {
	m.unknown.Kept("named", 1)
	if time.Since(time.Unix(0, m.lastMiss.Load())) >= statelog.DefaultRemind {
		m.unknown.Recover()
	}
}
