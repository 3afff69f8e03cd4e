package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/webhook"
)

// TestWholePath runs the README's cluster story on a real one-node
// Kubernetes (hack/local-cluster.sh: kubelet on containerd and runc, the
// CNI bridge, kube-proxy, CoreDNS):
//
//  1. Kafka (kfake) runs as a pod behind a Service; the shop namespace runs
//     checkout (HTTP/JSON and gRPC with reflection) and a client calling it
//     by its Service name, not yet injected.
//  2. `helm install` with the brokers' DNS name; the webhook runs as the
//     chart's Deployment and patches its registration's caBundle.
//  3. `kubectl label namespace shop podtap.io/inject=enabled` and
//     `kubectl -n shop rollout restart deployment`, verbatim.
//  4. The new pods run the native sidecar; the pairs are read back from
//     Kafka, by the test, by kcat and by `podtap-sidecar consume` in a pod,
//     with the pods' real names, namespace and workload.
//
// Then what only a real kubelet shows: startup order, capabilities, the
// read-only root and the memory cgroup from /proc; a meshed pod captured on
// lo; probes under a mesh redirect; a port collision; the containers'
// stopping order under a native mesh proxy; Kafka down; the webhook scaled
// to 0; helm upgrade and uninstall.
func TestWholePath(t *testing.T) {
	started := time.Now()
	bins := requireBinaries(t)
	checkVersions(t, bins)
	t.Logf("binaries built in %s", time.Since(started).Round(time.Millisecond))
	cl := startCluster(t)
	ctx := context.Background()

	r := renderChart(t)
	cfg := r.webhookConfig(t)
	var dep appsv1.Deployment
	r.one(t, "Deployment", &dep)
	imagesStart := time.Now()
	cl.load(t,
		dockerImage(t, "Dockerfile.sidecar", bins.Sidecar).tarball(t, bins.OCIImage, cfg.Sidecar.Image),
		dockerImage(t, "Dockerfile.webhook", bins.Webhook).tarball(t, bins.OCIImage, dep.Spec.Template.Spec.Containers[0].Image),
		testAppImage(bins.TestApp).tarball(t, bins.OCIImage, appImage),
		testAppImage(bins.TestApp).tarball(t, bins.OCIImage, clientImage),
		testAppImage(bins.TestApp).tarball(t, bins.OCIImage, istioImage),
		testAppImage(bins.TestApp).tarball(t, bins.OCIImage, kafkaImage),
		iptablesImage(t, bins.OCIImage),
	)
	t.Logf("images written and imported in %s", time.Since(imagesStart).Round(time.Millisecond))

	// 1. Kafka, and the shop as it runs before podtap.
	storyStart := time.Now()
	create(t, cl, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kafkaNamespace}})
	create(t, cl, kafkaDeployment())
	create(t, cl, service(kafkaNamespace, "kafka", corev1.ServicePort{Name: "kafka", Port: kafkaPort, TargetPort: intstr.FromString("kafka")}))
	create(t, cl, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shop}})
	create(t, cl, service(shop, "checkout",
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		corev1.ServicePort{Name: "grpc", Port: 9000, TargetPort: intstr.FromString("grpc")}))
	create(t, cl, checkoutDeployment("checkout", false))
	create(t, cl, clientDeployment())
	for _, d := range [][2]string{{kafkaNamespace, "kafka"}, {shop, "checkout"}, {shop, "client"}} {
		cl.rollout(t, d[0], d[1])
	}
	var kafkaSvc corev1.Service
	if err := cl.c.Get(ctx, client.ObjectKey{Namespace: kafkaNamespace, Name: "kafka"}, &kafkaSvc); err != nil {
		t.Fatal(err)
	}
	kafka := kafkaTopicReader{addr: net.JoinHostPort(kafkaSvc.Spec.ClusterIP, fmt.Sprint(kafkaPort))}
	t.Logf("kafka and the shop running in %s", time.Since(storyStart).Round(time.Millisecond))

	// 2. The README's install, with the brokers' DNS name.
	installStart := time.Now()
	notes, err := runHelm(t, "install", releaseName, chartDir, "-n", releaseNamespace, "--create-namespace",
		"--kubeconfig", cl.kubeconfig,
		"--set", "kafka.brokers={"+brokers+"}", "--set", "kafka.topic="+kafkaTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"kubectl label namespace <namespace> podtap.io/inject=enabled",
		"kubectl -n <namespace> rollout restart deployment"} {
		if !strings.Contains(notes, step) {
			t.Errorf("helm install's notes do not tell %q:\n%s", step, notes)
		}
	}
	cl.rollout(t, releaseNamespace, dep.Name)
	caBundle := waitCABundle(t, cl, cfg.Registration.Name)
	webhookPods := runningPods(t, cl, releaseNamespace, dep.Spec.Selector.MatchLabels)
	for _, p := range webhookPods {
		checkProcess(t, cl, p, p.Status.ContainerStatuses[0], 65532, 0)
	}
	t.Logf("helm install: %d webhook pods ready, caBundle patched, in %s", len(webhookPods), time.Since(installStart).Round(time.Millisecond))

	// 3. Opt in and restart, verbatim, once the webhook answers through
	// its Service: kube-proxy programs the Service a moment after the pods
	// are ready, and a pod created before that is admitted without podtap,
	// as failurePolicy Ignore wants.
	restartStart := time.Now()
	cl.mustKubectl(t, "label", "namespace", shop, "podtap.io/inject=enabled")
	waitInjecting(t, cl, shop)
	cl.mustKubectl(t, "-n", shop, "rollout", "restart", "deployment")
	cl.rollout(t, shop, "checkout")
	cl.rollout(t, shop, "client")
	checkout := onePod(t, cl, shop, "checkout")
	clientPod := onePod(t, cl, shop, "client")
	t.Logf("rollout restart: %s and %s ready in %s", checkout.Name, clientPod.Name, time.Since(restartStart).Round(time.Millisecond))

	t.Run("native sidecar first, first connections captured", func(t *testing.T) {
		for _, p := range []*corev1.Pod{checkout, clientPod} {
			checkInjected(t, p, "eth0")
			checkStartOrder(t, cl, p)
		}
		// The client's first answered call after its pod started.
		recs := readPairs(t, kafka, clientPod, 1, func(p pair) bool {
			return p.Request.Path == "/api/orders" && p.Request.Query == "seq=1"
		})
		p := parsePair(t, recs[0])
		if p.Direction != "outbound" || p.Pod["name"] != clientPod.Name || p.Pod["workload"] != "Deployment/client" {
			t.Errorf("the client's first call: direction %s, pod %v", p.Direction, p.Pod)
		}
		t.Logf("the client's first call captured: %s %s?%s -> %s:%d, pod %s/%s (%s)", p.Request.Method,
			p.Request.Path, p.Request.Query, p.Server.IP, p.Server.Port, p.Pod["namespace"], p.Pod["name"], p.Pod["workload"])
	})
	t.Run("capabilities, read-only root, memory cgroup", func(t *testing.T) {
		sc := sidecarStatus(t, checkout)
		checkProcess(t, cl, checkout, sc, 0, 1<<13)
		checkMemory(t, cl, checkout, sc)
	})
	t.Run("pairs in Kafka", func(t *testing.T) {
		httpBase, grpcAddr := "http://"+net.JoinHostPort(checkout.Status.PodIP, "8080"), net.JoinHostPort(checkout.Status.PodIP, "9000")
		sendTraffic(t, demoapp.Client(), httpBase, grpcAddr, insecure.NewCredentials())
		fromTest := func(p pair) bool { return p.Client.IP == hostIP }
		got := readPairs(t, kafka, checkout, total(wantHTTP())+total(wantGRPC), fromTest)
		checkPairs(t, checkout, got, checkout.Status.PodIP)
		fromClient := readPairs(t, kafka, checkout, 2, func(p pair) bool { return p.Client.IP != hostIP && p.Request.Path == "/api/orders" })
		t.Logf("checkout's pairs: %d of the test's calls, %d (so far) of the client's through the Service", len(got), len(fromClient))
		checkKcat(t, kafka, checkout, len(got))
		checkConsume(t, cl, cfg.Sidecar.Image, checkout, len(got))
	})
	t.Run("istio-like pod on lo", func(t *testing.T) {
		pki := newTestPKI(t, "checkout.shop.svc")
		create(t, cl, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-certs", Namespace: shop},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: pki.certPEM, corev1.TLSPrivateKeyKey: pki.keyPEM},
		})
		create(t, cl, checkoutDeployment("checkout-mesh", true))
		cl.rollout(t, shop, "checkout-mesh")
		mesh := onePod(t, cl, shop, "checkout-mesh")
		checkInjected(t, mesh, "lo")
		tc := &tls.Config{RootCAs: pki.pool, ServerName: "checkout.shop.svc", MinVersion: tls.VersionTLS12}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableCompression: true}}
		sendTraffic(t, hc, "https://"+net.JoinHostPort(mesh.Status.PodIP, "15006"), net.JoinHostPort(mesh.Status.PodIP, "15007"), credentials.NewTLS(tc))
		// Through the proxy the calls reach the application on loopback:
		// that is where the pairs come from, in plaintext.
		got := readPairs(t, kafka, mesh, total(wantHTTP())+total(wantGRPC), func(pair) bool { return true })
		checkPairs(t, mesh, got, "127.0.0.1")
	})
	t.Run("mesh probe: STRICT-mTLS-style inbound redirect, podtap ready without restarts", func(t *testing.T) {
		started := time.Now()
		port, err := cfg.Sidecar.HealthPort()
		if err != nil {
			t.Fatal(err)
		}
		checkMeshProbe(t, cl, port, checkout)
		t.Logf("mesh probe case in %s", time.Since(started).Round(time.Second))
	})
	t.Run("port collision: an application on podtap's port, undeclared", func(t *testing.T) {
		started := time.Now()
		port, err := cfg.Sidecar.HealthPort()
		if err != nil {
			t.Fatal(err)
		}
		checkPortCollision(t, cl, kafka, port)
		t.Logf("port collision case in %s", time.Since(started).Round(time.Second))
	})
	t.Run("shutdown under a native mesh proxy: pairs unsent at deletion reach Kafka", func(t *testing.T) {
		started := time.Now()
		port, err := cfg.Sidecar.HealthPort()
		if err != nil {
			t.Fatal(err)
		}
		checkShutdownOrder(t, cl, kafka, port)
		t.Logf("shutdown order case in %s", time.Since(started).Round(time.Second))
	})
	t.Run("Kafka down: the application stays in its Service", func(t *testing.T) {
		checkKafkaDown(t, cl, checkout)
	})
	t.Run("webhook scaled to 0: pods uninjected, the skip visible", func(t *testing.T) {
		checkWebhookDown(t, cl, dep.Name, cfg.Registration.Name)
	})
	t.Run("helm upgrade keeps the caBundle", func(t *testing.T) {
		if _, err := runHelm(t, "upgrade", releaseName, chartDir, "-n", releaseNamespace,
			"--kubeconfig", cl.kubeconfig, "--reuse-values", "--set", "logLevel=debug"); err != nil {
			t.Fatal(err)
		}
		// Read at once: the webhook's pods, back to the chart's replicas,
		// have not started yet to patch anything back in.
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := cl.c.Get(ctx, client.ObjectKey{Name: cfg.Registration.Name}, &mwc); err != nil {
			t.Fatal(err)
		}
		if len(mwc.Webhooks) != 2 {
			t.Errorf("%d webhooks registered, want the namespace one and the single-pod one", len(mwc.Webhooks))
		}
		for _, wh := range mwc.Webhooks {
			if !bytes.Equal(wh.ClientConfig.CABundle, caBundle) {
				t.Errorf("helm upgrade changed the caBundle podtap-webhook patched into %s", wh.Name)
			}
		}
		var upgraded appsv1.Deployment
		if err := cl.c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: dep.Name}, &upgraded); err != nil {
			t.Fatal(err)
		}
		if upgraded.Spec.Template.Annotations["checksum/config"] == dep.Spec.Template.Annotations["checksum/config"] {
			t.Error("a configuration change did not change the pod template: the webhook would not roll")
		}
	})
	t.Run("helm uninstall leaves no webhook configuration", func(t *testing.T) {
		if _, err := runHelm(t, "uninstall", releaseName, "-n", releaseNamespace, "--kubeconfig", cl.kubeconfig, "--wait"); err != nil {
			t.Fatal(err)
		}
		var mwcs admissionregistrationv1.MutatingWebhookConfigurationList
		var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
		if err := cl.c.List(ctx, &mwcs); err != nil {
			t.Fatal(err)
		}
		if err := cl.c.List(ctx, &vwcs); err != nil {
			t.Fatal(err)
		}
		if len(mwcs.Items)+len(vwcs.Items) != 0 {
			t.Errorf("after helm uninstall: %d mutating, %d validating webhook configurations", len(mwcs.Items), len(vwcs.Items))
		}
		t.Logf("after helm uninstall: %d mutating, %d validating webhook configurations", len(mwcs.Items), len(vwcs.Items))
	})
	t.Logf("whole path in %s", time.Since(started).Round(time.Second))
}

func create(t *testing.T, cl *cluster, obj client.Object) {
	t.Helper()
	if err := cl.c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// runningPods are the pods of a selector that are not going away.
func runningPods(t *testing.T, cl *cluster, namespace string, labels map[string]string) []*corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := cl.c.List(context.Background(), &list, client.InNamespace(namespace), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// onePod is the one current pod of a Deployment whose rollout is done.
func onePod(t *testing.T, cl *cluster, namespace, app string) *corev1.Pod {
	t.Helper()
	var pods []*corev1.Pod
	waitFor(t, "one pod of "+app, time.Minute, func() (bool, error) {
		pods = runningPods(t, cl, namespace, map[string]string{"app": app})
		return len(pods) == 1, fmt.Errorf("%d pods", len(pods))
	})
	return pods[0]
}

// checkVersions: the binaries carry the version they were built with, as
// the images' VERSION build argument stamps it.
func checkVersions(t *testing.T, bins binaries) {
	t.Helper()
	for _, b := range []string{bins.Sidecar, bins.Webhook} {
		out, err := output(b, "--version")
		if err != nil || !strings.Contains(out, testVersion) {
			t.Fatalf("%s --version: %q, %v; want %s", b, out, err, testVersion)
		}
	}
}

// waitInjecting waits until a pod created in namespace, as a server-side
// dry run, comes back with podtap in it: the API server reaches the webhook
// through its Service.
func waitInjecting(t *testing.T, cl *cluster, namespace string) {
	t.Helper()
	waitFor(t, "the webhook injecting through its Service", time.Minute, func() (bool, error) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "podtap-probe-"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: appImage}}},
		}
		if err := cl.c.Create(context.Background(), pod, client.DryRunAll); err != nil {
			return false, err
		}
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == webhook.ContainerName {
				return true, nil
			}
		}
		return false, fmt.Errorf("a dry-run pod came back without %s", webhook.ContainerName)
	})
}

// waitCABundle waits for the leader to patch the caBundle into every
// webhook of the registration and returns it.
func waitCABundle(t *testing.T, cl *cluster, name string) []byte {
	t.Helper()
	var bundle []byte
	waitFor(t, "the caBundle of "+name, time.Minute, func() (bool, error) {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := cl.c.Get(context.Background(), client.ObjectKey{Name: name}, &mwc); err != nil {
			return false, err
		}
		bundle = nil
		for i, wh := range mwc.Webhooks {
			if len(wh.ClientConfig.CABundle) == 0 || i > 0 && !bytes.Equal(wh.ClientConfig.CABundle, bundle) {
				return false, nil
			}
			bundle = wh.ClientConfig.CABundle
		}
		return len(bundle) > 0, nil
	})
	return bundle
}

// sidecarStatus is the status of the pod's podtap container.
func sidecarStatus(t *testing.T, pod *corev1.Pod) corev1.ContainerStatus {
	t.Helper()
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == webhook.ContainerName {
			return s
		}
	}
	t.Fatalf("pod %s has no %s init container status", pod.Name, webhook.ContainerName)
	return corev1.ContainerStatus{}
}

// sidecarPort is the sidecar's metrics and health port in the pod.
func sidecarPort(t *testing.T, pod *corev1.Pod) int32 {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name == webhook.ContainerName {
			for _, p := range c.Ports {
				if p.Name == webhook.MetricsPortName {
					return p.ContainerPort
				}
			}
		}
	}
	t.Fatalf("pod %s: the sidecar declares no %s port", pod.Name, webhook.MetricsPortName)
	return 0
}
