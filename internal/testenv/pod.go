package testenv

import (
	"fmt"
	"testing"

	"github.com/podtap/podtap/internal/netns"
)

// NewPod makes network namespace n of a test package, joined to the host by
// a veth pair, and removes it when t ends, also on failure. Packages run in
// parallel, so each claims a name prefix and a 10.net.0.0/16 block of its
// own: the namespace is prefix+"ns"+n, the host interface prefix+"h"+n,
// addressed 10.net.n.1/30, and the pod's eth0 10.net.n.2/30. Without root
// and iproute2 the test is skipped, or fails on CI.
func NewPod(t testing.TB, prefix string, net, n uint8) *netns.Pod {
	t.Helper()
	RequireNetns(t)
	pod, err := netns.NewPod(fmt.Sprintf("%sns%d", prefix, n), fmt.Sprintf("%sh%d", prefix, n),
		fmt.Sprintf("10.%d.%d.1/30", net, n), fmt.Sprintf("10.%d.%d.2/30", net, n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pod.Delete(); err != nil {
			t.Errorf("removing network namespace %s: %v", pod.Name, err)
		}
	})
	return pod
}
