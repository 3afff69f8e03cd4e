package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podtap/podtap/internal/testenv"
)

// The test's cluster: hack/local-cluster.sh's, under a name and ranges of
// its own, so that a cluster a user started with the defaults is left alone.
const (
	clusterName  = "podtap-e2e"
	clusterIndex = "1"
	nodeName     = clusterName + "-node"
	// hostIP is the host's end of the veth to the node: the address the
	// pods see the test's own calls come from.
	hostIP = "10.245." + clusterIndex + ".1"
)

// cluster is a running one-node Kubernetes: kubelet on containerd and runc,
// the CNI bridge, kube-proxy, CoreDNS, and the control plane.
type cluster struct {
	kubeconfig string
	kubectlBin string
	data       string // the node's state and logs
	run        string // containerd's state, the pids
	rest       *rest.Config
	c          client.Client
	cs         kubernetes.Interface
}

func clusterEnv() []string {
	return append(os.Environ(), "PODTAP_CLUSTER_NAME="+clusterName, "PODTAP_CLUSTER_INDEX="+clusterIndex)
}

// startCluster brings the cluster up with hack/local-cluster.sh (building
// what it needs on a first run) and takes it down when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	testenv.RequireNetns(t)
	// hack/deps.sh installs them.
	for _, tool := range []string{"containerd", "runc", "ctr", "iptables", "openssl", "nsenter", "kcat"} {
		testenv.RequireTool(t, tool)
	}
	started := time.Now()
	script := filepath.Join(repoRoot, "hack", "local-cluster.sh")
	var stdout, stderr bytes.Buffer
	up := exec.Command("bash", script, "up")
	up.Env, up.Stdout, up.Stderr = clusterEnv(), &stdout, &stderr
	cl := &cluster{data: "/var/lib/" + clusterName, run: "/run/" + clusterName}
	down := func() error {
		cmd := exec.Command("bash", script, "down")
		cmd.Env = clusterEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("hack/local-cluster.sh down: %w\n%s", err, out)
		}
		return nil
	}
	// A cluster a crashed run left behind would carry its objects over.
	if err := down(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cl.dumpLogs(t)
		}
		if err := down(); err != nil {
			t.Error(err)
		}
	})
	if err := up.Run(); err != nil {
		t.Fatalf("hack/local-cluster.sh up: %v\n%s", err, stderr.String())
	}
	cl.kubeconfig = strings.TrimSpace(stdout.String())
	t.Logf("cluster up in %s:\n%s", time.Since(started).Round(time.Second), lastLines(stderr.String(), 3))
	assets, err := exec.Command("bash", filepath.Join(repoRoot, "hack", "node-assets.sh")).Output()
	if err != nil {
		t.Fatalf("hack/node-assets.sh: %v", err)
	}
	cl.kubectlBin = filepath.Join(strings.TrimSpace(string(assets)), "kubectl")
	if cl.rest, err = clientcmd.BuildConfigFromFlags("", cl.kubeconfig); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if cl.c, err = client.New(cl.rest, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	if cl.cs, err = kubernetes.NewForConfig(cl.rest); err != nil {
		t.Fatal(err)
	}
	return cl
}

// kubectl runs kubectl against the cluster and returns its stdout; err
// carries stderr.
func (cl *cluster) kubectl(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(cl.kubectlBin, append([]string{"--kubeconfig", cl.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (cl *cluster) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cl.kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// load imports image tarballs into the node's containerd.
func (cl *cluster) load(t *testing.T, tarballs ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "hack", "local-cluster.sh"), "load"}, tarballs...)...)
	cmd.Env = clusterEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading images: %v\n%s", err, out)
	}
}

// rollout waits for a Deployment's rollout, as a user would.
func (cl *cluster) rollout(t *testing.T, namespace, name string) {
	t.Helper()
	if _, err := cl.kubectl("-n", namespace, "rollout", "status", "deployment/"+name, "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
}

// containerPID is the host pid of a running container's first process, as
// containerd's runc shim records it.
func (cl *cluster) containerPID(t *testing.T, containerID string) int {
	t.Helper()
	id, ok := strings.CutPrefix(containerID, "containerd://")
	if !ok {
		t.Fatalf("container %q is not containerd's", containerID)
	}
	raw, err := os.ReadFile(filepath.Join(cl.run, "containerd", "io.containerd.runtime.v2.task", "k8s.io", id, "init.pid"))
	if err != nil {
		t.Fatalf("the pid of container %s: %v", id, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(raw), &pid); err != nil {
		t.Fatalf("init.pid of %s: %q", id, raw)
	}
	return pid
}

// dumpLogs prints the end of each component's log and the pods' state.
func (cl *cluster) dumpLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(cl.data, "logs", "*.log"))
	for _, f := range logs {
		raw, _ := os.ReadFile(f)
		t.Logf("--- %s (last lines)\n%s", filepath.Base(f), lastLines(string(raw), 15))
	}
	if cl.kubectlBin != "" {
		out, _ := cl.kubectl("get", "pods", "-A", "-o", "wide")
		ev, _ := cl.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp")
		t.Logf("--- pods\n%s\n--- events\n%s", out, lastLines(ev, 40))
	}
}

func (cl *cluster) apiserverLog(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cl.data, "logs", "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
