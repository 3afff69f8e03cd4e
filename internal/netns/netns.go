// Package netns makes network namespaces joined to the host by veth pairs:
// the "pods" of the demo and of the tests. It drives iproute2's `ip` for
// setup, and setns(2) on a locked OS thread to open sockets inside.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NS is a named network namespace (/run/netns/NAME).
type NS struct {
	Name string
}

// Pod is a namespace with one veth pair to the host: Host is the host-side
// interface, and inside the namespace the peer is called eth0, as in a pod.
type Pod struct {
	NS
	Host     string
	HostAddr string // host side, CIDR
	PodAddr  string // inside, CIDR
}

// Check says whether namespaces can be made here: root and iproute2.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (run with sudo)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("network namespaces need iproute2's ip command (apt-get install iproute2)")
	}
	return nil
}

// NewPod creates namespace name with a veth pair: host interface host
// (addressed hostAddr) and eth0 inside (podAddr), both up, plus lo up.
// On error, whatever was made is removed.
func NewPod(name, host, hostAddr, podAddr string) (*Pod, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	p := &Pod{NS: NS{Name: name}, Host: host, HostAddr: hostAddr, PodAddr: podAddr}
	// Leftovers of a crashed earlier run would make every step fail.
	_ = p.Delete()
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", host, "type", "veth", "peer", "name", host + "p"},
		{"link", "set", host + "p", "netns", name},
		{"-n", name, "link", "set", host + "p", "name", "eth0"},
		{"addr", "add", hostAddr, "dev", host},
		{"-n", name, "addr", "add", podAddr, "dev", "eth0"},
		{"link", "set", host, "up"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := RunIP(s...); err != nil {
			_ = p.Delete()
			return nil, fmt.Errorf("netns: creating pod %s: %w", name, err)
		}
	}
	return p, nil
}

// Delete removes the namespace and the host side of its veth pair. It is
// safe to call on what was never made.
func (p *Pod) Delete() error {
	var errs []error
	if linkExists(p.Host) {
		errs = append(errs, RunIP("link", "del", p.Host))
	}
	if nsExists(p.Name) {
		errs = append(errs, RunIP("netns", "del", p.Name))
	}
	return errors.Join(errs...)
}

// IP is the pod's address without its prefix length.
func (p *Pod) IP() string { return strings.Split(p.PodAddr, "/")[0] }

// Do runs f on an OS thread that has entered the namespace. Sockets f opens
// stay in the namespace after Do returns, so a listener or a packet socket
// made in f serves from any goroutine.
func (n NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked if it cannot return to the host
		// namespace: Go then ends it with the goroutine instead of reusing
		// it for unrelated work.
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: opening own namespace: %w", err)
			return
		}
		defer host.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			errc <- fmt.Errorf("netns: opening namespace %s: %w", n.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: entering %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns: leaving %s: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a listening socket inside the namespace, to serve from any
// goroutine.
func (n NS) Listen(network, addr string) (ln net.Listener, err error) {
	err = n.Do(func() error {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: listening in %s: %w", n.Name, err)
	}
	return ln, nil
}

// DialContext connects from inside the namespace; it fits
// http.Transport.DialContext.
func (n NS) DialContext(ctx context.Context, network, addr string) (c net.Conn, err error) {
	err = n.Do(func() error {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: dialing from %s: %w", n.Name, err)
	}
	return c, nil
}

// Command returns cmd to run inside the namespace (ip netns exec).
func (n NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// RunIP runs iproute2's ip with args, for setups netns does not cover (a
// bridge with several pods, say); its error carries ip's stderr.
func RunIP(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return name != "" && err == nil
}

func nsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return name != "" && err == nil
}
