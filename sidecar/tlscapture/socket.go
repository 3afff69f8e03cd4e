package tlscapture

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/podtap/podtap/sidecar/message"
)

// socketInode reads the inode of the socket behind fd of pid, from the
// link /proc/PID/fd/N ("socket:[INODE]").
func socketInode(proc string, pid uint32, fd int32) (uint64, error) {
	link, err := os.Readlink(fmt.Sprintf("%s/%d/fd/%d", proc, pid, fd))
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, fmt.Errorf("fd %d of process %d is %q, not a socket", fd, pid, link)
	}
	return strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
}

// tcpConn finds the TCP connection of a socket inode in the network
// namespace of pid: /proc/PID/net/tcp and tcp6. A is the local end.
func tcpConn(proc string, pid uint32, inode uint64) (message.Conn, error) {
	want := strconv.FormatUint(inode, 10)
	for _, name := range []string{"tcp", "tcp6"} {
		c, ok, err := findInode(fmt.Sprintf("%s/%d/net/%s", proc, pid, name), want)
		if err != nil || ok {
			return c, err
		}
	}
	return message.Conn{}, fmt.Errorf("socket inode %d of process %d is no TCP connection", inode, pid)
}

func findInode(path, inode string) (message.Conn, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return message.Conn{}, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[9] != inode {
			continue
		}
		a, err := parseHexEndpoint(fields[1])
		if err != nil {
			return message.Conn{}, false, err
		}
		b, err := parseHexEndpoint(fields[2])
		if err != nil {
			return message.Conn{}, false, err
		}
		return message.Conn{A: a, B: b}, true, nil
	}
	return message.Conn{}, false, sc.Err()
}

// parseHexEndpoint reads "0100007F:1F90": the address as 32-bit words in
// host (little-endian) order, then the port in hex.
func parseHexEndpoint(s string) (message.Endpoint, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(addrHex)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return message.Endpoint{}, fmt.Errorf("%q is no /proc/net/tcp address", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return message.Endpoint{}, fmt.Errorf("%q is no /proc/net/tcp address: %w", s, err)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return message.Endpoint{IP: addr.Unmap(), Port: uint16(port)}, nil
}
