package sink

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// TestKafkaRecordOverMaxRecordBytes writes records over
// kafka.max_record_bytes among small ones, as a pair under
// limits.max_pair_bytes may become once base64-encoded: each is dropped as
// kafka_too_large with a rate-limited WARN naming the setting, never sent,
// and the records around them are delivered in order.
func TestKafkaRecordOverMaxRecordBytes(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, testTopic))
	cfg := kafkaConfig(c.ListenAddrs(), "")
	cfg.MaxRecordBytes = 64 << 10
	var logs testenv.LogBuffer
	k, err := newKafka(cfg, testPod, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})), fastTuning)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close(context.Background()) })
	waitReady(t, k, 10*time.Second)

	before := drops()
	var want [][]byte
	for i := range 20 {
		v := pairValue("small", i)
		if i%5 == 2 {
			v = bytes.Repeat([]byte("x"), int(cfg.MaxRecordBytes)+1)
		} else {
			want = append(want, v)
		}
		k.Write(Record{Value: v, Protocol: "http/1.1"})
	}
	if err := k.Ready(); err != nil {
		t.Fatalf("oversized records made the sink unready: %v", err)
	}
	closeSink(t, k, 30*time.Second)
	if d := dropDelta(before); len(d) != 1 || d[metrics.ReasonKafkaTooLarge] != 4 {
		t.Fatalf("drops %v, want exactly 4 kafka_too_large", d)
	}
	warns := strings.Count(logs.String(), "level=WARN")
	if warns != 1 || !strings.Contains(logs.String(), "kafka.max_record_bytes") || !strings.Contains(logs.String(), "reason="+metrics.ReasonKafkaTooLarge) {
		t.Fatalf("want one rate-limited WARN naming kafka.max_record_bytes and the reason, got %d:\n%s", warns, logs.String())
	}
	got := consume(t, cfg, len(want), 20*time.Second)
	for i, r := range got {
		if !bytes.Equal(r.Value, want[i]) {
			t.Fatalf("record %d is not the %d-th small record", i, i)
		}
	}
	if n := topicCount(t, cfg); n != len(want) {
		t.Fatalf("topic holds %d records, want %d", n, len(want))
	}
}
