package tlscapture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/tlsbpf"
)

// sample encodes e as the kernel writes it into the ring buffer.
func sample(t *testing.T, e *tlsbpf.TLSEvent) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, e); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeEvent(t *testing.T) {
	v4 := tlsbpf.TLSEvent{Ts: 7, Conn: 0xdead, Pid: 42, Dir: 1, Lib: 1, Len: 5}
	v4.Sock = tlsbpf.TLSSockinfo{Ino: 991, Fd: 6, Family: afInet, Sport: 8443, Dport: 51000}
	copy(v4.Sock.Saddr[:], []byte{10, 0, 0, 2})
	copy(v4.Sock.Daddr[:], []byte{10, 0, 0, 1})
	copy(v4.Data[:], "GET /")

	mapped := tlsbpf.TLSEvent{Conn: 1, Pid: 3, Dir: 0, Lib: 2, Len: 2}
	mapped.Sock = tlsbpf.TLSSockinfo{Ino: 5, Fd: 9, Family: afInet6, Sport: 443, Dport: 40000}
	mapped.Sock.Saddr = netip.MustParseAddr("::ffff:192.0.2.1").As16()
	mapped.Sock.Daddr = netip.MustParseAddr("2001:db8::9").As16()

	unknown := tlsbpf.TLSEvent{Conn: 2, Pid: 3, Lib: 1, Len: 1 << 20}

	for _, tc := range []struct {
		name string
		in   tlsbpf.TLSEvent
		want event
		data string
	}{
		{"ipv4 read", v4, event{monoNs: 7, key: connKey{pid: 42, ssl: 0xdead}, dir: message.BtoA, lib: config.TLSLibraryOpenSSL,
			sock: socket{known: true, ino: 991, fd: 6, conn: message.Conn{
				A: message.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 8443},
				B: message.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 51000}}}}, "GET /"},
		{"ipv6, mapped v4 unmapped", mapped, event{key: connKey{pid: 3, ssl: 1}, dir: message.AtoB, lib: config.TLSLibraryBoringSSL,
			sock: socket{known: true, ino: 5, fd: 9, conn: message.Conn{
				A: message.Endpoint{IP: netip.MustParseAddr("192.0.2.1"), Port: 443},
				B: message.Endpoint{IP: netip.MustParseAddr("2001:db8::9"), Port: 40000}}}}, "\x00\x00"},
		// A length past the sample is cut to what the sample holds.
		{"socket not seen yet", unknown, event{key: connKey{pid: 3, ssl: 2}, dir: message.AtoB, lib: config.TLSLibraryOpenSSL}, string(make([]byte, len(unknown.Data)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodeEvent(sample(t, &tc.in))
			if !ok {
				t.Fatal("not decoded")
			}
			if string(got.data) != tc.data {
				t.Errorf("data %q, want %q", got.data, tc.data)
			}
			got.data = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, ok := decodeEvent(make([]byte, offData-1)); ok {
		t.Error("a sample shorter than the header was decoded")
	}
}
