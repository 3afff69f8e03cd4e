package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/webhook"
)

// Images the test's workloads declare; the kubelet runs testapp for them.
const (
	appImage   = "registry.example/shop/checkout:1.4.2"
	istioImage = "docker.io/istio/proxyv2:1.26.0"
	shop       = "shop"
	kafkaTopic = "podtap.e2e"
	saslSecret = "podtap-kafka-sasl"
)

// TestWholePath follows podtap from `helm install` to the pairs in Kafka:
//
//  1. envtest's kube-apiserver serves on the node; `helm install` installs
//     the chart with this machine's Kafka and the webhook Service's
//     address; the webhook's Deployment runs on the node as its two pods,
//     with the chart's ServiceAccount token, RBAC and configuration, behind
//     its Service; the registration is the chart's.
//  2. A namespace labelled podtap.io/inject=enabled gets a Deployment,
//     whose pod is created through the API server.
//  3. The kubelet of kubelet_test.go runs the mutated pod: a network
//     namespace, the application, and the injected sidecar from the pod
//     spec alone, with its Kafka credentials from the namespace's Secret.
//  4. HTTP and gRPC calls reach the pod; the pairs are read back from kfake
//     with the pod's fields.
//  5. The same with an Istio-like pod: the sidecar captures lo, where a
//     TLS-terminating proxy relays the calls.
//
// Last, `helm upgrade` leaves the caBundle the webhook patched in.
func TestWholePath(t *testing.T) {
	testenv.RequireNetns(t)
	testenv.RequireEnvtest(t)
	started := time.Now()
	bins := requireBinaries(t)
	t.Logf("binaries built in %s", time.Since(started).Round(time.Millisecond))
	checkVersions(t, bins)

	n := newNode(t)
	cp := startControlPlane(t, n.ip, strconv.Itoa(testenv.FreePort(t, n.ip)))
	kafka := startKafka(t, n.ip, kafkaTopic)
	svc := newServiceProxy(t)

	// 1. The first command, against this control plane, with this
	// machine's Kafka and the Service's address as the API server reaches it.
	values := writeYAML(t, map[string]any{
		"webhook": map[string]any{"url": "https://localhost:" + port(t, svc.addr())},
		"tls":     map[string]any{"extraDNSNames": []string{"localhost"}},
		"kafka": map[string]any{
			"brokers": []string{kafka.addr},
			"topic":   kafkaTopic,
			"sasl":    map[string]any{"mechanism": kafkaMechanism, "secretName": saslSecret},
		},
	})
	kubeconfig := cp.kubeconfig(t)
	notes, err := runHelm(t, "install", releaseName, chartDir, "--namespace", releaseNamespace, "--create-namespace",
		"--kubeconfig", kubeconfig, "-f", values)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"kubectl label namespace <namespace> podtap.io/inject=enabled",
		"kubectl -n <namespace> rollout restart deployment", "create secret generic " + saslSecret} {
		if !strings.Contains(notes, step) {
			t.Errorf("helm install's notes do not tell %q:\n%s", step, notes)
		}
	}
	var deps appsv1.DeploymentList
	if err := cp.c.List(context.Background(), &deps, client.InNamespace(releaseNamespace)); err != nil || len(deps.Items) != 1 {
		t.Fatalf("%d Deployments installed: %v", len(deps.Items), err)
	}
	dep := &deps.Items[0]
	var cm corev1.ConfigMap
	if err := cp.c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: dep.Name}, &cm); err != nil {
		t.Fatal(err)
	}
	cfg := loadWebhookConfig(t, cm.Data["config.yaml"])
	k := newKubelet(t, cp, n, map[string]image{
		cfg.Sidecar.Image:                          dockerImage(t, "Dockerfile.sidecar", bins.Sidecar),
		dep.Spec.Template.Spec.Containers[0].Image: dockerImage(t, "Dockerfile.webhook", bins.Webhook),
		appImage:   testAppImage(bins.TestApp),
		istioImage: testAppImage(bins.TestApp),
	})

	webhookStart := time.Now()
	var webhooks []*runningPod
	for _, p := range rollOut(t, cp, dep) {
		webhooks = append(webhooks, k.run(t, p))
	}
	var service corev1.Service
	if err := cp.c.Get(context.Background(), client.ObjectKey{Namespace: releaseNamespace, Name: cfg.Registration.Service}, &service); err != nil {
		t.Fatal(err)
	}
	if err := svc.route(&service, "webhook", webhooks); err != nil {
		t.Fatal(err)
	}
	for _, rp := range webhooks {
		rp.waitReady(t, 2*time.Minute)
		wc := rp.container(t, "webhook")
		checkProcess(t, wc, 65532, 0)
		// Its own Service's links, PODTAP_WEBHOOK_SERVICE_HOST and the
		// like, are in its env and must not stop it.
		if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", wc.cmd.Process.Pid)); err != nil || !strings.Contains(string(env), "PODTAP_WEBHOOK_SERVICE_HOST=") {
			t.Errorf("the webhook's env lacks its Service's links: %v", err)
		}
	}
	caBundle := waitCABundle(t, cp, cfg.Registration.Name)
	t.Logf("%d webhook replicas ready, caBundle patched, in %s", len(webhooks), time.Since(webhookStart).Round(time.Millisecond))

	// 2. The workload's namespace, with its own Kafka credentials.
	cp.createNamespace(t, shop, map[string]string{config.LabelInject: "enabled"})
	if err := cp.c.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: saslSecret, Namespace: shop},
		Type:       corev1.SecretTypeBasicAuth,
		StringData: map[string]string{corev1.BasicAuthUsernameKey: kafka.user, corev1.BasicAuthPasswordKey: kafka.pass},
	}); err != nil {
		t.Fatal(err)
	}
	if err := cp.c.Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: shop},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "checkout"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t, "checkout.shop.svc")
	if err := cp.c.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-certs", Namespace: shop},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: pki.certPEM, corev1.TLSPrivateKeyKey: pki.keyPEM},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("pod on eth0", func(t *testing.T) {
		rp := runWorkload(t, cp, k, checkoutDeployment("checkout", false))
		checkInjected(t, rp.pod, "eth0")
		httpBase, grpcAddr := "http://"+net.JoinHostPort(rp.ip, "8080"), net.JoinHostPort(rp.ip, "9000")
		sendTraffic(t, demoapp.Client(), httpBase, grpcAddr, insecure.NewCredentials())
		got := readPairs(t, kafka, rp.pod)
		checkPairs(t, rp, got, rp.ip)
	})
	t.Run("istio-like pod on lo", func(t *testing.T) {
		rp := runWorkload(t, cp, k, checkoutDeployment("checkout-mesh", true))
		checkInjected(t, rp.pod, "lo")
		tc := &tls.Config{RootCAs: pki.pool, ServerName: "checkout.shop.svc", MinVersion: tls.VersionTLS12}
		httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableCompression: true}}
		httpBase, grpcAddr := "https://"+net.JoinHostPort(rp.ip, "15006"), net.JoinHostPort(rp.ip, "15007")
		sendTraffic(t, httpClient, httpBase, grpcAddr, credentials.NewTLS(tc))
		got := readPairs(t, kafka, rp.pod)
		// Through the proxy the calls reach the application on loopback:
		// that is where the pairs come from, in plaintext.
		checkPairs(t, rp, got, "127.0.0.1")
	})
	t.Run("helm upgrade keeps the caBundle", func(t *testing.T) {
		// With the webhook stopped, nothing would put back a caBundle the
		// upgrade wiped.
		for _, rp := range webhooks {
			rp.stop(t)
		}
		if _, err := runHelm(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace,
			"--kubeconfig", kubeconfig, "--reuse-values", "--set", "logLevel=debug"); err != nil {
			t.Fatal(err)
		}
		if got := waitCABundle(t, cp, cfg.Registration.Name); !bytes.Equal(got, caBundle) {
			t.Error("helm upgrade changed the caBundle podtap-webhook patched in")
		}
		var upgraded appsv1.Deployment
		if err := cp.c.Get(context.Background(), client.ObjectKeyFromObject(dep), &upgraded); err != nil {
			t.Fatal(err)
		}
		if upgraded.Spec.Template.Annotations["checksum/config"] == dep.Spec.Template.Annotations["checksum/config"] {
			t.Error("a configuration change did not change the pod template: the webhook would not roll")
		}
	})
}

// checkVersions: the binaries carry the version they were built with, as
// the images' VERSION build argument stamps it.
func checkVersions(t *testing.T, bins binaries) {
	t.Helper()
	for _, b := range []string{bins.Sidecar, bins.Webhook} {
		out, err := output(b, "--version")
		if err != nil || !strings.Contains(out, testVersion) {
			t.Fatalf("%s --version: %q, %v; want %s", filepath.Base(b), out, err, testVersion)
		}
	}
}

// waitCABundle waits for the leader to patch the registration's caBundle
// and returns it.
func waitCABundle(t *testing.T, cp *controlPlane, name string) []byte {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := cp.c.Get(context.Background(), client.ObjectKey{Name: name}, &mwc); err != nil {
			t.Fatal(err)
		}
		if len(mwc.Webhooks) > 0 && len(mwc.Webhooks[0].ClientConfig.CABundle) > 0 {
			return mwc.Webhooks[0].ClientConfig.CABundle
		}
		if time.Now().After(deadline) {
			t.Fatalf("registration %s has no caBundle after a minute", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkoutDeployment is the workload; meshed adds an istio-proxy-like
// container and the status annotation Istio's injector writes.
func checkoutDeployment(name string, meshed bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	app := corev1.Container{
		Name:  "checkout",
		Image: appImage,
		Args:  []string{"serve", "--http=:8080", "--grpc=:9000"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9000}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 5,
		},
	}
	spec := corev1.PodSpec{Containers: []corev1.Container{app}}
	var annotations map[string]string
	if meshed {
		annotations = map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"],"volumes":["istio-certs"]}`}
		spec.Containers = append(spec.Containers, corev1.Container{
			Name:  "istio-proxy",
			Image: istioImage,
			Args: []string{"proxy", "--cert=/etc/istio/certs", "--alpn=h2,http/1.1",
				"--listen=:15006=127.0.0.1:8080", "--listen=:15007=127.0.0.1:9000"},
			Ports:        []corev1.ContainerPort{{Name: "https", ContainerPort: 15006}, {Name: "grpcs", ContainerPort: 15007}},
			VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio/certs", ReadOnly: true}},
		})
		spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "istio-certs"}}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       spec,
			},
		},
	}
}

// runWorkload creates the Deployment and its pod through the API server,
// runs the pod and waits until it is ready.
func runWorkload(t *testing.T, cp *controlPlane, k *kubelet, d *appsv1.Deployment) *runningPod {
	t.Helper()
	if err := cp.c.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	pods := rollOut(t, cp, d)
	rp := k.run(t, pods[0])
	rp.waitReady(t, time.Minute)
	checkProcess(t, rp.container(t, webhook.ContainerName), 0, 1<<13)
	return rp
}

// checkInjected asserts the stored pod: podtap's native sidecar, first,
// with the chart's image, capturing iface, with the Kafka Secret mounted.
func checkInjected(t *testing.T, pod *corev1.Pod, iface string) {
	t.Helper()
	var st webhook.Status
	if err := json.Unmarshal([]byte(pod.Annotations[config.AnnotationStatus]), &st); err != nil {
		t.Fatalf("pod %s was not injected: %s=%q: %v", pod.Name, config.AnnotationStatus, pod.Annotations[config.AnnotationStatus], err)
	}
	if st.Interface != iface || !st.Native || st.Version != testVersion || pod.Labels[config.LabelInjected] != "true" {
		t.Fatalf("pod %s: status %+v, label %q", pod.Name, st, pod.Labels[config.LabelInjected])
	}
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != webhook.ContainerName {
		t.Fatalf("pod %s: podtap is not the first init container", pod.Name)
	}
	c := pod.Spec.InitContainers[0]
	if c.Image != "ghcr.io/podtap/podtap-sidecar:v0.1.0" || !slices.Equal(c.Args, []string{"run"}) {
		t.Errorf("sidecar image %s args %v", c.Image, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["PODTAP_KAFKA_SASL_USERNAME_FILE"] != webhook.KafkaMountPath+"/sasl/username" || env["PODTAP_SINK_TYPE"] != "kafka" {
		t.Errorf("sidecar env %v", env)
	}
	t.Logf("pod %s injected: %s; sidecar env %d variables, volumes %d", pod.Name, pod.Annotations[config.AnnotationStatus], len(c.Env), len(pod.Spec.Volumes))
}

// checkProcess reads a running container's credentials from /proc: its
// uid, its effective capabilities, no_new_privs, and its read-only root.
func checkProcess(t *testing.T, rc *runningContainer, uid int, capEff uint64) {
	t.Helper()
	pid := rc.cmd.Process.Pid
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	eff, _ := strconv.ParseUint(fields["CapEff"], 16, 64)
	if u := strings.Fields(fields["Uid"]); len(u) == 0 || u[0] != strconv.Itoa(uid) || eff != capEff || fields["NoNewPrivs"] != "1" {
		t.Errorf("container %s runs with Uid %s, CapEff %s, NoNewPrivs %s; want uid %d, CapEff %016x, NoNewPrivs 1",
			rc.name, fields["Uid"], fields["CapEff"], fields["NoNewPrivs"], uid, capEff)
	}
	mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" && !strings.HasPrefix(f[5], "ro") {
			t.Errorf("container %s: its root is mounted %s, not read-only", rc.name, f[5])
		}
	}
}

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

// readPairs reads the pod's records from Kafka: until they are all there,
// then once more for a moment, so that one too many would show.
func readPairs(t *testing.T, k *kafkaCluster, pod *corev1.Pod) []record {
	t.Helper()
	key := pod.Namespace + "/" + pod.Name
	mine := func(rs []record) []record {
		var out []record
		for _, r := range rs {
			if string(r.key) == key {
				out = append(out, r)
			}
		}
		return out
	}
	want := total(wantHTTP()) + total(wantGRPC)
	got := mine(k.read(t, time.Minute, func(rs []record) bool { return len(mine(rs)) >= want }))
	if len(got) < want {
		t.Fatalf("%d records of %s in Kafka after a minute, want %d", len(got), key, want)
	}
	time.Sleep(2 * time.Second)
	return mine(k.read(t, 3*time.Second, func([]record) bool { return false }))
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
	} `json:"request"`
	GRPC *struct {
		Service          string           `json:"service"`
		Method           string           `json:"method"`
		RequestMessages  []map[string]any `json:"request_messages"`
		ResponseMessages []map[string]any `json:"response_messages"`
	} `json:"grpc"`
	Redacted []string `json:"redacted"`
}

// checkPairs asserts every record: the pair schema, the pod's fields from
// the downward API, the application's server the calls reached, inbound,
// and exactly the pairs podtap's filter keeps.
func checkPairs(t *testing.T, rp *runningPod, recs []record, serverIP string) {
	t.Helper()
	pod := rp.pod
	gotHTTP, gotGRPC := map[string]int{}, map[string]int{}
	for _, r := range recs {
		if err := schematest.Validate(r.value); err != nil {
			t.Errorf("record of %s: %v\n%s", r.key, err, r.value)
			continue
		}
		var p pair
		if err := json.Unmarshal(r.value, &p); err != nil {
			t.Fatal(err)
		}
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
			t.Logf("pair %s /%s/%s %v -> %d replies; pod %s/%s (%s) on %s, server %s:%d, %s",
				p.Protocol, p.GRPC.Service, p.GRPC.Method, p.GRPC.RequestMessages[0], len(p.GRPC.ResponseMessages),
				p.Pod["namespace"], p.Pod["name"], p.Pod["workload"], p.Pod["node"], p.Server.IP, p.Server.Port, p.Direction)
			continue
		}
		gotHTTP[p.Request.Method+" "+p.Request.Path]++
		if p.Request.Path == "/api/login" && !slices.Contains(p.Redacted, "request.body.password") {
			t.Errorf("login pair: redacted %v, want the password masked", p.Redacted)
		}
		t.Logf("pair %s %s %s; pod %s/%s (%s) on %s, server %s:%d, %s",
			p.Protocol, p.Request.Method, p.Request.Path, p.Pod["namespace"], p.Pod["name"], p.Pod["workload"],
			p.Pod["node"], p.Server.IP, p.Server.Port, p.Direction)
	}
	if fmt.Sprint(gotHTTP) != fmt.Sprint(wantHTTP()) {
		t.Errorf("HTTP pairs %v, want %v", gotHTTP, wantHTTP())
	}
	if fmt.Sprint(gotGRPC) != fmt.Sprint(wantGRPC) {
		t.Errorf("gRPC pairs %v, want %v", gotGRPC, wantGRPC)
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, f, b, 0o644)
	return f
}
