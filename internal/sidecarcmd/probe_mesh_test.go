package sidecarcmd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/testenv"
	"github.com/podtap/podtap/sidecar/metrics"
)

// probeRoleEnv makes the test binary play `podtap-sidecar probe` inside a
// pod's network namespace, the way the kubelet runs an exec probe there.
const probeRoleEnv = "PODTAP_TEST_PROBE_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(probeRoleEnv); addr != "" {
		if err := Probe(context.Background(), addr, config.ProbeReady); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// meshInboundPort is where istio-init sends a pod's inbound TCP: Envoy's
// inbound listener, which under STRICT mTLS accepts only TLS.
const meshInboundPort = 15006

// TestProbesUnderMeshRedirect sets up a pod's network namespace the way
// istio-init does (inbound TCP redirected to the proxy, loopback left
// alone), with a proxy that speaks only TLS. The kubelet's HTTP probe,
// arriving on eth0, fails there; the exec probe, run inside the pod, gets
// through on 127.0.0.1.
func TestProbesUnderMeshRedirect(t *testing.T) {
	pod := testenv.NewPod(t, "pbm", 77, 1)
	proxy, perr := pod.Listen("tcp", ":"+strconv.Itoa(meshInboundPort))
	if perr != nil {
		t.Fatal(perr)
	}
	t.Cleanup(func() { proxy.Close() })
	go func() {
		for {
			c, err := proxy.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = tls.Server(c, &tls.Config{}).Handshake()
			}()
		}
	}()

	const port = "17339"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := pod.Do(func() error {
		return metrics.Serve(ctx, ":"+port, metrics.Check{Name: "capture", Fn: func() error { return nil }})
	})
	if err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(pod.IP(), port) + ProbePaths[config.ProbeReady]
	var resp *http.Response
	for range 50 {
		if resp, err = client.Get(url); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("without the redirect the HTTP probe must pass: %v %v", resp, err)
	}
	resp.Body.Close()

	ipt := testenv.RequireTool(t, "iptables")
	for _, rule := range [][]string{
		{"-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-j", "REDIRECT", "--to-ports", strconv.Itoa(meshInboundPort)},
		{"-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1/32", "-j", "RETURN"},
		{"-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", strconv.Itoa(meshInboundPort)},
	} {
		if out, err := pod.Command(ipt, rule...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %v: %v: %s", rule, err, out)
		}
	}
	resp, err = client.Get(url)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the kubelet's HTTP probe got %s through the mTLS redirect; the test's redirect is not in place", resp.Status)
	}
	t.Logf("kubelet-style HTTP probe under the redirect: %v", err)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var probeErr error
	for range 50 {
		cmd := pod.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), probeRoleEnv+"=:"+port)
		out, err := cmd.CombinedOutput()
		if probeErr = err; err == nil {
			break
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatal(err)
		}
		probeErr = fmt.Errorf("%w: %s", err, out)
		time.Sleep(100 * time.Millisecond)
	}
	if probeErr != nil {
		t.Fatalf("the exec probe inside the pod failed: %v", probeErr)
	}
}
