package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeUserAgent is the kubelet's; podtap's filter drops its pairs.
const probeUserAgent = "kube-probe/1.37"

var probeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func newProbeRequest(url string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", probeUserAgent)
	return req, nil
}

// serviceProxy plays kube-proxy for one Service port: connections to its
// address on the node's loopback go round-robin to the ready pods behind
// the Service, at the target port their container names.
type serviceProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	pods  []*runningPod
	port  intstr.IntOrString
	next  atomic.Uint64
	wg    sync.WaitGroup
}

func newServiceProxy(t *testing.T) *serviceProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &serviceProxy{ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *serviceProxy) addr() string { return s.ln.Addr().String() }

// route sends the Service's port to these pods.
func (s *serviceProxy) route(svc *corev1.Service, portName string, pods []*runningPod) error {
	for _, p := range svc.Spec.Ports {
		if p.Name == portName {
			s.mu.Lock()
			s.port, s.pods = p.TargetPort, pods
			s.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("service %s has no port %s", svc.Name, portName)
}

func (s *serviceProxy) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.relay(c) })
	}
}

// endpoint picks the next pod whose readiness probe passes.
func (s *serviceProxy) endpoint() (string, error) {
	s.mu.Lock()
	pods, port := s.pods, s.port
	s.mu.Unlock()
	for range pods {
		rp := pods[s.next.Add(1)%uint64(len(pods))]
		for _, c := range rp.pod.Spec.Containers {
			target, ok := containerPort(c, port)
			if !ok {
				continue
			}
			if c.ReadinessProbe != nil && rp.probe(c, c.ReadinessProbe) != nil {
				break
			}
			return net.JoinHostPort(rp.ip, fmt.Sprint(target)), nil
		}
	}
	return "", fmt.Errorf("no ready endpoint among %d pods", len(pods))
}

func containerPort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// track keeps an open connection, so that the proxy's end closes it.
func (s *serviceProxy) track(c net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conns[c] = true
	} else {
		delete(s.conns, c)
	}
}

func (s *serviceProxy) relay(down net.Conn) {
	s.track(down, true)
	defer func() { s.track(down, false); down.Close() }()
	to, err := s.endpoint()
	if err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", to, 2*time.Second)
	if err != nil {
		return
	}
	s.track(up, true)
	defer func() { s.track(up, false); up.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, down); _ = up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); _ = down.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
