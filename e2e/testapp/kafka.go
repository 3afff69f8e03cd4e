package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kafka is the cluster's Kafka broker: one kfake broker, without SASL,
// which Debian's kcat (librdkafka) cannot complete with kfake. It listens on the pod's own address, the one it advertises, as a
// broker's advertised listener is, so that clients reach it through the
// Service's DNS name first and then at the pod.
func kafka(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	listen := fs.String("listen", "", "HOST:PORT to listen on and advertise, e.g. $(POD_IP):9092")
	topics := fs.String("topics", "", "topics to create, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil || host == "" {
		return fmt.Errorf("--listen %q: want HOST:PORT with the address the broker advertises", *listen)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(p),
		kfake.SeedTopics(1, strings.Split(*topics, ",")...),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, *listen) }),
	)
	if err != nil {
		return fmt.Errorf("starting kfake: %w", err)
	}
	slog.Info("kafka broker", "addr", c.ListenAddrs()[0], "topics", *topics)
	<-ctx.Done()
	c.Close()
	return nil
}
