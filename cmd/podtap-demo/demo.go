package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/metrics"
)

// The demo's "pod": a network namespace joined to the host by a veth pair,
// on addresses no real network uses here.
const (
	demoNS       = "podtap-demo"
	demoHostIf   = "ptdemo0"
	demoHostAddr = "10.213.77.1/30"
	demoPodAddr  = "10.213.77.2/30"
	demoPort     = "8080"
)

// runDemo runs the demo. viaKafka ships the pairs through Kafka (kfake
// unless brokers are configured) and prints them as consumed back.
func runDemo(ctx context.Context, cfg config.Sidecar, rounds int, viaKafka bool, stdout, stderr io.Writer) error {
	pod, err := netns.NewPod(demoNS, demoHostIf, demoHostAddr, demoPodAddr)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		if err := pod.Delete(); err != nil {
			fmt.Fprintln(stderr, "demo: cleaning up:", err)
		}
	}()

	var ln, grpcLn net.Listener
	var src capture.Source
	// Sockets opened inside the namespace stay there: the services listen
	// on the pod's address and the capture reads the pod's eth0.
	err = pod.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", net.JoinHostPort(pod.IP(), demoPort)); err != nil {
			return err
		}
		if grpcLn, err = net.Listen("tcp", net.JoinHostPort(pod.IP(), demoGRPCPort)); err != nil {
			return err
		}
		src, err = capture.OpenLive("eth0", cfg.Capture)
		return err
	})
	if err != nil {
		for _, l := range []net.Listener{ln, grpcLn} {
			if l != nil {
				l.Close()
			}
		}
		return fmt.Errorf("demo: starting the pod: %w", err)
	}
	defer src.Close()
	app := demoapp.NewServer()
	go func() { _ = app.Serve(ln) }()
	defer app.Close()
	greeter, schema, err := startDemoGRPC(grpcLn)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer greeter.Stop()

	cfg.Pod = config.Pod{Name: "demo", Namespace: demoNS, IPs: []string{pod.IP()}, Workload: "Deployment/demo"}
	var kafka *demoKafka
	if viaKafka {
		if kafka, err = startDemoKafka(&cfg, stdout, stderr); err != nil {
			return err
		}
	}
	s, err := sidecarcmd.Start(ctx, cfg, sidecar.Where{PodIPs: sidecarcmd.PodIPs(cfg)})
	if err != nil {
		if kafka != nil {
			_ = kafka.stop()
		}
		return err
	}
	captureCtx, stopCapture := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(captureCtx, src) }()

	fmt.Fprintf(stderr, "podtap demo: HTTP service on %s:%s and gRPC greeter on %s:%s in network namespace %s, capturing its eth0\n",
		pod.IP(), demoPort, pod.IP(), demoGRPCPort, demoNS)
	trafficErr := drive(ctx, rounds, "http://"+net.JoinHostPort(pod.IP(), demoPort), stderr)
	if trafficErr == nil {
		_, trafficErr = driveGRPC(ctx, net.JoinHostPort(pod.IP(), demoGRPCPort), schema, stderr)
	}
	// Let the last segments reach the capture before it stops; stopping
	// flushes every connection through the pipeline.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	stopCapture()
	runErr := <-done
	closeErr := s.Close()
	var kafkaErr error
	if kafka != nil {
		kafkaErr = kafka.stop()
	}
	summary(stdout)
	return errors.Join(trafficErr, runErr, closeErr, kafkaErr)
}

// drive sends the mix from the host side over keep-alive connections, then
// closes them so the capture sees each connection end.
func drive(ctx context.Context, rounds int, base string, stderr io.Writer) error {
	client := demoapp.Client()
	defer client.CloseIdleConnections()
	for range rounds {
		for _, call := range demoapp.Mix() {
			if err := call.Do(ctx, client, base); err != nil {
				return fmt.Errorf("demo traffic: %w", err)
			}
		}
	}
	fmt.Fprintf(stderr, "podtap demo: sent %d requests\n", rounds*len(demoapp.Mix()))
	return nil
}

// counters reads a counter family by its first label.
func counters(name string) map[string]float64 {
	out := map[string]float64{}
	families, err := metrics.Registry.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: reading metrics:", err)
		return out
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			if len(m.GetLabel()) > 0 {
				label = m.GetLabel()[0].GetValue()
			}
			out[label] = m.GetCounter().GetValue()
		}
	}
	return out
}

// summary prints the pairs emitted and dropped, from the metrics.
func summary(w io.Writer) {
	fmt.Fprintln(w, "\n== podtap demo summary ==")
	section := func(title, metric string) {
		values := counters(metric)
		fmt.Fprintln(w, title)
		labels := make([]string, 0, len(values))
		for l, v := range values {
			if v != 0 {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		if len(labels) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, l := range labels {
			fmt.Fprintf(w, "  %-18s %6.0f\n", l, values[l])
		}
	}
	section("pairs emitted, by protocol:", "podtap_pairs_total")
	section("pairs dropped, by reason:", "podtap_pairs_dropped_total")
}
