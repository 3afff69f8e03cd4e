package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/webhook"
)

const (
	// meshOutboundPort is Envoy's outbound listener, where the redirect
	// sends the pod's connections to Kafka.
	meshOutboundPort = 15001
	// meshControlPort serves the outbound proxy's POST /hold and GET /held.
	meshControlPort = 15020
	// meshProxyUID is the proxy's own user, which the redirect spares, as
	// istio-init spares Envoy's 1337.
	meshProxyUID = 1337
)

// shutdownPod is a pod under a mesh whose proxy is a native sidecar named
// proxyName: an init container redirects every connection to Kafka's port
// but the proxy's own to the proxy's outbound listener, which relays it to
// its original destination. podtap's Kafka traffic, and its last flush,
// goes through the proxy. The pod keeps capturing eth0, where the test's
// calls arrive. Named istio-proxy, the proxy is one podtap knows and places
// itself after, so it stops first; under another name podtap goes first
// and stops last, after the proxy.
func shutdownPod(name, proxyName string, podtapPort int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop, Labels: map[string]string{"app": name},
			Annotations: map[string]string{config.AnnotationInterface: "eth0"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name:  "istio-init",
				Image: istioInitImage,
				Args: []string{"-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", fmt.Sprint(kafkaPort),
					"-m", "owner", "!", "--uid-owner", fmt.Sprint(meshProxyUID),
					"-j", "REDIRECT", "--to-ports", fmt.Sprint(meshOutboundPort)},
				SecurityContext: &corev1.SecurityContext{
					RunAsUser:    ptr.To(int64(0)),
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
				},
			}, {
				Name:          proxyName,
				Image:         istioImage,
				RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Args: []string{"outbound", fmt.Sprintf("--listen=127.0.0.1:%d", meshOutboundPort),
					fmt.Sprintf("--control=:%d", meshControlPort), fmt.Sprintf("--release-when-closed=127.0.0.1:%d", podtapPort)},
				Ports:           []corev1.ContainerPort{{Name: "mesh-control", ContainerPort: meshControlPort}},
				SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To(int64(meshProxyUID))},
			}},
			Containers: []corev1.Container{{
				Name:  "checkout",
				Image: appImage,
				Args:  []string{"serve", "--http=:8080", "--grpc=:9000"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
}

// checkShutdownOrder deletes, with the default grace period, a pod whose
// pairs are still on their way to Kafka through a native mesh proxy, and
// counts them in Kafka: all of them with the proxy podtap recognises, and
// fewer beside an unrecognised one, which shows the order is what saves
// them. The proxy holds what podtap sends from before the calls until
// podtap stops listening on its port, as it does on SIGTERM: the pairs are
// unsent when the pod is deleted, and reach Kafka only if the proxy
// outlives podtap's flush.
func checkShutdownOrder(t *testing.T, cl *cluster, kafka kafkaTopicReader, podtapPort int) {
	t.Helper()
	const ordered, control = "shutdown-order", "shutdown-order-control"
	pods := map[string]*corev1.Pod{
		ordered: shutdownPod(ordered, "istio-proxy", podtapPort),
		control: shutdownPod(control, "envoy", podtapPort),
	}
	for _, p := range pods {
		create(t, cl, p)
	}
	for name, p := range pods {
		waitFor(t, name+" ready", 2*time.Minute, func() (bool, error) {
			err := cl.c.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			return err == nil && podReady(p), err
		})
		var st webhook.Status
		if err := json.Unmarshal([]byte(p.Annotations[config.AnnotationStatus]), &st); err != nil || !st.Native || st.Interface != "eth0" {
			t.Fatalf("pod %s: %s=%q (%v); want a native sidecar on eth0", name, config.AnnotationStatus, p.Annotations[config.AnnotationStatus], err)
		}
	}
	got := initNames(pods[ordered])
	if want := "istio-init,istio-proxy," + webhook.ContainerName; got != want {
		t.Fatalf("%s: init containers %s, want %s: podtap is not right after the native proxy", ordered, got, want)
	}
	if got := initNames(pods[control]); got != webhook.ContainerName+",istio-init,envoy" {
		t.Fatalf("%s: init containers %s, want podtap first beside a proxy it does not know", control, got)
	}

	// Both pods at once: each is held for only as long as its calls and
	// its deletion take, well inside the sink's stall limit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	calls := map[string]int{}
	deleted := map[string]time.Time{}
	for name, p := range pods {
		wg.Go(func() {
			n, held := holdAndCall(t, p)
			if n == 0 {
				return
			}
			at := time.Now()
			if err := cl.c.Delete(context.Background(), p); err != nil {
				t.Errorf("deleting %s: %v", name, err)
				return
			}
			mu.Lock()
			calls[name], deleted[name] = n, at
			mu.Unlock()
			t.Logf("%s: %d calls answered, %d bytes of podtap's to Kafka held by the proxy; pod deleted", name, n, held)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for name, p := range pods {
		waitFor(t, name+" gone", 2*time.Minute, func() (bool, error) {
			var cur corev1.Pod
			err := cl.c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur)
			return apierrors.IsNotFound(err), err
		})
		t.Logf("%s: gone %s after its deletion", name, time.Since(deleted[name]).Round(100*time.Millisecond))
	}

	fromTest := func(p pair) bool { return p.Client.IP == hostIP && p.Server.Port == 8080 }
	recs := kafka.read(t, 10*time.Second, func([]record) bool { return false })
	count := func(p *corev1.Pod) int {
		n := 0
		for _, r := range recs {
			if string(r.key) != p.Namespace+"/"+p.Name {
				continue
			}
			if pr := parsePair(t, r); fromTest(pr) {
				n++
			}
		}
		return n
	}
	if n := count(pods[ordered]); n != calls[ordered] {
		t.Errorf("%s (podtap stops before istio-proxy): %d pairs in Kafka after the deletion, want %d", ordered, n, calls[ordered])
	} else {
		t.Logf("%s (podtap stops before istio-proxy): %d of %d pairs in Kafka", ordered, n, calls[ordered])
	}
	if n := count(pods[control]); n >= calls[control] {
		t.Errorf("control %s (podtap stops after the proxy): %d of %d pairs in Kafka; want fewer, or the test cannot tell the order", control, n, calls[control])
	} else {
		t.Logf("control %s (podtap stops after the proxy): %d of %d pairs in Kafka", control, n, calls[control])
	}
}

func initNames(p *corev1.Pod) string {
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

// holdAndCall puts the pod's proxy on hold, makes the demo's kept calls
// to its application and waits until the proxy holds some of podtap's
// traffic to Kafka; it returns the calls made and the bytes held.
func holdAndCall(t *testing.T, p *corev1.Pod) (int, int64) {
	t.Helper()
	control := "http://" + net.JoinHostPort(p.Status.PodIP, fmt.Sprint(meshControlPort))
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Post(control+"/hold", "", nil)
	if err != nil {
		t.Errorf("%s: holding the proxy: %v", p.Name, err)
		return 0, 0
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("%s: POST /hold: %d %s", p.Name, resp.StatusCode, body)
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := "http://" + net.JoinHostPort(p.Status.PodIP, "8080")
	n := 0
	for _, c := range demoapp.Mix() {
		if err := c.Do(ctx, demoapp.Client(), base); err != nil {
			t.Errorf("%s: %v", p.Name, err)
			return 0, 0
		}
		if c.Kept {
			n++
		}
	}
	var held int64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(control + "/held")
		if err != nil {
			t.Errorf("%s: GET /held: %v", p.Name, err)
			return 0, 0
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if held, _ = strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64); held > 0 {
			return n, held
		}
	}
	t.Errorf("%s: the proxy held nothing of podtap's 3 s after the calls: podtap's Kafka traffic does not go through it", p.Name)
	return 0, 0
}
