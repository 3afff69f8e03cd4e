package coverage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reporter sends the report of a Counter every Interval.
type Reporter struct {
	counter  *Counter
	metrics  prometheus.Gatherer
	pod      Pod
	interval time.Duration
	started  time.Time
	send     func(value []byte)
}

// NewReporter reports c, with the sidecar-wide counts of metrics (nil for
// none), to send, which must not block: the sink of the reports queues
// them or counts them lost.
func NewReporter(c *Counter, metrics prometheus.Gatherer, pod Pod, interval time.Duration, send func([]byte)) *Reporter {
	return &Reporter{counter: c, metrics: metrics, pod: pod, interval: interval, started: time.Now().UTC(), send: send}
}

// Build makes the report of now.
func (r *Reporter) Build(now time.Time) (Report, error) {
	rep := Report{
		Schema:          Schema,
		Pod:             r.pod,
		StartedAt:       r.started,
		At:              now.UTC(),
		IntervalSeconds: r.interval.Seconds(),
	}
	r.counter.snapshot(&rep)
	err := fromMetrics(&rep, r.metrics)
	return rep, err
}

// Send builds the report of now and hands it to send.
func (r *Reporter) Send(now time.Time) error {
	rep, err := r.Build(now)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("coverage: encoding the report: %w", err)
	}
	r.send(b)
	return nil
}

// Run sends a report every interval until ctx ends. A report that cannot
// be built is logged and the next one tried: the counts it missed are in
// the next.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := r.Send(now); err != nil {
				slog.Warn("coverage report not sent", "reason", "build_failed", "err", err)
			}
		}
	}
}
