package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"

	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/schematest"
)

// sendTraffic makes two rounds of the demo's HTTP calls and two gRPC calls.
func sendTraffic(t *testing.T, hc *http.Client, httpBase, grpcAddr string, creds credentials.TransportCredentials) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		for _, c := range demoapp.Mix() {
			if err := c.Do(ctx, hc, httpBase); err != nil {
				t.Fatal(err)
			}
		}
	}
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	gc := grpcdemo.NewClient(cc, schema)
	if _, err := gc.SayHello(ctx, schema.NewRequest("ada", 1, nil)); err != nil {
		t.Fatalf("SayHello: %v", err)
	}
	if replies, err := gc.StreamReplies(ctx, schema.NewRequest("grace", 3, nil)); err != nil || len(replies) != 3 {
		t.Fatalf("StreamReplies: %d replies, %v", len(replies), err)
	}
}

// wantHTTP are the HTTP pairs podtap keeps of two rounds of the mix.
func wantHTTP() map[string]int {
	want := map[string]int{}
	for _, c := range demoapp.Mix() {
		if c.Kept {
			want[c.Method+" "+c.Path] += 2
		}
	}
	return want
}

// wantGRPC are the gRPC pairs, by method.
var wantGRPC = map[string]int{"SayHello": 1, "StreamReplies": 1}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// pair is the part of a record the test reads.
type pair struct {
	Protocol  string `json:"protocol"`
	Direction string `json:"direction"`
	Client    struct {
		IP string `json:"ip"`
	} `json:"client"`
	Server struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"server"`
	Pod     map[string]string `json:"pod"`
	Request struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Query  string `json:"query"`
	} `json:"request"`
	GRPC *struct {
		Service          string           `json:"service"`
		Method           string           `json:"method"`
		RequestMessages  []map[string]any `json:"request_messages"`
		ResponseMessages []map[string]any `json:"response_messages"`
	} `json:"grpc"`
	Redacted []string `json:"redacted"`
}

func parsePair(t *testing.T, r record) pair {
	t.Helper()
	var p pair
	if err := json.Unmarshal(r.value, &p); err != nil {
		t.Fatalf("record of %s: %v\n%s", r.key, err, r.value)
	}
	return p
}

// readPairs reads the pod's records that match from Kafka: until there are
// want of them, then once more for a moment, so that one too many would
// show.
func readPairs(t *testing.T, k kafkaTopicReader, pod *corev1.Pod, want int, match func(pair) bool) []record {
	t.Helper()
	key := pod.Namespace + "/" + pod.Name
	mine := func(rs []record) []record {
		var out []record
		for _, r := range rs {
			if string(r.key) != key {
				continue
			}
			var p pair
			if json.Unmarshal(r.value, &p) == nil && match(p) {
				out = append(out, r)
			}
		}
		return out
	}
	got := mine(k.read(t, time.Minute, func(rs []record) bool { return len(mine(rs)) >= want }))
	if len(got) < want {
		t.Fatalf("%d matching records of %s in Kafka after a minute, want %d", len(got), key, want)
	}
	time.Sleep(2 * time.Second)
	return mine(k.read(t, 5*time.Second, func([]record) bool { return false }))
}

// checkPairs asserts every record: the pair schema, the pod's fields from
// the downward API, the application's server the calls reached, inbound,
// and exactly the pairs podtap's filter keeps.
func checkPairs(t *testing.T, pod *corev1.Pod, recs []record, serverIP string) {
	t.Helper()
	gotHTTP, gotGRPC := map[string]int{}, map[string]int{}
	for _, r := range recs {
		if err := schematest.Validate(r.value); err != nil {
			t.Errorf("record of %s: %v\n%s", r.key, err, r.value)
			continue
		}
		p := parsePair(t, r)
		wantPod := map[string]string{"name": pod.Name, "namespace": pod.Namespace, "uid": string(pod.UID),
			"node": nodeName, "workload": "Deployment/" + pod.Labels["app"]}
		for f, v := range wantPod {
			if p.Pod[f] != v {
				t.Errorf("pod.%s = %q, want %q", f, p.Pod[f], v)
			}
		}
		port := 8080
		if p.Protocol == "grpc" {
			port = 9000
		}
		if p.Server.IP != serverIP || p.Server.Port != port || p.Direction != "inbound" {
			t.Errorf("%s %s: server %s:%d, direction %s; want server %s:%d, inbound",
				p.Request.Method, p.Request.Path, p.Server.IP, p.Server.Port, p.Direction, serverIP, port)
		}
		if p.Protocol == "grpc" {
			if p.GRPC == nil || p.GRPC.Service != grpcdemo.Service || len(p.GRPC.RequestMessages) == 0 || p.GRPC.RequestMessages[0]["name"] == nil {
				t.Errorf("gRPC pair not decoded by reflection: %s", r.value)
				continue
			}
			gotGRPC[p.GRPC.Method]++
			t.Logf("pair %s /%s/%s %v -> %d replies; pod %s/%s (%s) on %s, %s:%d, %s",
				p.Protocol, p.GRPC.Service, p.GRPC.Method, p.GRPC.RequestMessages[0], len(p.GRPC.ResponseMessages),
				p.Pod["namespace"], p.Pod["name"], p.Pod["workload"], p.Pod["node"], p.Server.IP, p.Server.Port, p.Direction)
			continue
		}
		gotHTTP[p.Request.Method+" "+p.Request.Path]++
		if p.Request.Path == "/api/login" && !slices.Contains(p.Redacted, "request.body.password") {
			t.Errorf("login pair: redacted %v, want the password masked", p.Redacted)
		}
	}
	if fmt.Sprint(gotHTTP) != fmt.Sprint(wantHTTP()) {
		t.Errorf("HTTP pairs %v, want %v", gotHTTP, wantHTTP())
	}
	if fmt.Sprint(gotGRPC) != fmt.Sprint(wantGRPC) {
		t.Errorf("gRPC pairs %v, want %v", gotGRPC, wantGRPC)
	}
	t.Logf("%s/%s: HTTP pairs %v, gRPC pairs %v", pod.Namespace, pod.Name, gotHTTP, gotGRPC)
}

// checkKcat reads the topic with Debian's kcat, an independent client:
// it finds the pairs of the test's own calls to the pod, want of them.
func checkKcat(t *testing.T, k kafkaTopicReader, pod *corev1.Pod, want int) {
	t.Helper()
	key := pod.Namespace + "/" + pod.Name
	var stderr strings.Builder
	cmd := exec.Command("kcat", "-C", "-b", k.addr, "-t", kafkaTopic, "-e", "-o", "beginning", "-q", "-f", "%k\t%s\n")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	got, all := 0, 0
	for line := range strings.SplitSeq(string(out), "\n") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok || k != key {
			continue
		}
		all++
		var p pair
		if json.Unmarshal([]byte(v), &p) == nil && p.Client.IP == hostIP {
			got++
		}
	}
	if got != want {
		t.Errorf("kcat read %d pairs of the test's calls to %s, want %d", got, key, want)
	}
	t.Logf("kcat: %d records of %s, %d of them the test's calls", all, key, got)
}

// checkConsume runs the README's `podtap-sidecar consume` in a pod of the
// cluster, with the brokers' DNS name: it prints the pairs of the test's
// own calls to the pod, want of them.
func checkConsume(t *testing.T, cl *cluster, image string, pod *corev1.Pod, want int) {
	t.Helper()
	cl.mustKubectl(t, "run", "podtap-consume", "-n", releaseNamespace, "--restart=Never", "--image="+image,
		"--env=PODTAP_KAFKA_BROKERS="+brokers, "--env=PODTAP_KAFKA_TOPIC="+kafkaTopic, "--", "consume", "--value-only")
	if _, err := cl.kubectl("-n", releaseNamespace, "wait", "pod/podtap-consume", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=2m"); err != nil {
		logs, _ := cl.kubectl("-n", releaseNamespace, "logs", "podtap-consume")
		t.Fatalf("%v\n%s", err, logs)
	}
	logs := cl.mustKubectl(t, "-n", releaseNamespace, "logs", "podtap-consume")
	n, all := 0, 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p pair
		if json.Unmarshal(sc.Bytes(), &p) != nil || p.Pod["name"] != pod.Name || p.Pod["namespace"] != pod.Namespace {
			continue
		}
		all++
		if p.Client.IP == hostIP {
			n++
		}
	}
	if n != want {
		t.Errorf("podtap-sidecar consume printed %d pairs of the test's calls to %s; want %d:\n%s", n, pod.Name, want, lastLines(logs, 5))
	}
	t.Logf("podtap-sidecar consume in the cluster: %d pairs of %s, %d of them the test's calls", all, pod.Name, n)
	cl.mustKubectl(t, "-n", releaseNamespace, "delete", "pod", "podtap-consume", "--wait=false")
}
