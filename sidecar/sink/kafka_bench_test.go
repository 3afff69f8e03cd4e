package sink

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkKafkaSink measures records written and acknowledged by an
// in-process kfake broker, zstd-compressed, through the memory queue; the
// timing includes the final flush.
func BenchmarkKafkaSink(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopic), kfake.BlackholeProduce())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cfg := kafkaConfig(c.ListenAddrs(), b.TempDir())
	cfg.QueueBytes = 64 << 20
	k, err := newKafka(cfg, testPod, testLog, defaultTuning)
	if err != nil {
		b.Fatal(err)
	}
	for k.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	v := pairValue("bench", 1)
	b.SetBytes(int64(len(v)))
	before := drops()
	b.ResetTimer()
	for range b.N {
		// Pace to the queue, as capture would be paced by the network:
		// the benchmark is of delivery, not of drops.
		for {
			_, q := k.memLen()
			if q+k.inflight.Load() < int64(cfg.QueueBytes)/2 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		k.Write(Record{Value: v, Protocol: "http/1.1"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if d := dropDelta(before); len(d) != 0 {
		b.Fatalf("drops %v", d)
	}
}
