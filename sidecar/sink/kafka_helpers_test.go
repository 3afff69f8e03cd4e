package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/metrics"
)

const testTopic = "podtap.pairs"

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// fastTuning keeps outage detection quick in tests.
var fastTuning = tuning{
	stallAfter:   4 * time.Second,
	probeEvery:   200 * time.Millisecond,
	idleProbe:    2 * time.Second,
	probeTimeout: 2 * time.Second,
	spillTick:    50 * time.Millisecond,
}

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func kafkaConfig(brokers []string, spoolDir string) config.Kafka {
	cfg := config.DefaultSidecar().Kafka
	cfg.Brokers = brokers
	cfg.Topic = testTopic
	cfg.Spool.Dir = spoolDir
	cfg.Spool.FsyncInterval = 100 * time.Millisecond
	return cfg
}

var testPod = config.Pod{Namespace: "shop", Name: "checkout-7d9f8-x2x4q"}

func startSink(t *testing.T, cfg config.Kafka, pod config.Pod) *Kafka {
	t.Helper()
	k, err := newKafka(cfg, pod, testLog, fastTuning)
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { k.Close(context.Background()) })
	return k
}

func waitReady(t *testing.T, k *Kafka, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := k.Ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink not ready after %s: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func closeSink(t *testing.T, k *Kafka, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := k.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// pairValue is pair number i of a pod as the record encoder would emit
// it: valid against the schema, bodies of varied sizes.
func pairValue(pod string, i int) []byte {
	body := strings.Repeat(fmt.Sprintf(`{"sku":"item-%d","qty":%d},`, i, i%7), 1+i%23)
	body = "[" + strings.TrimSuffix(body, ",") + "]"
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return fmt.Appendf(nil, `{"schema":"podtap.pair/v1","id":"%s-%08d","protocol":"http/1.1",`+
		`"started_at":"%s","ended_at":"%s","duration_ms":1.25,`+
		`"client":{"ip":"10.1.0.7","port":%d},"server":{"ip":"10.1.0.9","port":8080},"direction":"inbound",`+
		`"request":{"method":"POST","path":"/api/orders/%d","headers":{"content-type":["application/json"]},"body":%s,"body_size":%d},`+
		`"response":{"status":201,"headers":{"content-type":["application/json"]},"body":{"order":%d},"body_size":13}}`,
		pod, i, start.Format(time.RFC3339Nano), start.Add(1250*time.Microsecond).Format(time.RFC3339Nano),
		40000+i%20000, i, body, len(body), i)
}

// seqOf returns the pair number of a value written by pairValue.
func seqOf(t *testing.T, v []byte) (string, int) {
	t.Helper()
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(v, &p); err != nil {
		t.Fatalf("value is not a pair: %v", err)
	}
	dash := strings.LastIndexByte(p.ID, '-')
	n, err := strconv.Atoi(p.ID[dash+1:])
	if err != nil {
		t.Fatalf("id %q: %v", p.ID, err)
	}
	return p.ID[:dash], n
}

// consume reads n records back through Consume, waiting up to within.
func consume(t *testing.T, cfg config.Kafka, n int, within time.Duration) []ConsumedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var buf bytes.Buffer
	err := Consume(ctx, cfg, &buf, ConsumeOptions{Follow: true, Max: n, Logger: testLog})
	var out []ConsumedRecord
	for line := range bytes.Lines(buf.Bytes()) {
		var r ConsumedRecord
		if jerr := json.Unmarshal(line, &r); jerr != nil {
			t.Fatalf("consume printed a line that is not JSON: %v: %q", jerr, line)
		}
		out = append(out, r)
	}
	if err != nil {
		t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
	}
	return out
}

// noMoreRecords checks the topic holds exactly n records.
func topicCount(t *testing.T, cfg config.Kafka) int {
	t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Consume(ctx, cfg, &buf, ConsumeOptions{ValueOnly: true, Logger: testLog}); err != nil {
		t.Fatalf("consume to the end: %v", err)
	}
	return bytes.Count(buf.Bytes(), []byte("\n"))
}

func dropped(reason string) float64 {
	return testutil.ToFloat64(metrics.PairsDropped.WithLabelValues(reason))
}

// drops snapshots every drop counter the sink can move.
func drops() map[string]float64 {
	m := map[string]float64{}
	for _, r := range []string{metrics.ReasonQueueFull, metrics.ReasonSinkError, metrics.ReasonSpoolFull,
		metrics.ReasonKafkaTooLarge, metrics.ReasonShutdown, metrics.ReasonSpoolCorrupt} {
		m[r] = dropped(r)
	}
	return m
}

func dropDelta(before map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for r, v := range drops() {
		if v != before[r] {
			d[r] = v - before[r]
		}
	}
	return d
}

var errNotYet = errors.New("not yet")

// eventually polls fn until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, fn func() error) error {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// gauge reads a gauge of the sidecar's registry, as /metrics serves it.
func gauge(t *testing.T, name string) float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not served", name)
	return 0
}
