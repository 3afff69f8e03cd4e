package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// EphemeralPorts is the port range the kernel picks a connection's local
// port from (net.ipv4.ip_local_port_range): how many connections one
// client address can open to one server address and port.
func EphemeralPorts() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		x, errX := strconv.Atoi(f[0])
		y, errY := strconv.Atoi(f[1])
		if errX == nil && errY == nil && x <= y {
			return x, y, nil
		}
	}
	return 0, 0, fmt.Errorf("net.ipv4.ip_local_port_range: unreadable %q", strings.TrimSpace(string(b)))
}

// CheckConntrack fails when connection tracking is loaded with room for
// fewer than n more connections (net.netfilter.nf_conntrack_max less
// those tracked now): past it the kernel drops new connections' packets,
// which would look like the sidecar's losses. Without conntrack loaded
// there is no table to fill.
func CheckConntrack(n int) error {
	limit, err := readSysctlInt("/proc/sys/net/netfilter/nf_conntrack_max")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	count, err := readSysctlInt("/proc/sys/net/netfilter/nf_conntrack_count")
	if err != nil {
		return err
	}
	if limit-count < n {
		return fmt.Errorf("conntrack has room for %d more connections (net.netfilter.nf_conntrack_max %d, %d tracked) and %d are needed: raise nf_conntrack_max", limit-count, limit, count, n)
	}
	return nil
}

func readSysctlInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
