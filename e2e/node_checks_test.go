package e2e

import (
	"context"
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

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/webhook"
)

// checkInjected asserts the stored pod: podtap's native sidecar, first,
// with the chart's image, capturing iface, writing to Kafka.
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
	if env["PODTAP_SINK_TYPE"] != "kafka" || !strings.Contains(env["PODTAP_KAFKA_BROKERS"], brokers) {
		t.Errorf("sidecar env %v", env)
	}
	t.Logf("pod %s injected: %s", pod.Name, pod.Annotations[config.AnnotationStatus])
}

// procStatus reads /proc/PID/status into its fields.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
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
	return fields
}

// startTicks is when a process started, in clock ticks since boot
// (/proc/PID/stat's 22nd field): finer than the kubelet's startedAt.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return v
}

// checkStartOrder: the kubelet started the native sidecar before the
// application's containers, and reported it started first.
func checkStartOrder(t *testing.T, cl *cluster, pod *corev1.Pod) {
	t.Helper()
	sc := sidecarStatus(t, pod)
	sidecarPID := cl.containerPID(t, sc.ContainerID)
	sidecarStart := startTicks(t, sidecarPID)
	for _, app := range pod.Status.ContainerStatuses {
		appStart := startTicks(t, cl.containerPID(t, app.ContainerID))
		if appStart <= sidecarStart || app.State.Running == nil || sc.State.Running == nil ||
			app.State.Running.StartedAt.Before(&sc.State.Running.StartedAt) {
			t.Errorf("pod %s: %s started at tick %d (%v), podtap at tick %d (%v): not after the sidecar",
				pod.Name, app.Name, appStart, app.State, sidecarStart, sc.State)
			continue
		}
		t.Logf("pod %s: podtap started at %s (tick %d), %s %d ticks later at %s",
			pod.Name, sc.State.Running.StartedAt.Format(time.RFC3339), sidecarStart, app.Name, appStart-sidecarStart,
			app.State.Running.StartedAt.Format(time.RFC3339))
	}
}

// checkProcess reads a running container's credentials from /proc: its
// uid, its effective capabilities, no_new_privs, and its read-only root.
func checkProcess(t *testing.T, cl *cluster, pod *corev1.Pod, cs corev1.ContainerStatus, uid int, capEff uint64) {
	t.Helper()
	pid := cl.containerPID(t, cs.ContainerID)
	fields := procStatus(t, pid)
	eff, _ := strconv.ParseUint(fields["CapEff"], 16, 64)
	if u := strings.Fields(fields["Uid"]); len(u) == 0 || u[0] != strconv.Itoa(uid) || eff != capEff || fields["NoNewPrivs"] != "1" {
		t.Errorf("%s/%s runs with Uid %s, CapEff %s, NoNewPrivs %s; want uid %d, CapEff %016x, NoNewPrivs 1",
			pod.Name, cs.Name, fields["Uid"], fields["CapEff"], fields["NoNewPrivs"], uid, capEff)
	}
	mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for line := range strings.SplitSeq(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			root = f[5]
		}
	}
	if !strings.HasPrefix(root, "ro") {
		t.Errorf("%s/%s: its root is mounted %q, not read-only", pod.Name, cs.Name, root)
	}
	t.Logf("%s/%s (pid %d under runc): Uid %s, CapEff %s, CapBnd %s, NoNewPrivs %s, root mounted %s",
		pod.Name, cs.Name, pid, fields["Uid"], fields["CapEff"], fields["CapBnd"], fields["NoNewPrivs"], root)
}

// checkMemory: the sidecar's memory limit is its cgroup's, and GOMEMLIMIT
// in its environment sits below it as the webhook computes it.
func checkMemory(t *testing.T, cl *cluster, pod *corev1.Pod, cs corev1.ContainerStatus) {
	t.Helper()
	pid := cl.containerPID(t, cs.ContainerID)
	limit := pod.Spec.InitContainers[0].Resources.Limits.Memory().Value()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var limitFile string
	for line := range strings.SplitSeq(string(raw), "\n") {
		// cgroup v1: "ID:memory:/kubepods/...".
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "memory") {
			limitFile = filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes")
		}
	}
	if limitFile == "" {
		t.Fatalf("pid %d is in no memory cgroup:\n%s", pid, raw)
	}
	b, err := os.ReadFile(limitFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || got != limit || limit == 0 {
		t.Errorf("%s: %q; want the pod's limit %d", limitFile, b, limit)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var gomemlimit string
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "GOMEMLIMIT="); ok {
			gomemlimit = v
		}
	}
	if want := strconv.FormatInt(limit/10*9, 10); gomemlimit != want {
		t.Errorf("GOMEMLIMIT=%q in the sidecar's environment; want %s, 90%% of the cgroup's %d", gomemlimit, want, got)
	}
	t.Logf("sidecar memory cgroup %s: limit %d; GOMEMLIMIT=%s", filepath.Dir(limitFile), got, gomemlimit)
}

// readyz is the sidecar's /readyz status, as the kubelet's probe reads it.
func readyz(ip string, port int32, query string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + net.JoinHostPort(ip, fmt.Sprint(port)) + "/readyz" + query)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	body.Write(buf[:n])
	return resp.StatusCode, strings.TrimSpace(body.String()), nil
}

// checkKafkaDown stops the broker: the sidecar reports its sink down on
// /readyz, the injected probe leaves the sink out, and the pod stays ready
// and an endpoint of its Service for longer than the probe takes to fail.
func checkKafkaDown(t *testing.T, cl *cluster, pod *corev1.Pod) {
	t.Helper()
	ip, port := pod.Status.PodIP, sidecarPort(t, pod)
	// The injected readiness probe is an exec probe (so a mesh's redirect
	// cannot fail it); the kubelet runs it through runc during the hold
	// below, and it asks the sidecar's /readyz?exclude=sink on its unix
	// socket; the loop asks the same over TCP, from outside, to say why if
	// the pod drops.
	p := pod.Spec.InitContainers[0].ReadinessProbe
	if p.Exec == nil || len(p.Exec.Command) < 2 || !slices.Equal(p.Exec.Command[1:], []string{"probe", config.ProbeReady}) {
		t.Fatalf("the injected readiness probe is not `podtap-sidecar probe %s`: %+v", config.ProbeReady, p.ProbeHandler)
	}
	probe, query := strings.Join(p.Exec.Command, " "), "exclude=sink"
	cl.mustKubectl(t, "-n", kafkaNamespace, "scale", "deployment", "kafka", "--replicas=0")
	if _, err := cl.kubectl("-n", kafkaNamespace, "wait", "--for=delete", "pod", "-l", "app=kafka", "--timeout=1m"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	var full string
	waitFor(t, "the sidecar's /readyz reporting the sink", 90*time.Second, func() (bool, error) {
		code, body, err := readyz(ip, port, "")
		full = fmt.Sprintf("%d %s", code, body)
		return err == nil && code != http.StatusOK, fmt.Errorf("/readyz: %s %v", full, err)
	})
	t.Logf("Kafka down: /readyz %s after %s", full, time.Since(down).Round(time.Millisecond))
	hold := time.Duration(p.PeriodSeconds*(p.FailureThreshold+1)) * time.Second
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(2 * time.Second) {
		code, body, err := readyz(ip, port, "?"+query)
		if err != nil || code != http.StatusOK {
			t.Fatalf("the injected probe %s: %d %s %v", probe, code, body, err)
		}
	}
	var cur corev1.Pod
	if err := cl.c.Get(context.Background(), client.ObjectKeyFromObject(pod), &cur); err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, c := range cur.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	sc := sidecarStatus(t, &cur)
	var slices discoveryv1.EndpointSliceList
	if err := cl.c.List(context.Background(), &slices, client.InNamespace(pod.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: "checkout"}); err != nil {
		t.Fatal(err)
	}
	inService := false
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == pod.Name && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				inService = true
			}
		}
	}
	if !ready || !sc.Ready || !inService {
		t.Errorf("%s after %s of Kafka down: pod Ready %v, sidecar ready %v, ready endpoint of checkout %v", pod.Name, hold, ready, sc.Ready, inService)
	}
	t.Logf("%s after %s of Kafka down: pod Ready %v, sidecar ready %v (probe %s), ready endpoint of checkout %v",
		pod.Name, hold, ready, sc.Ready, probe, inService)
}

// checkWebhookDown scales the webhook to 0: a new pod is still created,
// without the sidecar (failurePolicy Ignore), and the API server says why.
func checkWebhookDown(t *testing.T, cl *cluster, webhookDeployment, registration string) {
	t.Helper()
	cl.mustKubectl(t, "-n", releaseNamespace, "scale", "deployment", webhookDeployment, "--replicas=0")
	if _, err := cl.kubectl("-n", releaseNamespace, "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/component=webhook", "--timeout=1m"); err != nil {
		t.Fatal(err)
	}
	create(t, cl, checkoutDeployment("checkout-late", false))
	cl.rollout(t, shop, "checkout-late")
	late := onePod(t, cl, shop, "checkout-late")
	if _, ok := late.Annotations[config.AnnotationStatus]; ok || len(late.Spec.InitContainers) != 0 || late.Labels[config.LabelInjected] != "" {
		t.Errorf("pod %s created with the webhook down is injected: %v, %d init containers", late.Name, late.Annotations, len(late.Spec.InitContainers))
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := cl.c.Get(context.Background(), client.ObjectKey{Name: registration}, &mwc); err != nil || len(mwc.Webhooks) == 0 {
		t.Fatalf("registration %s: %d webhooks, %v", registration, len(mwc.Webhooks), err)
	}
	// The pod's namespace is opted in, so the namespace webhook (the
	// first) is the one that fails open for it.
	var seen string
	waitFor(t, "the API server's record of the webhook failing open", 30*time.Second, func() (bool, error) {
		for line := range strings.SplitSeq(cl.apiserverLog(t), "\n") {
			if strings.Contains(line, "failing open") && strings.Contains(line, mwc.Webhooks[0].Name) {
				seen = line
			}
		}
		return seen != "", nil
	})
	t.Logf("pod %s created uninjected (no %s, %d init containers); kube-apiserver: %s",
		late.Name, config.AnnotationStatus, len(late.Spec.InitContainers), strings.TrimSpace(seen))
}
