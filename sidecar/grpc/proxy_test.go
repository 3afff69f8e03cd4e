package grpc_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podtap/podtap/internal/grpcdemo"
)

// chunk is one read of one side of a proxied connection.
type chunk struct {
	conn       int
	fromClient bool
	b          []byte
	ts         time.Time
}

// recordingProxy is a loopback TCP proxy in front of a server that keeps
// every byte both ways, in the order it passed: the byte streams a capture
// of the connection would reassemble.
type recordingProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	chunks   []chunk
	conns    int
	active   atomic.Int32
}

func startProxy(t testing.TB, upstream netip.AddrPort) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln, upstream: upstream.String()}
	go p.accept()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *recordingProxy) addr() netip.AddrPort { return p.ln.Addr().(*net.TCPAddr).AddrPort() }

func (p *recordingProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		id := p.conns
		p.conns++
		p.mu.Unlock()
		p.active.Add(1)
		go func() {
			defer p.active.Add(-1)
			var both sync.WaitGroup
			both.Add(2)
			go p.pipe(&both, id, true, c, up)
			go p.pipe(&both, id, false, up, c)
			both.Wait()
			c.Close()
			up.Close()
		}()
	}
}

func (p *recordingProxy) pipe(done *sync.WaitGroup, id int, fromClient bool, src, dst net.Conn) {
	defer done.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// Recording before forwarding keeps the order causal: a reply
			// is never recorded before what it answers.
			p.mu.Lock()
			p.chunks = append(p.chunks, chunk{conn: id, fromClient: fromClient, b: append([]byte(nil), buf[:n]...), ts: time.Now()})
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.(*net.TCPConn).CloseWrite()
}

// waitIdle waits until no proxied connection is open.
func (p *recordingProxy) waitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.active.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("proxied connections still open")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// take returns the chunks recorded so far and forgets them.
func (p *recordingProxy) take() []chunk {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.chunks
	p.chunks = nil
	return c
}

// protosetFile writes the greeter's descriptor set to a file for
// grpc.descriptor_sets and returns its path.
func protosetFile(t testing.TB, schema *grpcdemo.Schema, withImports bool) string {
	t.Helper()
	set, err := schema.DescriptorSet(withImports)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "greeter.protoset")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
