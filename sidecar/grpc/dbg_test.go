package grpc_test

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/podtap/podtap/internal/grpcdemo"
)

func TestDbgLate(t *testing.T) {
	schema, proxy, cc := proxiedServer(t, grpcdemo.ServerOptions{ReflectionV1: true})
	cl := grpcdemo.NewClient(cc, schema)
	lateCalls(t, schema, cl, 0, 100, true)
	cc.Close()
	proxy.waitIdle(t)
	var client []byte
	for _, c := range proxy.take() {
		if c.fromClient {
			client = append(client, c.b...)
		}
	}
	dec := hpack.NewDecoder(4096, nil)
	fr := http2.NewFramer(nil, bytes.NewReader(client[24:]))
	fr.ReadMetaHeaders = dec
	n := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			n++
			if n%10 == 0 || n > 95 {
				t.Logf("call %d: %v", n, h.Fields)
			}
		}
	}
}
