package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/testenv"
)

// The node's network, laid out like a CNI bridge plugin's: a bridge in the
// host namespace holding the node's address, and one network namespace per
// pod, joined to the bridge by a veth pair, with a default route through
// the node. Every name starts with namePrefix and every address is in
// nodeSubnet, so parallel test runs of other packages never collide.
const (
	namePrefix = "pte2-"
	nodeSubnet = "10.162.46."
	nodeName   = namePrefix + "node"
)

type node struct {
	bridge string
	ip     string // the node's address on the bridge
	pods   int
}

// newNode makes the bridge; it and every pod namespace go when the test
// ends, after everything set up later.
func newNode(t *testing.T) *node {
	t.Helper()
	testenv.RequireNetns(t)
	n := &node{bridge: namePrefix + "br", ip: nodeSubnet + "1"}
	n.remove()
	for _, args := range [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", n.ip + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if err := netns.RunIP(args...); err != nil {
			n.remove()
			t.Fatalf("making the node bridge: %v", err)
		}
	}
	t.Cleanup(n.remove)
	return n
}

// remove deletes the bridge and whatever pod namespaces and veths of this
// prefix are left, including a crashed earlier run's.
func (n *node) remove() {
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), namePrefix+"pod") {
				_ = netns.RunIP("netns", "del", e.Name())
			}
		}
	}
	if entries, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), namePrefix+"v") || e.Name() == n.bridge {
				_ = netns.RunIP("link", "del", e.Name())
			}
		}
	}
}

// addPod makes a pod's network namespace and returns it with the pod's IP.
func (n *node) addPod(t *testing.T) (netns.NS, string) {
	t.Helper()
	n.pods++
	ns := netns.NS{Name: fmt.Sprintf("%spod%d", namePrefix, n.pods)}
	host := fmt.Sprintf("%sv%d", namePrefix, n.pods)
	ip := fmt.Sprintf("%s%d", nodeSubnet, 10+n.pods)
	for _, args := range [][]string{
		{"netns", "add", ns.Name},
		{"link", "add", host, "type", "veth", "peer", "name", host + "p"},
		{"link", "set", host, "master", n.bridge},
		{"link", "set", host, "up"},
		{"link", "set", host + "p", "netns", ns.Name},
		{"-n", ns.Name, "link", "set", host + "p", "name", "eth0"},
		{"-n", ns.Name, "addr", "add", ip + "/24", "dev", "eth0"},
		{"-n", ns.Name, "link", "set", "eth0", "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
		{"-n", ns.Name, "route", "add", "default", "via", n.ip},
	} {
		if err := netns.RunIP(args...); err != nil {
			t.Fatalf("making pod network %s: %v", ns.Name, err)
		}
	}
	// The namespace outlives its pod until the node goes, after the
	// control plane: deleting it at once would drop the FIN of the pod's
	// last connections still queued on the bridge, and leave the API
	// server waiting on watches of a peer that is gone.
	return ns, ip
}
