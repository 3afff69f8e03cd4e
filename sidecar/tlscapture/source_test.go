package tlscapture

import (
	"log/slog"
	"testing"
	"time"

	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/statelog"
	"github.com/podtap/podtap/sidecar/tlsbpf"
)

// streamLog records what one connection's stream was given.
type streamLog struct {
	data  []string
	ended bool
}

func (s *streamLog) Data(_ message.Side, b []byte, _ time.Time) { s.data = append(s.data, string(b)) }
func (s *streamLog) Gap(message.Side, int, time.Time)           {}
func (s *streamLog) Tick(time.Time)                             {}
func (s *streamLog) End(time.Time)                              { s.ended = true }

type streamsLog []*streamLog

func (f *streamsLog) NewStream(message.Conn) Stream {
	s := &streamLog{}
	*f = append(*f, s)
	return s
}

// TestSocketlessEventAfterMapped: a Go tls.Conn freed and its address
// reused by a conn that is not TCP (go_socket maps every Go call) must end
// the old connection, not feed it; for OpenSSL, whose SSL object keeps its
// socket from the syscalls it made, the same event is the same connection.
func TestSocketlessEventAfterMapped(t *testing.T) {
	for _, tc := range []struct {
		lib      uint8
		newConn  bool
		wantData []string
	}{
		{lib: 3, newConn: true, wantData: []string{"GET / HTTP/1.1\r\n\r\n"}},
		{lib: 1, newConn: false, wantData: []string{"GET / HTTP/1.1\r\n\r\n", "more"}},
	} {
		s := &Source{
			opts:  Options{MaxConnections: 10, IdleTimeout: time.Minute},
			conns: map[connKey]*conn{},
			state: statelog.New(statelog.Config{Log: slog.New(slog.DiscardHandler), Degraded: "d", Recovered: "r"}),
			read:  newDecrypted(time.Minute, 10),
		}
		var f streamsLog
		mapped := tlsbpf.TLSEvent{Conn: 0x10, Pid: 7, Lib: tc.lib, Len: 18}
		mapped.Sock = tlsbpf.TLSSockinfo{Ino: 99, Fd: 5, Family: afInet, Sport: 443, Dport: 50000}
		copy(mapped.Sock.Saddr[:], []byte{10, 0, 0, 2})
		copy(mapped.Sock.Daddr[:], []byte{10, 0, 0, 1})
		copy(mapped.Data[:], "GET / HTTP/1.1\r\n\r\n")
		socketless := tlsbpf.TLSEvent{Conn: 0x10, Pid: 7, Lib: tc.lib, Len: 4}
		copy(socketless.Data[:], "more")

		s.event(sample(t, &mapped), &f)
		s.event(sample(t, &socketless), &f)
		if len(f) != 1 || len(f[0].data) != len(tc.wantData) || f[0].data[0] != tc.wantData[0] || f[0].ended != tc.newConn {
			t.Fatalf("library %d: streams %+v, want one given %q, ended %v", tc.lib, f, tc.wantData, tc.newConn)
		}
		c := s.conns[connKey{pid: 7, ssl: 0x10}]
		if held := c != nil && c.stream == nil && len(c.held) == 1; held != tc.newConn {
			t.Errorf("library %d: conn %+v; want the socketless plaintext held apart: %v", tc.lib, c, tc.newConn)
		}
	}
}
