package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// istioInitImage stands for istio/proxyv2 run as istio-init: Debian's
// iptables (the nf_tables backend, as current Istio uses) with the shared
// libraries and the xtables extensions the redirect rule loads.
const istioInitImage = "docker.io/istio/proxyv2-init:1.26.0"

// meshInboundPort is Envoy's inbound listener, where istio-init sends all
// inbound TCP; under STRICT mTLS it accepts only TLS.
const meshInboundPort = 15006

// iptablesFiles are the host files of istioInitImage, at the same paths.
var iptablesFiles = []string{
	"/usr/sbin/xtables-nft-multi=/usr/sbin/iptables",
	"/lib64/ld-linux-x86-64.so.2",
	"/lib/x86_64-linux-gnu/libc.so.6",
	"/lib/x86_64-linux-gnu/libxtables.so.12",
	"/lib/x86_64-linux-gnu/libmnl.so.0",
	"/lib/x86_64-linux-gnu/libnftnl.so.11",
	"/usr/lib/x86_64-linux-gnu/xtables/libxt_standard.so",
	"/usr/lib/x86_64-linux-gnu/xtables/libxt_tcp.so",
	"/usr/lib/x86_64-linux-gnu/xtables/libxt_REDIRECT.so",
	"/usr/lib/x86_64-linux-gnu/xtables/libxt_owner.so",
}

// iptablesImage writes istioInitImage from the host's iptables package
// (hack/deps.sh installs it), symlinks resolved.
func iptablesImage(t *testing.T, ociimage string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	args := []string{"-o", out, "-tag", istioInitImage, "-entrypoint", `["/usr/sbin/iptables"]`}
	for _, f := range iptablesFiles {
		host, at, ok := strings.Cut(f, "=")
		if !ok {
			at = host
		}
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			t.Fatalf("istio-init image: %v (Debian's iptables)", err)
		}
		if _, err := os.Stat(real); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-file", real+"="+at)
	}
	if b, err := exec.Command(ociimage, args...).CombinedOutput(); err != nil {
		t.Fatalf("ociimage %s: %v\n%s", istioInitImage, err, b)
	}
	return out
}

// meshProbePod is a pod as Istio's injector leaves it under STRICT mTLS:
// istio-init redirects every inbound TCP connection but the proxy's own to
// the proxy, which speaks only TLS. The application has no probe, since
// Istio rewrites the probes of the containers it saw into its agent's
// port; podtap, added after, is the one whose probes nobody rewrites.
// probePort, when not zero, gives the application a plain kubelet HTTP
// readiness probe on that port: what podtap's probes would be without the
// exec probes.
func meshProbePod(name string, probePort int) corev1.PodSpec {
	app := corev1.Container{
		Name:  "checkout",
		Image: appImage,
		Args:  []string{"serve", "--http=:8080", "--grpc=:9000"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9000}},
	}
	if probePort != 0 {
		app.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(probePort)}},
			PeriodSeconds: 1,
		}
	}
	return corev1.PodSpec{
		InitContainers: []corev1.Container{{
			Name:  "istio-init",
			Image: istioInitImage,
			Args: []string{"-t", "nat", "-A", "PREROUTING", "-p", "tcp", "!", "--dport", fmt.Sprint(meshInboundPort),
				"-j", "REDIRECT", "--to-ports", fmt.Sprint(meshInboundPort)},
			SecurityContext: &corev1.SecurityContext{
				RunAsUser:    ptr.To(int64(0)),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
			},
		}},
		Containers: []corev1.Container{app, {
			Name:         "istio-proxy",
			Image:        istioImage,
			Args:         []string{"proxy", "--cert=/etc/istio/certs", fmt.Sprintf("--listen=:%d=127.0.0.1:8080", meshInboundPort)},
			Ports:        []corev1.ContainerPort{{Name: "https", ContainerPort: meshInboundPort}},
			VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio/certs", ReadOnly: true}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("https")}},
				PeriodSeconds: 1,
			},
		}},
		Volumes: []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name + "-certs"}}}},
	}
}

// checkMeshProbe runs the injected pod and its control side by side. The
// injected pod must be Ready, with podtap ready and never restarted, for
// longer than its liveness and readiness probes take to fail; the control,
// the same pod with a kubelet HTTP probe on podtap's port, must stay
// NotReady, which shows the redirect is there and would fail HTTP probes.
func checkMeshProbe(t *testing.T, cl *cluster, port int, plainPod *corev1.Pod) {
	t.Helper()
	const name, control = "mesh-probe", "mesh-probe-http"
	istioStatus := map[string]string{"sidecar.istio.io/status": `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-certs"]}`}
	for _, n := range []string{name, control} {
		pki := newTestPKI(t, n+".shop.svc")
		create(t, cl, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: n + "-certs", Namespace: shop},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: pki.certPEM, corev1.TLSPrivateKeyKey: pki.keyPEM},
		})
	}
	create(t, cl, deployment(shop, name, istioStatus, meshProbePod(name, 0)))
	create(t, cl, deployment(shop, control, istioStatus, meshProbePod(control, port)))
	cl.rollout(t, shop, name)
	pod := onePod(t, cl, shop, name)
	checkInjected(t, pod, "lo")
	if pod.Spec.InitContainers[1].Name != "istio-init" {
		t.Fatalf("pod %s: init containers %v", pod.Name, pod.Spec.InitContainers)
	}
	// From the node, as the kubelet's HTTP probe goes: the redirect takes
	// podtap's port to the TLS-only proxy, while the same request to the
	// unmeshed pod is answered.
	if code, body, err := readyz(plainPod.Status.PodIP, int32(port), "?exclude=sink"); err != nil || code != 200 {
		t.Fatalf("podtap's /readyz in the unmeshed pod %s: %d %s %v", plainPod.Name, code, body, err)
	}
	code, body, err := readyz(pod.Status.PodIP, int32(port), "?exclude=sink")
	if err == nil {
		t.Fatalf("podtap's /readyz through the mesh redirect answered %d %s: the redirect is not in place", code, body)
	}
	t.Logf("HTTP to %s:%d from the node: unmeshed pod answers 200, meshed pod: %v", pod.Status.PodIP, port, err)

	live := pod.Spec.InitContainers[0].LivenessProbe
	ready := pod.Spec.InitContainers[0].ReadinessProbe
	if live == nil || ready == nil {
		t.Fatalf("podtap has no liveness or readiness probe: %+v", pod.Spec.InitContainers[0])
	}
	hold := time.Duration(max(live.PeriodSeconds*live.FailureThreshold, ready.PeriodSeconds*ready.FailureThreshold)+live.PeriodSeconds) * time.Second
	start := time.Now()
	for end := start.Add(hold); time.Now().Before(end); time.Sleep(2 * time.Second) {
		var cur corev1.Pod
		if err := cl.c.Get(context.Background(), client.ObjectKeyFromObject(pod), &cur); err != nil {
			t.Fatal(err)
		}
		sc := sidecarStatus(t, &cur)
		if !podReady(&cur) || !sc.Ready || sc.RestartCount != 0 {
			t.Fatalf("%s after %s under the mesh redirect: pod Ready %v, podtap ready %v, restarts %d",
				cur.Name, time.Since(start).Round(time.Second), podReady(&cur), sc.Ready, sc.RestartCount)
		}
	}
	t.Logf("%s: Ready, podtap ready with 0 restarts for %s (liveness %ds x %d, readiness %ds x %d)",
		pod.Name, hold, live.PeriodSeconds, live.FailureThreshold, ready.PeriodSeconds, ready.FailureThreshold)

	// The control has had as long: its HTTP probe, every second, failed.
	ctl := runningPods(t, cl, shop, map[string]string{"app": control})
	if len(ctl) != 1 {
		t.Fatalf("%d running pods of %s", len(ctl), control)
	}
	var appReady bool
	for _, s := range ctl[0].Status.ContainerStatuses {
		if s.Name == "checkout" {
			appReady = s.Ready
		}
	}
	var events corev1.EventList
	if err := cl.c.List(context.Background(), &events, client.InNamespace(shop)); err != nil {
		t.Fatal(err)
	}
	failed := ""
	for _, e := range events.Items {
		if e.InvolvedObject.Name == ctl[0].Name && e.Reason == "Unhealthy" {
			failed = e.Message
		}
	}
	if podReady(ctl[0]) || appReady || failed == "" {
		t.Errorf("control %s with a kubelet HTTP probe on :%d: pod Ready %v, container ready %v, Unhealthy event %q; want NotReady",
			ctl[0].Name, port, podReady(ctl[0]), appReady, failed)
	}
	t.Logf("control %s (kubelet HTTP probe on :%d): pod Ready %v; kubelet: %s", ctl[0].Name, port, podReady(ctl[0]), failed)
	for _, n := range []string{name, control} {
		cl.mustKubectl(t, "-n", shop, "delete", "deployment", n, "--wait=false")
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
