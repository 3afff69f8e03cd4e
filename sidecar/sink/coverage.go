package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/statelog"
)

// coverageBuffered is how many reports may wait for Kafka. A report holds
// counts since the sidecar's start, so only the newest matters; a few
// cover a short outage, and more would only be stale.
const coverageBuffered = 4

// Outcomes of podtap_coverage_reports_total.
const (
	coverageSent    = "sent"
	coverageFailed  = "failed"  // Kafka did not take it within report.interval
	coverageDropped = "dropped" // coverageBuffered reports were already waiting
)

var coverageReports = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "podtap_coverage_reports_total",
	Help: "Coverage reports, by outcome (sent, failed: Kafka did not take it within report.interval, dropped: too many waiting).",
}, []string{"outcome"})

func init() { metrics.Registry.MustRegister(coverageReports) }

// CoverageKafka sends coverage reports to kafka.coverage_topic through a
// producer of its own, so that the pairs' windows, queue and spool never
// wait for a report, nor a report for them. Reports are not spooled: each
// carries every count since the start, so the next one makes up for a lost
// one. An outage is logged (WARN, then INFO on recovery) and counted.
type CoverageKafka struct {
	client  *kgo.Client
	timeout time.Duration
	key     []byte
	state   *statelog.State
}

// NewCoverageKafka makes the producer of the reports, with the kafka.*
// settings of the pair sink. A report Kafka has not taken within interval
// fails, as the next one is due then.
func NewCoverageKafka(cfg config.Kafka, pod config.Pod, interval time.Duration, log *slog.Logger) (*CoverageKafka, error) {
	opts, err := clientOpts(cfg, log)
	if err != nil {
		return nil, err
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	key, err := recordKey(pod)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.CoverageTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec, kgo.NoCompression()),
		kgo.MaxBufferedRecords(coverageBuffered),
		// A report sent twice is harmless (its counts are totals), and an
		// idempotent producer may not fail a record whose request went out
		// unanswered: it would hold the reports of an outage forever.
		kgo.DisableIdempotentWrite(),
	)
	if cfg.CreateTopic {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: coverage reports: %w", err)
	}
	return &CoverageKafka{
		client:  cl,
		timeout: max(interval, time.Second),
		key:     []byte(key),
		state: statelog.New(statelog.Config{
			Log:       log,
			Degraded:  "coverage reports not reaching kafka.coverage_topic",
			Recovered: "coverage reports reaching kafka.coverage_topic",
		}),
	}, nil
}

// Send queues a report without waiting; what Kafka makes of it is counted
// and logged when it is known.
func (c *CoverageKafka) Send(value []byte) {
	rec := &kgo.Record{
		Key:       c.key,
		Value:     value,
		Headers:   []kgo.RecordHeader{{Key: HeaderSchema, Value: []byte(coverage.Schema)}},
		Timestamp: time.Now(),
	}
	// The record's context, not the client's delivery timeout, bounds its
	// wait: franz-go fails a buffered record when its context ends, also
	// while no broker can be dialed.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	c.client.TryProduce(ctx, rec, func(_ *kgo.Record, err error) {
		cancel()
		switch {
		case err == nil:
			coverageReports.WithLabelValues(coverageSent).Inc()
			c.state.Recover()
		case errors.Is(err, kgo.ErrMaxBuffered):
			coverageReports.WithLabelValues(coverageDropped).Inc()
			c.state.DegradeLost("backlog", coverageDropped, 1, "waiting", coverageBuffered)
		default:
			coverageReports.WithLabelValues(coverageFailed).Inc()
			c.state.DegradeLost(reasonOf(err), coverageFailed, 1, "err", err)
		}
	})
}

// Close sends what is queued until ctx ends, then stops the producer.
func (c *CoverageKafka) Close(ctx context.Context) error {
	err := c.client.Flush(ctx)
	c.client.Close()
	if err != nil {
		return fmt.Errorf("kafka: coverage reports: %w", err)
	}
	return nil
}
