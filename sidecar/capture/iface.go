package capture

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Interface names ResolveInterface chooses between.
const (
	InterfaceAuto     = "auto"
	InterfaceDefault  = "eth0"
	InterfaceLoopback = "lo"
)

// meshProxyPorts are ports a service-mesh proxy listens on inside the pod's
// network namespace: Envoy's outbound and inbound capture ports under Istio,
// and linkerd-proxy's outbound and inbound ports.
var meshProxyPorts = map[uint16]string{
	15001: "istio-proxy",
	15006: "istio-proxy",
	4140:  "linkerd-proxy",
	4143:  "linkerd-proxy",
}

// ResolveInterface turns capture.interface into the interface to open. A
// name is returned as it is. "auto" is lo when a service-mesh proxy shares
// the network namespace, since only there is the traffic still plaintext,
// and eth0 otherwise. The webhook usually resolves "auto" from the pod
// spec; at run time a proxy is recognized by its listening ports, so one
// that has not started listening yet is not seen.
func ResolveInterface(name string) (string, error) {
	if name != InterfaceAuto {
		return name, nil
	}
	mesh, err := meshProxyListening()
	if err != nil {
		return "", fmt.Errorf("capture: resolving interface %q: %w; set --interface or capture.interface to a name", name, err)
	}
	if mesh != "" {
		return InterfaceLoopback, nil
	}
	return InterfaceDefault, nil
}

// meshProxyListening names the mesh proxy listening in the calling
// thread's network namespace, or "". It reads thread-self: a thread that
// entered another namespace sees that namespace's sockets there, while
// /proc/net shows the process's.
func meshProxyListening() (string, error) {
	for _, table := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
		ports, err := listeningPorts(table)
		if err != nil {
			return "", err
		}
		for _, p := range ports {
			if proxy, ok := meshProxyPorts[p]; ok {
				return proxy, nil
			}
		}
	}
	return "", nil
}

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// listeningPorts reads the local ports of listening sockets from a
// /proc/net/tcp-format table. A missing table (no IPv6) has none.
func listeningPorts(path string) ([]uint16, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ports []uint16
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "sl local_address rem_address st ...", local_address "HEXIP:HEXPORT";
		// the header line has no state field of that form.
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		_, port, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			continue
		}
		ports = append(ports, uint16(p))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return ports, nil
}

// InterfaceAddrs returns the addresses of an interface: the pod's own
// addresses when POD_IP is not given, to tell inbound from outbound.
func InterfaceAddrs(name string) ([]netip.Addr, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, noInterfaceError(name)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return nil, fmt.Errorf("capture: reading the addresses of %s: %w", name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
