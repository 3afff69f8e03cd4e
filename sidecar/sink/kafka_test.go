package sink

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

func TestKafkaDeliversInOrder(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, testTopic))
	cfg := kafkaConfig(c.ListenAddrs(), t.TempDir())
	k := startSink(t, cfg, testPod)
	waitReady(t, k, 10*time.Second)

	const n = 10000
	before, sent := drops(), testutil.ToFloat64(kafkaSent)
	want := make([][]byte, n)
	for i := range n {
		want[i] = pairValue("checkout", i)
		k.Write(Record{Value: bytes.Clone(want[i]), Protocol: "http/1.1"})
	}
	closeSink(t, k, 30*time.Second)
	if d := dropDelta(before); len(d) != 0 {
		t.Fatalf("drops while Kafka was up: %v", d)
	}
	if got := testutil.ToFloat64(kafkaSent) - sent; got != n {
		t.Fatalf("records sent counter moved by %v, want %d", got, n)
	}

	got := consume(t, cfg, n, 30*time.Second)
	for i, r := range got {
		if !bytes.Equal(r.Value, want[i]) {
			t.Fatalf("record %d differs:\n got %.200s\nwant %.200s", i, r.Value, want[i])
		}
		if r.Key != "shop/checkout-7d9f8-x2x4q" {
			t.Fatalf("record %d key %q", i, r.Key)
		}
		if r.Headers[HeaderSchema] != SchemaVersion || r.Headers[HeaderProtocol] != "http/1.1" || len(r.Headers) != 2 {
			t.Fatalf("record %d headers %v", i, r.Headers)
		}
		if r.Partition != got[0].Partition || (i > 0 && r.Offset != got[i-1].Offset+1) {
			t.Fatalf("record %d at %d/%d after %d/%d: one key must keep one partition, in order", i, r.Partition, r.Offset, got[i-1].Partition, got[i-1].Offset)
		}
	}
	if c := topicCount(t, cfg); c != n {
		t.Fatalf("topic holds %d records, want %d", c, n)
	}

	// kcat (librdkafka) as an independent client: key, headers, values.
	i := 0
	for _, m := range testenv.KcatRead(t, cfg.Brokers[0], testTopic) {
		if m.Key != "shop/checkout-7d9f8-x2x4q" {
			t.Fatalf("kcat record %d key %q", i, m.Key)
		}
		if strings.Join(m.Headers, ",") != "schema,podtap.pair/v1,protocol,http/1.1" {
			t.Fatalf("kcat record %d headers %v", i, m.Headers)
		}
		if m.Payload != string(want[i]) {
			t.Fatalf("kcat record %d payload differs: %.200s", i, m.Payload)
		}
		if err := schematest.Validate([]byte(m.Payload)); err != nil {
			t.Fatalf("kcat record %d: %v", i, err)
		}
		i++
	}
	if i != n {
		t.Fatalf("kcat read %d records, want %d", i, n)
	}
}

func TestKafkaHostnameKeyAndCompression(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c := newCluster(t, kfake.SeedTopics(1, testTopic))
			cfg := kafkaConfig(c.ListenAddrs(), "")
			cfg.Compression = codec
			k := startSink(t, cfg, config.Pod{})
			for i := range 50 {
				k.Write(Record{Value: pairValue("c", i), Protocol: "h2"})
			}
			closeSink(t, k, 20*time.Second)
			host, _ := recordKey(config.Pod{})
			for i, r := range consume(t, cfg, 50, 20*time.Second) {
				if r.Key != host || r.Headers[HeaderProtocol] != "h2" || !bytes.Equal(r.Value, pairValue("c", i)) {
					t.Fatalf("record %d: key %q headers %v", i, r.Key, r.Headers)
				}
			}
		})
	}
}

func TestKafkaTooLargeCountedAndPipelineContinues(t *testing.T) {
	// The broker takes batches up to 64 KiB; the sink allows 2 MiB records.
	c := newCluster(t, kfake.SeedTopics(1, testTopic), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "65536"}))
	cfg := kafkaConfig(c.ListenAddrs(), t.TempDir())
	cfg.Compression = "none"
	k := startSink(t, cfg, testPod)
	waitReady(t, k, 10*time.Second)

	before := drops()
	var want [][]byte
	huge := func(i int) []byte { // 100 KB the broker refuses, alone
		return append(pairValue("big", i)[:0:0], bytes.Repeat([]byte("x"), 100_000)...)
	}
	for i := range 600 {
		var v []byte
		switch i {
		case 100, 101, 350:
			v = huge(i)
		case 500: // over kafka.max_record_bytes: refused before sending
			v = make([]byte, 3<<20)
		default:
			v = pairValue("small", i)
			want = append(want, v)
		}
		k.Write(Record{Value: v, Protocol: "http/1.1"})
	}
	closeSink(t, k, 30*time.Second)
	if d := dropDelta(before); len(d) != 1 || d[metrics.ReasonKafkaTooLarge] != 4 {
		t.Fatalf("drops %v, want exactly 4 kafka_too_large", d)
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

func TestKafkaBadBrokerAddress(t *testing.T) {
	for _, b := range []string{"127.0.0.1", "127.0.0.1:99999", ":9092", "127.0.0.1:x"} {
		cfg := kafkaConfig([]string{b}, "")
		if k, err := NewKafka(cfg, testPod, testLog); err == nil {
			k.Close(context.Background())
			t.Fatalf("broker %q accepted", b)
		} else if !strings.Contains(err.Error(), "kafka.brokers") {
			t.Fatalf("broker %q: error %v does not name kafka.brokers", b, err)
		}
	}

	// A well-formed address where nothing listens: readiness says so
	// within seconds, and records wait in memory rather than vanish.
	addr := "127.0.0.1:" + itoa(testenv.FreePort(t, "127.0.0.1"))
	cfg := kafkaConfig([]string{addr}, "")
	start := time.Now()
	k := startSink(t, cfg, testPod)
	if time.Since(start) > time.Second {
		t.Fatalf("NewKafka took %s", time.Since(start))
	}
	err := eventually(t, 10*time.Second, func() error {
		if err := k.Ready(); err != nil && strings.Contains(err.Error(), "refused") {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("readiness never explained the refused connection: %v", k.Ready())
	}
	if !strings.Contains(k.Ready().Error(), addr) {
		t.Fatalf("readiness %q does not name %s", k.Ready(), addr)
	}
	t.Logf("readiness: %v", k.Ready())
}

func TestKafkaMissingTopic(t *testing.T) {
	c := newCluster(t)
	cfg := kafkaConfig(c.ListenAddrs(), "")
	k := startSink(t, cfg, testPod)
	err := eventually(t, 10*time.Second, func() error {
		if err := k.Ready(); err != nil && strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("readiness %v", k.Ready())
	}

	cfg.CreateTopic = true
	k2 := startSink(t, cfg, config.Pod{Namespace: "a", Name: "b"})
	waitReady(t, k2, 10*time.Second)
	k2.Write(Record{Value: pairValue("a", 1), Protocol: "http/1.1"})
	closeSink(t, k2, 10*time.Second)
	if got := consume(t, cfg, 1, 10*time.Second); !bytes.Equal(got[0].Value, pairValue("a", 1)) {
		t.Fatal("record not delivered to the created topic")
	}
}

func TestKafkaQueueFullWithoutSpool(t *testing.T) {
	addr := "127.0.0.1:" + itoa(testenv.FreePort(t, "127.0.0.1"))
	cfg := kafkaConfig([]string{addr}, "")
	cfg.QueueBytes = 256 << 10
	cfg.MaxRecordBytes = 64 << 10
	k := startSink(t, cfg, testPod)
	before := drops()
	const n = 2000
	for i := range n {
		k.Write(Record{Value: pairValue("q", i), Protocol: "http/1.1"})
	}
	queued, bytesQueued := k.memLen()
	if bytesQueued > int64(cfg.QueueBytes) {
		t.Fatalf("queue holds %d bytes, bound %d", bytesQueued, cfg.QueueBytes)
	}
	d := dropDelta(before)
	if d[metrics.ReasonQueueFull] == 0 || int(d[metrics.ReasonQueueFull])+queued != n {
		t.Fatalf("queued %d, drops %v: every record must be queued or counted", queued, d)
	}
	// Close without Kafka and without a spool: the queue is lost, counted.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := k.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "neither delivered nor spooled") {
		t.Fatalf("Close: %v", err)
	}
	if got := dropDelta(before)[metrics.ReasonShutdown]; int(got) != queued {
		t.Fatalf("shutdown drops %v, want %d", got, queued)
	}
	k.Write(Record{Value: []byte("{}")})
	if got := dropDelta(before)[metrics.ReasonShutdown]; int(got) != queued+1 {
		t.Fatal("a write after Close was not counted")
	}
	if err := k.Ready(); err == nil {
		t.Fatal("a closed sink reports ready")
	}
}
