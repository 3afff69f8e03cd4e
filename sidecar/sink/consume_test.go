package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/podtap/podtap/internal/testenv"
)

// produceRaw writes records with a plain client, to give Consume values
// the sink would never write.
func produceRaw(t *testing.T, brokers []string, rs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestConsumePrintsJSONLines(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, testTopic))
	ts := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	produceRaw(t, c.ListenAddrs(),
		&kgo.Record{Key: []byte("ns/a"), Value: []byte(`{"n":1}`), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "protocol", Value: []byte("h2")}}},
		&kgo.Record{Key: []byte("ns/a"), Value: []byte("not json\n"), Timestamp: ts},
	)
	cfg := kafkaConfig(c.ListenAddrs(), "")

	var buf bytes.Buffer
	if err := Consume(t.Context(), cfg, &buf, ConsumeOptions{Logger: testLog}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	var first, second ConsumedRecord
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first.Key != "ns/a" || string(first.Value) != `{"n":1}` || first.Headers["protocol"] != "h2" ||
		!first.Timestamp.Equal(ts) || first.Topic != testTopic || first.Offset != 0 {
		t.Fatalf("first line %s", lines[0])
	}
	var s string
	if err := json.Unmarshal(second.Value, &s); err != nil || s != "not json\n" || second.Offset != 1 {
		t.Fatalf("a value that is not JSON must print as a JSON string: %s", lines[1])
	}

	buf.Reset()
	if err := Consume(t.Context(), cfg, &buf, ConsumeOptions{ValueOnly: true, Max: 1, Logger: testLog}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{\"n\":1}\n" {
		t.Fatalf("value-only output %q", buf.String())
	}

	// From the end without following: nothing, at once.
	buf.Reset()
	if err := Consume(t.Context(), cfg, &buf, ConsumeOptions{FromEnd: true, Logger: testLog}); err != nil || buf.Len() != 0 {
		t.Fatalf("from the end: %q %v", buf.String(), err)
	}

	// Following from the end sees what is produced next.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	buf.Reset()
	go func() {
		done <- Consume(ctx, cfg, &buf, ConsumeOptions{FromEnd: true, Follow: true, Max: 1, ValueOnly: true, Logger: testLog})
	}()
	time.Sleep(300 * time.Millisecond)
	produceRaw(t, c.ListenAddrs(), &kgo.Record{Key: []byte("ns/a"), Value: []byte(`{"n":3}`)})
	if err := <-done; err != nil || buf.String() != "{\"n\":3}\n" {
		t.Fatalf("follow: %q %v", buf.String(), err)
	}
}

func TestConsumeErrorsInsteadOfHanging(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, testTopic))
	for name, cfg := range map[string]func() error{
		"refused": func() error {
			return Consume(t.Context(), kafkaConfig([]string{"127.0.0.1:" + itoa(testenv.FreePort(t, "127.0.0.1"))}, ""), &bytes.Buffer{}, ConsumeOptions{Logger: testLog})
		},
		"missing topic": func() error {
			cfg := kafkaConfig(c.ListenAddrs(), "")
			cfg.Topic = "nope"
			return Consume(t.Context(), cfg, &bytes.Buffer{}, ConsumeOptions{Logger: testLog})
		},
		"bad address": func() error {
			return Consume(t.Context(), kafkaConfig([]string{"nohost"}, ""), &bytes.Buffer{}, ConsumeOptions{})
		},
	} {
		start := time.Now()
		err := cfg()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if time.Since(start) > 2*connectTimeout {
			t.Fatalf("%s: took %s", name, time.Since(start))
		}
		t.Logf("%s: %v", name, err)
	}
}
