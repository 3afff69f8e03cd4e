package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaTopicReader reads the cluster's Kafka from the host, through the
// Service's cluster IP (the host routes the Service range to the node).
type kafkaTopicReader struct {
	addr string
}

// record is one Kafka record read back.
type record struct {
	key, value []byte
}

// read consumes the topic from its start until want returns true for the
// records read so far, or the timeout passes.
func (k kafkaTopicReader) read(t *testing.T, timeout time.Duration, want func([]record) bool) []record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.addr),
		kgo.ConsumeTopics(kafkaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []record
	for !want(got) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got
		}
		for _, e := range fetches.Errors() {
			t.Fatalf("consuming %s: %v", kafkaTopic, e.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got = append(got, record{key: r.Key, value: r.Value})
		})
	}
	return got
}
