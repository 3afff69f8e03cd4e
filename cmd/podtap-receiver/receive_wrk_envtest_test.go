package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// TestReceiverWrkMirroredPodsFromAPIServer: a "pod" network namespace
// runs Debian's nginx and the kernel mirrors its eth0 to the receiver as
// cloud traffic mirroring does; the kube-apiserver knows that pod, by its
// real address, as a Deployment's. At least 99.9 % of wrk's requests, and
// curl's, come out of Kafka as pairs, each named with the pod, its
// namespace and its workload.
func TestReceiverWrkMirroredPodsFromAPIServer(t *testing.T) {
	wrk := testenv.RequireTool(t, "wrk")
	testenv.RequireTool(t, "curl")
	testenv.RequireEnvtest(t)
	port := freeUDPPort(t)
	pod := mirroredNginx(t, port)

	k := startAPIServer(t)
	client := k.c
	ctx, cancel := context.WithCancel(k.ctx)
	defer cancel()
	k.namespace("shop")
	k.pod("shop", "checkout-abc12", pod.IP(), k.replicaSet("shop", "checkout"))

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, config.DefaultSidecar().Kafka.CoverageTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	cfg := config.DefaultSidecar()
	cfg.Capture.Source = config.SourceVXLAN
	cfg.Capture.VXLAN.Port = port
	// As a busy receiver's host would set it (README: receive_buffer_bytes,
	// net.core.rmem_max): other engineers' builds share the two cores, and
	// wrk's mirrored packets queue while the receiver waits for CPU.
	cfg.Capture.VXLAN.ReceiveBufferBytes = 128 * config.MiB
	cfg.Sink.Type = "kafka"
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.Kafka.Topic = topic
	cfg.Kafka.Spool.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, done, consumer := runReceiver(t, ctx, cfg, client)
	drops := testutil.ToFloat64(metrics.KernelDrops)

	base := fmt.Sprintf("http://%s:8080", pod.IP())
	out, err := exec.Command(wrk, "-t1", "-c2", "-d3s", base+"/wrk").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v: %s", err, out)
	}
	match := wrkRequests.FindSubmatch(out)
	if match == nil {
		t.Fatalf("wrk printed no request count: %s", out)
	}
	requests, _ := strconv.Atoi(string(match[1]))
	if out, err := exec.Command("curl", "-sS", "--fail", "-o", "/dev/null", base+"/curl").CombinedOutput(); err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}

	want := podFields{Direction: "inbound", Name: "checkout-abc12", Namespace: "shop", Workload: "Deployment/checkout", IP: pod.IP()}
	count := map[string]int{}
	wrong := 0
	consume := func(ctx context.Context) bool {
		fs := consumer.PollFetches(ctx)
		n := 0
		fs.EachRecord(func(rec *kgo.Record) {
			n++
			path, got := decode(t, rec.Value)
			count[path]++
			if got != want {
				if wrong < 5 {
					t.Errorf("%s: got %+v, want %+v", path, got, want)
				}
				wrong++
			}
		})
		return n > 0
	}
	// The receiver reads its socket in order, so once curl's pair is out,
	// every wrk packet has been read too.
	for deadline := time.Now().Add(20 * time.Second); count["/curl"] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no pair for curl's request within 20s; %d of wrk's %d", count["/wrk"], requests)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		consume(pctx)
		pcancel()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("receiver: %v", err)
	}
	// The sink has flushed on close: read what is left until Kafka is quiet.
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		more := consume(pctx)
		pcancel()
		if !more {
			break
		}
	}

	ratio := float64(count["/wrk"]) / float64(requests)
	t.Logf("wrk: %d requests, %d pairs (%.4f); curl pairs %d; kernel drops %v; records with wrong pod fields %d",
		requests, count["/wrk"], ratio, count["/curl"], testutil.ToFloat64(metrics.KernelDrops)-drops, wrong)
	if requests == 0 || ratio < 0.999 {
		t.Errorf("%d of wrk's %d requests came out as pairs (%.4f), want at least 99.9 %%", count["/wrk"], requests, ratio)
	}
	if count["/wrk"] > requests+2 {
		t.Errorf("%d wrk pairs for wrk's %d completed requests (plus at most one unfinished per connection)", count["/wrk"], requests)
	}
	if count["/curl"] != 1 {
		t.Errorf("%d pairs for curl's one request", count["/curl"])
	}
	if wrong > 0 {
		t.Errorf("%d records without the pod's fields from the API server", wrong)
	}
	if len(count) != 2 {
		t.Errorf("records of unexpected paths: %v", count)
	}
}

func decode(t *testing.T, raw []byte) (string, podFields) {
	t.Helper()
	var rec struct {
		Direction string `json:"direction"`
		Pod       struct {
			Name, Namespace, Workload, IP string
		} `json:"pod"`
		Request struct {
			Path string `json:"path"`
		} `json:"request"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("record %s: %v", raw, err)
	}
	p := rec.Pod
	return rec.Request.Path, podFields{Direction: rec.Direction, Name: p.Name, Namespace: p.Namespace, Workload: p.Workload, IP: p.IP}
}

// mirroredNginx makes a "pod" running nginx whose eth0 the kernel mirrors
// as cloud traffic mirroring does: tc on eth0 (clsact, a u32 filter
// matching everything, mirred egress mirror) copies every frame in and out
// to a vxlan link, which sends it to the host's UDP port over an underlay
// veth of its own, so the tunnel's packets are not mirrored again; its MTU
// of 1600 leaves room for VXLAN's 50 bytes.
func mirroredNginx(t *testing.T, port int) *netns.Pod {
	t.Helper()
	testenv.RequireTool(t, "nginx")
	testenv.RequireTool(t, "tc")
	pod := testenv.NewPod(t, "ptrw-", 222, 1)
	const podUnderlay, hostUnderlay, hostLink = "10.222.9.1", "10.222.9.2", "ptrw-u1"
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	inPod := func(name string, args ...string) {
		t.Helper()
		run("ip", append([]string{"netns", "exec", pod.Name, name}, args...)...)
	}
	run("ip", "link", "add", hostLink, "mtu", "1600", "type", "veth", "peer", "name", "ul0", "netns", pod.Name, "mtu", "1600")
	// Removing the namespace removes the pair; this covers a failure before.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostLink).Run() })
	run("ip", "addr", "add", hostUnderlay+"/30", "dev", hostLink)
	run("ip", "link", "set", hostLink, "up")
	inPod("ip", "addr", "add", podUnderlay+"/30", "dev", "ul0")
	inPod("ip", "link", "set", "ul0", "up")
	inPod("ip", "link", "add", "vxm0", "mtu", "1500", "type", "vxlan", "id", "100",
		"local", podUnderlay, "remote", hostUnderlay, "dstport", strconv.Itoa(port), "dev", "ul0")
	inPod("ip", "link", "set", "vxm0", "up")
	inPod("tc", "qdisc", "add", "dev", "eth0", "clsact")
	for _, hook := range []string{"ingress", "egress"} {
		inPod("tc", "filter", "add", "dev", "eth0", hook, "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "mirror", "dev", "vxm0")
	}

	testenv.StartNginx(t, pod, fmt.Sprintf(`	server {
		listen %[1]s:8080;
		location / {
			default_type application/json;
			return 200 '{"uri":"$uri","pad":"%[2]s"}';
		}
	}`, pod.IP(), strings.Repeat("x", 2000)), net.JoinHostPort(pod.IP(), "8080"))
	return pod
}
