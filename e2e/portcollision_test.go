package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/webhook"
)

// portCollisionDeployment is an application that serves HTTP on podtap's
// metrics port without declaring it. podtap runs as a regular container,
// the last, as on nodes without native sidecars; the application's
// postStart hook holds the kubelet for a moment, which starts the next
// container only once the hook returns, so the application has bound the
// port when podtap starts.
func portCollisionDeployment(name string, port int) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name:      "checkout",
		Image:     appImage,
		Args:      []string{"serve", fmt.Sprintf("--http=:%d", port), "--grpc=:9000"},
		Ports:     []corev1.ContainerPort{{Name: "grpc", ContainerPort: 9000}},
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 2}}},
	}}}
}

// checkPortCollision: the pod is Ready with podtap ready and never
// restarted for longer than its probes take to fail, the application
// answers on the port, its pairs reach Kafka, and podtap's log has the WARN
// that names metrics.addr.
func checkPortCollision(t *testing.T, cl *cluster, kafka kafkaTopicReader, port int) {
	t.Helper()
	const name = "port-collision"
	dep := deployment(shop, name, map[string]string{config.AnnotationNativeSidecar: "false"}, portCollisionDeployment(name, port))
	create(t, cl, dep)
	cl.rollout(t, shop, name)
	pod := onePod(t, cl, shop, name)
	if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[1].Name != webhook.ContainerName {
		t.Fatalf("pod %s: podtap is not its last container: %d containers", pod.Name, len(pod.Spec.Containers))
	}
	live := pod.Spec.Containers[1].LivenessProbe
	ready := pod.Spec.Containers[1].ReadinessProbe
	if live == nil || ready == nil || live.Exec == nil || ready.Exec == nil {
		t.Fatalf("podtap's probes are not exec probes: %+v %+v", live, ready)
	}
	hold := time.Duration(max(live.PeriodSeconds*live.FailureThreshold, ready.PeriodSeconds*ready.FailureThreshold)+live.PeriodSeconds) * time.Second

	base := "http://" + net.JoinHostPort(pod.Status.PodIP, fmt.Sprint(port))
	want := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range demoapp.Mix() {
		if err := c.Do(ctx, demoapp.Client(), base); err != nil {
			t.Fatalf("the application on :%d: %v", port, err)
		}
		if c.Kept {
			want++
		}
	}
	got := readPairs(t, kafka, pod, want, func(p pair) bool { return p.Client.IP == hostIP && p.Server.Port == port })
	if len(got) != want {
		t.Errorf("%d pairs of the calls to the application on :%d in Kafka, want %d", len(got), port, want)
	}

	start := time.Now()
	for end := start.Add(hold); time.Now().Before(end); time.Sleep(2 * time.Second) {
		var cur corev1.Pod
		if err := cl.c.Get(context.Background(), client.ObjectKeyFromObject(pod), &cur); err != nil {
			t.Fatal(err)
		}
		var sc *corev1.ContainerStatus
		for i := range cur.Status.ContainerStatuses {
			if cur.Status.ContainerStatuses[i].Name == webhook.ContainerName {
				sc = &cur.Status.ContainerStatuses[i]
			}
		}
		if sc == nil || !podReady(&cur) || !sc.Ready || sc.RestartCount != 0 {
			t.Fatalf("%s after %s with the application on :%d: pod Ready %v, podtap %+v",
				cur.Name, time.Since(start).Round(time.Second), port, podReady(&cur), sc)
		}
	}
	logs := cl.mustKubectl(t, "-n", shop, "logs", pod.Name, "-c", webhook.ContainerName)
	warn := ""
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, `"setting":"metrics.addr"`) {
			warn = line
		}
	}
	if warn == "" {
		t.Errorf("podtap's log names no metrics.addr in a WARN:\n%s", lastLines(logs, 10))
	}
	t.Logf("%s: Ready, podtap ready with 0 restarts for %s; %d pairs of the application on :%d; podtap: %s",
		pod.Name, hold, len(got), port, warn)
	cl.mustKubectl(t, "-n", shop, "delete", "deployment", name, "--wait=false")
}
