package sidecar_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/pcapgen"
	"github.com/podtap/podtap/internal/schematest"
	"github.com/podtap/podtap/sidecar/message"
)

// The secrets of the sensitive replay: RFC 7519's JWT, a Stripe test
// card, RFC 8410's private key, AWS's example access key id.
const (
	replayJWT  = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	replayCard = "4242424242424242"
	replayPEM  = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"
	replayAWS  = "AKIAIOSFODNN7EXAMPLE"
)

// conversation writes one TCP connection's handshake, the client's and the
// server's bytes in turn, and its close.
type conversation struct {
	w        *pcapgen.Writer
	at       time.Time
	cli, srv netip.AddrPort
	cseq     uint32
	sseq     uint32
}

func (c *conversation) seg(t *testing.T, fromClient bool, flags string, payload []byte) {
	t.Helper()
	c.at = c.at.Add(time.Millisecond)
	s := pcapgen.Segment{Src: c.cli, Dst: c.srv, Seq: c.cseq, Ack: c.sseq, Flags: flags, Payload: payload}
	if !fromClient {
		s = pcapgen.Segment{Src: c.srv, Dst: c.cli, Seq: c.sseq, Ack: c.cseq, Flags: flags, Payload: payload}
	}
	if err := c.w.WriteSegment(c.at, s); err != nil {
		t.Fatal(err)
	}
	n := uint32(len(payload))
	if strings.ContainsAny(flags, "SF") {
		n++
	}
	if fromClient {
		c.cseq += n
	} else {
		c.sseq += n
	}
}

func (c *conversation) run(t *testing.T, turns ...[]byte) {
	c.seg(t, true, "S", nil)
	c.seg(t, false, "SA", nil)
	c.seg(t, true, "A", nil)
	for i, b := range turns {
		c.seg(t, i%2 == 0, "PA", b)
	}
	c.seg(t, true, "FA", nil)
	c.seg(t, false, "FA", nil)
}

// grpcExchange is a unary call as HTTP/2 with prior knowledge: the
// client's and the server's bytes.
func grpcExchange(t *testing.T, req, reply []byte) (client, server []byte) {
	t.Helper()
	return grpcCall(t, "/"+grpcdemo.Service+"/SayHello", req, reply)
}

// grpcCall is grpcExchange for the method at path.
func grpcCall(t *testing.T, path string, req, reply []byte) (client, server []byte) {
	t.Helper()
	frame := func(m []byte) []byte {
		out := make([]byte, 5, 5+len(m))
		binary.BigEndian.PutUint32(out[1:], uint32(len(m)))
		return append(out, m...)
	}
	block := func(fields ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return b.Bytes()
	}
	var cb, sb bytes.Buffer
	cb.WriteString(http2.ClientPreface)
	cf := http2.NewFramer(&cb, nil)
	_ = cf.WriteSettings()
	_ = cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: block(
		":method", "POST", ":scheme", "http", ":path", path, ":authority", "10.0.0.2:50051",
		"content-type", "application/grpc", "te", "trailers", "x-api-token", replayAWS)})
	_ = cf.WriteData(1, true, frame(req))
	sf := http2.NewFramer(&sb, nil)
	_ = sf.WriteSettings()
	_ = sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: block(":status", "200", "content-type", "application/grpc")})
	_ = sf.WriteData(1, false, frame(reply))
	_ = sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true, BlockFragment: block("grpc-status", "0")})
	return cb.Bytes(), sb.Bytes()
}

// greeterProtoset writes the greeter's descriptor set to a file, for the
// replays that decode gRPC from grpc.descriptor_sets (a capture file has
// no server to ask by reflection).
func greeterProtoset(t *testing.T) (*grpcdemo.Schema, string) {
	t.Helper()
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	set, err := schema.DescriptorSet(true)
	if err != nil {
		t.Fatal(err)
	}
	protoset := filepath.Join(t.TempDir(), "greeter.protoset")
	if err := os.WriteFile(protoset, set, 0o644); err != nil {
		t.Fatal(err)
	}
	return schema, protoset
}

// TestReplaySensitive replays a capture whose secrets sit in a query
// string, headers, cookies, nested JSON and a gRPC message's fields: every
// one comes out masked, and typed in "sensitive".
func TestReplaySensitive(t *testing.T) {
	schema, protoset := greeterProtoset(t)
	reqMsg, _ := proto.Marshal(schema.NewRequest(replayJWT, 1, nil, "user@example.com", replayCard))
	replyMsg, _ := proto.Marshal(schema.NewRequest("ok", 0, nil))

	capPath := filepath.Join(t.TempDir(), "sensitive.pcap")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgen.NewWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddr("10.0.0.2")
	keyJSON, _ := json.Marshal(replayPEM)
	body := `{"order":{"customer":{"email":"user@example.com","auth":"` + replayJWT + `"},"items":[{"sku":"SKU-1","card":"` + replayCard + `"}],"key":` + string(keyJSON) + `}}`
	httpReq := "POST /cb?token=abc&session=" + replayJWT + "&x=1 HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer mF_9.B5f-4.1JqM\r\n" +
		"Cookie: sid=" + replayAWS + "; theme=dark\r\nX-Forwarded-For: 198.51.100.23\r\nContent-Type: application/json\r\nContent-Length: " +
		itoa(len(body)) + "\r\n\r\n" + body
	respBody := `{"ok":true,"refresh":"` + replayJWT + `"}`
	httpResp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: sid=" + replayAWS + "; Path=/; HttpOnly\r\nContent-Length: " + itoa(len(respBody)) + "\r\n\r\n" + respBody
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	(&conversation{w: w, at: start, cli: netip.MustParseAddrPort("10.0.0.9:40000"), srv: netip.AddrPortFrom(srv, 8080), cseq: 1000, sseq: 5000}).
		run(t, []byte(httpReq), []byte(httpResp))
	gc, gs := grpcExchange(t, reqMsg, replyMsg)
	(&conversation{w: w, at: start.Add(time.Second), cli: netip.MustParseAddrPort("10.0.0.9:40001"), srv: netip.AddrPortFrom(srv, 50051), cseq: 1000, sseq: 5000}).
		run(t, gc, gs)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	cfg := noFilter()
	cfg.GRPC.Reflection = "off"
	cfg.GRPC.DescriptorSets = []string{protoset}
	records := replay(t, cfg, capPath)
	if len(records) != 2 {
		t.Fatalf("%d records, want 2", len(records))
	}
	var found []message.Finding
	var redacted []string
	for _, rec := range records {
		if err := schematest.Validate(rec); err != nil {
			t.Errorf("%v\n%s", err, rec)
		}
		for _, secret := range []string{replayJWT, replayCard, replayAWS, "MC4CAQAwBQYDK2Vw", "mF_9.B5f-4.1JqM", "token=abc"} {
			if bytes.Contains(rec, []byte(secret)) {
				t.Errorf("%q left the pod: %s", secret, rec)
			}
		}
		var r struct {
			Sensitive []message.Finding
			Redacted  []string
		}
		if err := json.Unmarshal(rec, &r); err != nil {
			t.Fatal(err)
		}
		found = append(found, r.Sensitive...)
		redacted = append(redacted, r.Redacted...)
		if !bytes.Contains(rec, []byte(`"protocol":"grpc"`)) && !bytes.Contains(rec, []byte(`"query":"token=[REDACTED]&session=[REDACTED]&x=1"`)) {
			t.Errorf("query lost its shape: %s", rec)
		}
	}
	for _, want := range []message.Finding{
		{Path: "request.query.session", Type: "jwt"},
		{Path: "request.headers.authorization", Type: "bearer_token"},
		{Path: "request.headers.cookie.sid", Type: "api_key"},
		{Path: "request.headers.x-forwarded-for", Type: "ip"},
		{Path: "request.body.order.customer.email", Type: "email"},
		{Path: "request.body.order.customer.auth", Type: "jwt"},
		{Path: "request.body.order.items[].card", Type: "card"},
		{Path: "request.body.order.key", Type: "private_key"},
		{Path: "response.headers.set-cookie.sid", Type: "api_key"},
		{Path: "response.body.refresh", Type: "jwt"},
		{Path: "request.headers.x-api-token", Type: "api_key"},
		{Path: "grpc.request_messages[].name", Type: "jwt"},
		{Path: "grpc.request_messages[].tags[]", Type: "email"},
		{Path: "grpc.request_messages[].tags[]", Type: "card"},
	} {
		if !slices.Contains(found, want) {
			t.Errorf("sensitive lacks %v; has %v", want, found)
		}
	}
	for _, want := range []string{"request.query.token", "request.query.session", "request.headers.cookie.sid", "request.headers.cookie.theme",
		"request.body.order.customer.auth", "request.body.order.items[].card", "request.body.order.key", "response.body.refresh",
		"request.headers.x-api-token", "grpc.request_messages[].name", "grpc.request_messages[].tags[]"} {
		if !slices.Contains(redacted, want) {
			t.Errorf("redacted lacks %s; has %v", want, redacted)
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
