package sidecar_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/grpcdemo"
	"github.com/podtap/podtap/internal/testenv"
)

// TestTLSGoGRPC calls a grpc-go server with reflection, served with TLS
// credentials (Go crypto/tls, read by TLS capture) and in plaintext (read
// from packets): the calls over TLS must decode by reflection to the pairs
// of the plaintext run, which needs the reflection client to dial the TLS
// port with TLS, and carry tls.library go.
func TestTLSGoGRPC(t *testing.T) {
	for _, tool := range []string{"go", "openssl", "ip"} {
		testenv.RequireTool(t, tool)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gogrpc")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./testdata/gogrpc").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cancel()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=greeter.shop.svc", "-days", "1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	pod := testenv.NewPod(t, "pttlg-", 223, 2)
	ip := pod.IP()
	tlsAddr, plainAddr := net.JoinHostPort(ip, "50443"), net.JoinHostPort(ip, "50051")
	gc := startGoCapture(t, pod, 50051, 50443)
	gc.waitProbed(t, "gRPC", startInPod(t, pod, bin, "-tls", tlsAddr, "-plain", plainAddr, "-cert", cert, "-key", key))
	waitListening(t, tlsAddr)
	waitListening(t, plainAddr)

	schema, err := grpcdemo.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	// The client is this test's process, which TLS capture leaves out as
	// its own: only the server's side is read, as in a pod.
	call := func(addr string, creds credentials.TransportCredentials) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		greeter := grpcdemo.NewClient(cc, schema)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range []string{"ada", "grace"} {
			if _, err := greeter.SayHello(ctx, schema.NewRequest(name, 2, []byte(name))); err != nil {
				t.Fatalf("SayHello %s at %s: %v", name, addr, err)
			}
		}
		if _, err := greeter.StreamReplies(ctx, schema.NewRequest("linus", 3, nil)); err != nil {
			t.Fatalf("StreamReplies at %s: %v", addr, err)
		}
	}
	call(tlsAddr, credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))
	call(plainAddr, insecure.NewCredentials())
	time.Sleep(1500 * time.Millisecond)
	records := gc.finish(t)

	got := map[int][]string{}
	for _, r := range records {
		var rec struct {
			Server struct {
				IP   string
				Port int
			}
			TLS   *struct{ Library string }
			Flags []string
			GRPC  *struct {
				Service, Method string
				StatusCode      *int              `json:"status_code"`
				Requests        []json.RawMessage `json:"request_messages"`
				Responses       []json.RawMessage `json:"response_messages"`
			}
		}
		if err := json.Unmarshal(r, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Server.IP != ip {
			continue
		}
		if rec.GRPC == nil || rec.GRPC.StatusCode == nil {
			t.Errorf("not a finished gRPC call: %s", r)
			continue
		}
		if (rec.Server.Port == 50443) != (rec.TLS != nil && rec.TLS.Library == config.TLSLibraryGo) {
			t.Errorf("record on port %d with tls %+v", rec.Server.Port, rec.TLS)
		}
		got[rec.Server.Port] = append(got[rec.Server.Port], fmt.Sprintf("%s/%s %d %v %s → %s", rec.GRPC.Service, rec.GRPC.Method,
			*rec.GRPC.StatusCode, rec.Flags, joinJSON(rec.GRPC.Requests), joinJSON(rec.GRPC.Responses)))
	}
	overTLS, plain := got[50443], got[50051]
	slices.Sort(overTLS)
	slices.Sort(plain)
	if len(plain) != 3 {
		t.Errorf("%d plaintext gRPC pairs, want 3: %v", len(plain), plain)
	}
	for _, p := range plain {
		if strings.Contains(p, "grpc_undecoded") {
			t.Errorf("plaintext pair not decoded by reflection: %s", p)
		}
	}
	if !slices.Equal(overTLS, plain) {
		t.Errorf("gRPC pairs over TLS\n%s\nwant those of the plaintext run\n%s", strings.Join(overTLS, "\n"), strings.Join(plain, "\n"))
	}
	t.Logf("gRPC over Go TLS: %d of %d pairs matched, decoded by reflection over TLS", matched(overTLS, plain), len(plain))
}

func joinJSON(ms []json.RawMessage) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, string(m))
	}
	return "[" + strings.Join(parts, ",") + "]"
}
