package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"os"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/pcapgen"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/receiver/pods"
	"github.com/podtap/podtap/sidecar/capture"
	"github.com/podtap/podtap/sidecar/tunnel"
)

const topic = "podtap.pairs"

// TestReceiverNamesPodsFromAPIServer runs the receiver against a real
// kube-apiserver: a Deployment's ReplicaSet and pods with their addresses
// set through the status subresource, HTTP between them sent as VXLAN by
// a tunnel-mode sender, and the records read back from Kafka (kfake).
func TestReceiverNamesPodsFromAPIServer(t *testing.T) {
	k := startAPIServer(t)
	client := k.c
	ctx, cancel := context.WithCancel(k.ctx)
	defer cancel()

	k.namespace("shop")
	rs := k.replicaSet("shop", "checkout")
	k.pod("shop", "checkout-abc12", "10.1.0.5", rs)
	k.pod("shop", "cart-0", "10.1.0.6", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "cart", UID: "u-cart", Controller: new(true)})

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	cfg := config.DefaultSidecar()
	cfg.Capture.Source = config.SourceVXLAN
	cfg.Capture.VXLAN.Port = freeUDPPort(t)
	cfg.Sink.Type = "kafka"
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.Kafka.Topic = topic
	cfg.Kafka.Spool.Dir = t.TempDir()
	cfg.Pairing.ResponseTimeout = 2 * time.Second
	r, done, consumer := runReceiver(t, ctx, cfg, client)

	unknownBefore := testutil.ToFloat64(pods.Unnamed.WithLabelValues(pods.ReasonUnknownIP))
	target := "127.0.0.1:" + strconv.Itoa(cfg.Capture.VXLAN.Port)
	send(t, ctx, target, []exchange{
		{client: "10.1.0.6:40001", server: "10.1.0.5:8080", path: "/orders"},   // pod to pod: the server's pod
		{client: "10.1.0.5:40002", server: "203.0.113.7:443", path: "/pay"},    // pod to the outside: the client's pod
		{client: "198.51.100.1:40003", server: "192.0.2.9:80", path: "/stray"}, // no known pod
	})
	got := read(t, ctx, consumer, 3)
	want := map[string]podFields{
		"/orders": {Direction: "inbound", Name: "checkout-abc12", Namespace: "shop", Workload: "Deployment/checkout", IP: "10.1.0.5"},
		"/pay":    {Direction: "outbound", Name: "checkout-abc12", Namespace: "shop", Workload: "Deployment/checkout", IP: "10.1.0.5"},
		"/stray":  {Direction: "unknown"},
	}
	check(t, got, want)
	if d := testutil.ToFloat64(pods.Unnamed.WithLabelValues(pods.ReasonUnknownIP)) - unknownBefore; d != 1 {
		t.Errorf("podtap_receiver_unnamed_pairs_total{reason=unknown_ip} grew by %v, want 1", d)
	}

	// The pod is replaced: a new pod of another workload gets its address.
	k.delete("shop", "checkout-abc12")
	k.pod("shop", "checkout-def34", "10.1.0.5", rs)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ref, ok := r.pods.Lookup(netip.MustParseAddr("10.1.0.5"))
		if ok && ref.Name == "checkout-def34" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10.1.0.5 still maps to %+v (found %v), want checkout-def34", ref, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
	send(t, ctx, target, []exchange{{client: "10.1.0.6:40004", server: "10.1.0.5:8080", path: "/orders/2"}})
	check(t, read(t, ctx, consumer, 1), map[string]podFields{
		"/orders/2": {Direction: "inbound", Name: "checkout-def34", Namespace: "shop", Workload: "Deployment/checkout", IP: "10.1.0.5"},
	})
	// A pod of a StatefulSet is named by its controller.
	send(t, ctx, target, []exchange{{client: "198.51.100.1:40005", server: "10.1.0.6:9090", path: "/cart"}})
	check(t, read(t, ctx, consumer, 1), map[string]podFields{
		"/cart": {Direction: "inbound", Name: "cart-0", Namespace: "shop", Workload: "StatefulSet/cart", IP: "10.1.0.6"},
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("receiver: %v", err)
	}
}

type podFields struct {
	Direction                     string
	Name, Namespace, Workload, IP string
}

func check(t *testing.T, got, want map[string]podFields) {
	t.Helper()
	for path, w := range want {
		g, ok := got[path]
		if !ok {
			t.Errorf("no record for %s", path)
			continue
		}
		if g != w {
			t.Errorf("%s: got %+v, want %+v", path, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d: %v", len(got), len(want), got)
	}
}

// read returns n records by request path.
func read(t *testing.T, ctx context.Context, cl *kgo.Client, n int) map[string]podFields {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out := map[string]podFields{}
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d records after 20s: %v", len(out), n, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var rec struct {
				Direction string `json:"direction"`
				Pod       struct {
					Name, Namespace, Workload, IP string
				} `json:"pod"`
				Request struct {
					Path string `json:"path"`
				} `json:"request"`
			}
			if err := json.Unmarshal(r.Value, &rec); err != nil {
				t.Fatalf("record %s: %v", r.Value, err)
			}
			p := rec.Pod
			out[rec.Request.Path] = podFields{Direction: rec.Direction, Name: p.Name, Namespace: p.Namespace, Workload: p.Workload, IP: p.IP}
		})
	}
	return out
}

type exchange struct{ client, server, path string }

// send writes the exchanges as TCP connections into a capture and sends
// it through a tunnel-mode sender, as an injected sidecar would.
func send(t *testing.T, ctx context.Context, target string, xs []exchange) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mirrored.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgen.NewWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now()
	for _, x := range xs {
		c, s := netip.MustParseAddrPort(x.client), netip.MustParseAddrPort(x.server)
		body := `{"ok":true}`
		req := "GET " + x.path + " HTTP/1.1\r\nHost: api\r\nAccept: application/json\r\n\r\n"
		resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		segs := []pcapgen.Segment{
			{Src: c, Dst: s, Seq: 100, Flags: "S"},
			{Src: s, Dst: c, Seq: 500, Ack: 101, Flags: "SA"},
			{Src: c, Dst: s, Seq: 101, Ack: 501, Flags: "A"},
			{Src: c, Dst: s, Seq: 101, Ack: 501, Flags: "PA", Payload: []byte(req)},
			{Src: s, Dst: c, Seq: 501, Ack: 101 + uint32(len(req)), Flags: "PA", Payload: []byte(resp)},
			{Src: c, Dst: s, Seq: 101 + uint32(len(req)), Ack: 501 + uint32(len(resp)), Flags: "FA"},
			{Src: s, Dst: c, Seq: 501 + uint32(len(resp)), Ack: 102 + uint32(len(req)), Flags: "FA"},
		}
		for _, sg := range segs {
			ts = ts.Add(time.Millisecond)
			if err := w.WriteSegment(ts, sg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tc := config.DefaultSidecar().Tunnel
	tc.Target = target
	if err := tunnel.New(tc).Run(ctx, src); err != nil {
		t.Fatal(err)
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := testenv.FreePort(t, "127.0.0.1")
		if c, err := capture.OpenVXLAN(config.Capture{VXLAN: config.VXLAN{Port: p}}); err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// runReceiver starts and returns the receiver with cfg until ctx ends (its result on
// done) and a consumer of cfg's topic, closed when the test ends.
func runReceiver(t *testing.T, ctx context.Context, cfg config.Sidecar, client kubernetes.Interface) (*receiver, chan error, *kgo.Client) {
	t.Helper()
	r, err := start(ctx, cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.run(ctx) }()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumeTopics(cfg.Kafka.Topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	return r, done, consumer
}

// startAPIServer starts kube-apiserver and etcd (envtest) until the test
// ends; without them the test skips (fails on CI).
func startAPIServer(t *testing.T) kube {
	t.Helper()
	testenv.RequireEnvtest(t)
	env := &envtest.Environment{}
	rc, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return kube{t: t, ctx: t.Context(), c: kubernetes.NewForConfigOrDie(rc)}
}

type kube struct {
	t   *testing.T
	ctx context.Context
	c   kubernetes.Interface
}

func (k kube) namespace(name string) {
	k.t.Helper()
	if _, err := k.c.CoreV1().Namespaces().Create(k.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// replicaSet creates a Deployment and a ReplicaSet it owns, as the
// Deployment controller would, and returns the owner reference of its pods.
func (k kube) replicaSet(ns, deployment string) *metav1.OwnerReference {
	k.t.Helper()
	labels := map[string]string{"app": deployment}
	spec := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	d, err := k.c.AppsV1().Deployments(ns).Create(k.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployment},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec},
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	rs, err := k.c.AppsV1().ReplicaSets(ns).Create(k.ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: deployment + "-7d9f8", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: new(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec},
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}
}

// pod creates a running pod with ip, set through the status subresource
// as a kubelet would.
func (k kube) pod(ns, name, ip string, owner *metav1.OwnerReference) {
	k.t.Helper()
	p, err := k.c.CoreV1().Pods(ns).Create(k.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{*owner}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := k.c.CoreV1().Pods(ns).UpdateStatus(k.ctx, p, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(fmt.Errorf("pod %s status: %w", name, err))
	}
}

func (k kube) delete(ns, name string) {
	k.t.Helper()
	if err := k.c.CoreV1().Pods(ns).Delete(k.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		k.t.Fatal(err)
	}
}
