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

// meshProxyPorts are ports a service-mesh proxy listens on inside the pod:
// Istio's outbound and inbound capture ports and Linkerd's proxy ports.
var meshProxyPorts = map[uint16]string{
	15001: "istio", 15006: "istio",
	4140: "linkerd", 4143: "linkerd",
}

// ResolveInterface turns capture.interface "auto" into a name: lo when a
// mesh proxy listens in this network namespace (the sidecar shares the
// pod's), since only there is traffic still plaintext; eth0 otherwise.
// Any other name is returned as it is.
func ResolveInterface(name string) (string, error) {
	if name != "auto" {
		return name, nil
	}
	mesh, err := listeningMesh()
	if err != nil {
		return "", fmt.Errorf("capture: resolving interface auto: %w", err)
	}
	if mesh != "" {
		return "lo", nil
	}
	return "eth0", nil
}

// listeningMesh names the mesh whose proxy listens here, or "".
func listeningMesh() (string, error) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// local_address is HEXIP:HEXPORT; state 0A is LISTEN.
			if len(fields) < 4 || fields[3] != "0A" {
				continue
			}
			_, port, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(port, 16, 16); err == nil {
				if mesh := meshProxyPorts[uint16(p)]; mesh != "" {
					f.Close()
					return mesh, nil
				}
			}
		}
		f.Close()
	}
	return "", nil
}

// InterfaceAddrs lists an interface's addresses: the pod's own addresses
// when POD_IP is not given.
func InterfaceAddrs(name string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("capture: interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("capture: addresses of %s: %w", name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}
