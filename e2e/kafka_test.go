package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaCluster is a kfake cluster on the node's address, where the pods
// reach it, with SASL/SCRAM: the sidecars must authenticate with the
// credentials of their namespace's Secret.
type kafkaCluster struct {
	c          *kfake.Cluster
	addr       string
	topic      string
	user, pass string
}

const kafkaMechanism = "SCRAM-SHA-256"

func startKafka(t *testing.T, host, topic string) *kafkaCluster {
	t.Helper()
	k := &kafkaCluster{topic: topic, user: "podtap-shop", pass: "e2e-" + strings.Repeat("s3cret", 3)}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(1, topic),
		kfake.EnableSASL(),
		kfake.Superuser(kafkaMechanism, k.user, k.pass),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, port))
		}),
	)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	k.c, k.addr = c, c.ListenAddrs()[0]
	return k
}

// record is one Kafka record read back.
type record struct {
	key, value []byte
}

// read consumes the topic from its start until want returns true for the
// records read so far, or the timeout passes.
func (k *kafkaCluster) read(t *testing.T, timeout time.Duration, want func([]record) bool) []record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.addr),
		kgo.SASL(scram.Auth{User: k.user, Pass: k.pass}.AsSha256Mechanism()),
		kgo.ConsumeTopics(k.topic),
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
			t.Fatalf("consuming %s: %v", k.topic, e.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got = append(got, record{key: r.Key, value: r.Value})
		})
	}
	return got
}
