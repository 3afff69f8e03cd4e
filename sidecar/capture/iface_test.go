package capture_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/podtap/podtap/sidecar/capture"
)

func TestResolveInterfaceName(t *testing.T) {
	for _, name := range []string{"eth0", "lo", "ens5"} {
		if got, err := capture.ResolveInterface(name); err != nil || got != name {
			t.Errorf("ResolveInterface(%q) = %q, %v; want it unchanged", name, got, err)
		}
	}
}

// TestResolveInterfaceAuto runs in a fresh namespace, where nothing listens
// until the test starts a fake mesh proxy's listener.
func TestResolveInterfaceAuto(t *testing.T) {
	pod := newPod(t, 4)
	resolve := func() (iface string) {
		t.Helper()
		if err := pod.Do(func() (err error) {
			iface, err = capture.ResolveInterface("auto")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return iface
	}
	if got := resolve(); got != "eth0" {
		t.Errorf("without a mesh proxy: %q, want eth0", got)
	}
	for _, addr := range []string{"127.0.0.1:15001", "[::1]:4143"} {
		l, err := pod.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := resolve(); got != "lo" {
			t.Errorf("with a proxy listening on %s: %q, want lo", addr, got)
		}
		l.Close()
	}
}

func TestInterfaceAddrs(t *testing.T) {
	addrs, err := capture.InterfaceAddrs("lo")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("lo has %v, want 127.0.0.1 among them", addrs)
	}
	if _, err := capture.InterfaceAddrs("ptfx-missing1"); err == nil || !strings.Contains(err.Error(), "--interface") {
		t.Errorf("missing interface: %v", err)
	}
}
