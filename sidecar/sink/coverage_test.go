package sink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/coverage"
)

// TestCoverageKafkaOutage sends reports to a broker that goes away and
// comes back: the report sent during the outage fails after its delivery
// timeout, counted and logged as a WARN, without Send waiting for it; the
// next one after the return is sent and the recovery logged.
func TestCoverageKafkaOutage(t *testing.T) {
	kc := newRestartable(t, kfake.SeedTopics(1, "podtap.coverage"))
	cfg := kafkaConfig([]string{kc.addr()}, "")
	logs := &testenv.LogBuffer{}
	c, err := NewCoverageKafka(cfg, testPod, time.Second, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	count := func(outcome string) float64 { return testutil.ToFloat64(coverageReports.WithLabelValues(outcome)) }
	wait := func(outcome string, want float64) {
		t.Helper()
		if err := eventually(t, 15*time.Second, func() error {
			if got := count(outcome); got != want {
				return fmt.Errorf("%s reports %v, want %v", outcome, got, want)
			}
			return nil
		}); err != nil {
			t.Fatalf("%v\nlog:\n%s", err, logs.String())
		}
	}
	sent, failed := count(coverageSent), count(coverageFailed)
	report := []byte(`{"schema":"` + coverage.Schema + `"}`)

	c.Send(report)
	wait(coverageSent, sent+1)

	kc.stop()
	c.Send(report)
	if got := count(coverageFailed); got != failed {
		t.Fatalf("Send waited for the outcome: failed %v", got-failed)
	}
	wait(coverageFailed, failed+1)
	if !strings.Contains(logs.String(), "level=WARN msg=\"coverage reports not reaching kafka.coverage_topic\"") {
		t.Errorf("no WARN for the outage:\n%s", logs.String())
	}

	kc.start(kfake.SeedTopics(1, "podtap.coverage"))
	if err := eventually(t, 20*time.Second, func() error {
		c.Send(report)
		time.Sleep(200 * time.Millisecond)
		if count(coverageSent) < sent+2 {
			return fmt.Errorf("no report sent after Kafka came back")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, logs.String())
	}
	if err := eventually(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), "level=INFO msg=\"coverage reports reaching kafka.coverage_topic\"") {
			return fmt.Errorf("no INFO for the recovery")
		}
		return nil
	}); err != nil {
		t.Errorf("%v:\n%s", err, logs.String())
	}
}
