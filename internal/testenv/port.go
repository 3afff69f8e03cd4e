package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// handedOut are the ports FreePort returned in this process: free when
// picked but maybe not listened on yet, so a second pick must not return
// one of them (two servers of one test were once given the same port).
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a TCP port on host that nothing listens on, for a server
// a test starts later. It is picked below the kernel's ephemeral range:
// a port the kernel handed out with ":0" and that was closed again can be
// taken meanwhile by any outgoing connection of the parallel test packages
// (seen as "address already in use"); a port below the range is taken only
// by another listener.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	low := ephemeralLow()
	const floor = 10000
	for range 200 {
		p := floor + rand.IntN(low-floor)
		handedOut.Lock()
		taken := handedOut.ports[p]
		handedOut.Unlock()
		if taken {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		handedOut.Lock()
		if handedOut.ports == nil {
			handedOut.ports = map[int]bool{}
		}
		handedOut.ports[p] = true
		handedOut.Unlock()
		return p
	}
	t.Fatalf("no free port on %s between %d and %d", host, floor, low)
	return 0
}

// ephemeralLow is the first port of net.ipv4.ip_local_port_range.
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}
