package sidecarcmd

import (
	"context"
	"log/slog"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/metrics"
	"github.com/podtap/podtap/sidecar/sink"
)

// coverageReports sends a pipeline's coverage report every report.interval
// to kafka.coverage_topic, beside the pair sink.
type coverageReports struct {
	reporter *coverage.Reporter
	producer *sink.CoverageKafka
	cancel   context.CancelFunc
	done     chan struct{}
}

// startCoverage starts the reports, which go to Kafka only: with the
// stdout and file sinks they would mix with the pairs. It returns nil when
// they are off (report.interval 0) or the sink is not Kafka.
func startCoverage(ctx context.Context, cfg config.Sidecar, c *coverage.Counter) (*coverageReports, error) {
	if cfg.Report.Interval <= 0 || cfg.Sink.Type != "kafka" {
		return nil, nil
	}
	producer, err := sink.NewCoverageKafka(cfg.Kafka, cfg.Pod, cfg.Report.Interval, slog.Default())
	if err != nil {
		return nil, err
	}
	pod := coverage.Pod{
		Namespace: cfg.Pod.Namespace, Name: cfg.Pod.Name, UID: cfg.Pod.UID,
		Node: cfg.Pod.Node, Workload: cfg.Pod.Workload,
	}
	r := &coverageReports{
		reporter: coverage.NewReporter(c, metrics.Registry, pod, cfg.Report.Interval, producer.Send),
		producer: producer,
		done:     make(chan struct{}),
	}
	ctx, r.cancel = context.WithCancel(ctx)
	go func() {
		defer close(r.done)
		r.reporter.Run(ctx)
	}()
	return r, nil
}

// close sends the last report and gives it until ctx ends to reach Kafka.
func (r *coverageReports) close(ctx context.Context) {
	r.cancel()
	<-r.done
	if err := r.reporter.Send(time.Now()); err != nil {
		slog.Warn("last coverage report not sent", "reason", "build_failed", "err", err)
	}
	if err := r.producer.Close(ctx); err != nil {
		slog.Warn("last coverage report not sent", "reason", "kafka", "err", err)
	}
}
