package tlscapture

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/tlsbpf"
)

// Offsets in a ring-buffer sample, from the generated type of tls.c's
// struct event, so the two cannot drift apart.
const (
	offTs     = unsafe.Offsetof(tlsbpf.TLSEvent{}.Ts)
	offConn   = unsafe.Offsetof(tlsbpf.TLSEvent{}.Conn)
	offPid    = unsafe.Offsetof(tlsbpf.TLSEvent{}.Pid)
	offDir    = unsafe.Offsetof(tlsbpf.TLSEvent{}.Dir)
	offLib    = unsafe.Offsetof(tlsbpf.TLSEvent{}.Lib)
	offLen    = unsafe.Offsetof(tlsbpf.TLSEvent{}.Len)
	offSock   = unsafe.Offsetof(tlsbpf.TLSEvent{}.Sock)
	offData   = unsafe.Offsetof(tlsbpf.TLSEvent{}.Data)
	offIno    = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Ino)
	offFd     = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Fd)
	offFamily = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Family)
	offSport  = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Sport)
	offDport  = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Dport)
	offSaddr  = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Saddr)
	offDaddr  = offSock + unsafe.Offsetof(tlsbpf.TLSSockinfo{}.Daddr)
)

// Address families of struct sockinfo.
const (
	afInet  = 2
	afInet6 = 10
)

// event is one chunk of one SSL call's plaintext.
type event struct {
	monoNs uint64 // CLOCK_MONOTONIC
	key    connKey
	dir    message.Side
	lib    string
	sock   socket
	data   []byte
}

// socket is the TCP connection the kernel found behind the SSL object's
// fd; known is false until a syscall of the connection was seen.
type socket struct {
	known bool
	ino   uint64
	fd    int32
	// conn has A as the process's end.
	conn message.Conn
}

// decodeEvent reads a ring-buffer sample; ok is false for one shorter
// than its header.
func decodeEvent(raw []byte) (ev event, ok bool) {
	if len(raw) < int(offData) {
		return event{}, false
	}
	le := binary.LittleEndian
	ev.monoNs = le.Uint64(raw[offTs:])
	ev.key = connKey{pid: le.Uint32(raw[offPid:]), ssl: le.Uint64(raw[offConn:])}
	ev.dir = message.AtoB // a write: the process's end sends
	if raw[offDir] == 1 {
		ev.dir = message.BtoA
	}
	ev.lib = libraryOfID[raw[offLib]]
	n := min(int(le.Uint32(raw[offLen:])), len(raw)-int(offData))
	ev.data = raw[offData : int(offData)+n]
	family := le.Uint16(raw[offFamily:])
	var a, b netip.Addr
	switch family {
	case afInet:
		a = netip.AddrFrom4([4]byte(raw[offSaddr : offSaddr+4]))
		b = netip.AddrFrom4([4]byte(raw[offDaddr : offDaddr+4]))
	case afInet6:
		a = netip.AddrFrom16([16]byte(raw[offSaddr : offSaddr+16])).Unmap()
		b = netip.AddrFrom16([16]byte(raw[offDaddr : offDaddr+16])).Unmap()
	default:
		return ev, true
	}
	ev.sock = socket{
		known: true,
		ino:   le.Uint64(raw[offIno:]),
		fd:    int32(le.Uint32(raw[offFd:])),
		conn: message.Conn{
			A: message.Endpoint{IP: a, Port: le.Uint16(raw[offSport:])},
			B: message.Endpoint{IP: b, Port: le.Uint16(raw[offDport:])},
		},
	}
	return ev, true
}
