package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/sink"
)

// demoKafka ships the demo's pairs through a real Kafka protocol endpoint:
// the brokers configured, or else an in-process kfake cluster, and prints
// the pairs as a consumer reads them back from the topic.
type demoKafka struct {
	cluster  *kfake.Cluster
	cancel   context.CancelFunc
	done     chan error
	consumed *lineCounter
}

// startDemoKafka points cfg at Kafka and starts the consumer.
func startDemoKafka(cfg *config.Sidecar, out, log io.Writer) (*demoKafka, error) {
	d := &demoKafka{done: make(chan error, 1), consumed: &lineCounter{w: out}}
	cfg.Sink.Type = "kafka"
	if len(cfg.Kafka.Brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, cfg.Kafka.Topic))
		if err != nil {
			return nil, fmt.Errorf("demo: starting kfake: %w", err)
		}
		d.cluster = c
		cfg.Kafka.Brokers = c.ListenAddrs()
		fmt.Fprintf(log, "podtap demo: Kafka (in-process kfake) at %v, topic %s\n", cfg.Kafka.Brokers, cfg.Kafka.Topic)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		d.done <- sink.Consume(ctx, cfg.Kafka, d.consumed, sink.ConsumeOptions{Follow: true, ValueOnly: true})
	}()
	return d, nil
}

// stop waits until the consumer has printed every pair the sink delivered,
// then stops it and the cluster.
func (d *demoKafka) stop() error {
	var delivered int
	for _, n := range counters("podtap_pairs_total") {
		delivered += int(n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.consumed.count() < delivered && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	d.cancel()
	err := <-d.done
	if d.cluster != nil {
		d.cluster.Close()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("demo: consuming: %w", err)
	}
	if got := d.consumed.count(); got < delivered {
		return fmt.Errorf("demo: consumed %d of %d pairs delivered to Kafka", got, delivered)
	}
	return nil
}

// lineCounter forwards writes and counts the lines.
type lineCounter struct {
	mu    sync.Mutex
	w     io.Writer
	lines int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines += bytes.Count(p, []byte{'\n'})
	return c.w.Write(p)
}

func (c *lineCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}
