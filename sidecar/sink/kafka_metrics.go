package sink

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podtap/podtap/sidecar/metrics"
)

var (
	kafkaSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_kafka_records_sent_total",
		Help: "Records Kafka acknowledged.",
	})
	kafkaSendErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_kafka_send_errors_total",
		Help: "Record sends that failed; most are sent again, and only podtap_pairs_dropped_total counts losses.",
	})
	spoolTorn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_kafka_spool_torn_records_total",
		Help: "Spooled records cut short by a crash and truncated at start.",
	})
	spoolCorrupt = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "podtap_kafka_spool_corrupt_segments_total",
		Help: "Spool segments found corrupt and skipped (renamed *.corrupt).",
	})
	live = &liveSinks{sinks: map[*Kafka]struct{}{}}
)

func init() {
	metrics.Registry.MustRegister(kafkaSent, kafkaSendErrors, spoolTorn, spoolCorrupt, live)
}

var (
	descUp          = prometheus.NewDesc("podtap_kafka_up", "1 while Kafka takes records (what /readyz reports), else 0.", nil, nil)
	descQueueBytes  = prometheus.NewDesc("podtap_kafka_queue_bytes", "Bytes of records in memory: queued, in flight, or waiting to be sent again.", nil, nil)
	descSpoolBytes  = prometheus.NewDesc("podtap_kafka_spool_bytes", "Bytes of the spool's segment files.", nil, nil)
	descSpoolSegs   = prometheus.NewDesc("podtap_kafka_spool_segments", "Segment files in the spool.", nil, nil)
	descSpoolRecs   = prometheus.NewDesc("podtap_kafka_spool_records", "Spooled records not yet sent.", nil, nil)
	descSpoolOldest = prometheus.NewDesc("podtap_kafka_spool_oldest_age_seconds", "Age of the oldest spooled record not yet sent; 0 when none.", nil, nil)
)

// drop counts n pairs lost for reason, in the metric and in the outage
// under way, if any, so its recovery line says what it cost.
func (k *Kafka) drop(reason string, n int) {
	metrics.PairsDropped.WithLabelValues(reason).Add(float64(n))
	k.outage.Lost(reason, n)
}

// liveSinks reports the gauges of the open Kafka sinks at scrape time, so
// they are never stale and a closed sink stops counting.
type liveSinks struct {
	mu    sync.Mutex
	sinks map[*Kafka]struct{}
}

func (l *liveSinks) add(k *Kafka) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sinks[k] = struct{}{}
}

func (l *liveSinks) remove(k *Kafka) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sinks, k)
}

func (l *liveSinks) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descQueueBytes, descSpoolBytes, descSpoolSegs, descSpoolRecs, descSpoolOldest} {
		ch <- d
	}
}

func (l *liveSinks) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sinks) == 0 {
		return
	}
	var up, queue, bytes, segs, recs, oldest float64
	for k := range l.sinks {
		if k.health.ok() {
			up++
		}
		_, queued := k.memLen()
		queue += float64(queued + k.inflight.Load())
		if k.spool == nil {
			continue
		}
		st := k.spool.Stats()
		bytes += float64(st.Bytes)
		segs += float64(st.Segments)
		recs += float64(st.Records)
		if !st.Oldest.IsZero() {
			oldest = max(oldest, time.Since(st.Oldest).Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up/float64(len(l.sinks)))
	ch <- prometheus.MustNewConstMetric(descQueueBytes, prometheus.GaugeValue, queue)
	ch <- prometheus.MustNewConstMetric(descSpoolBytes, prometheus.GaugeValue, bytes)
	ch <- prometheus.MustNewConstMetric(descSpoolSegs, prometheus.GaugeValue, segs)
	ch <- prometheus.MustNewConstMetric(descSpoolRecs, prometheus.GaugeValue, recs)
	ch <- prometheus.MustNewConstMetric(descSpoolOldest, prometheus.GaugeValue, oldest)
}
