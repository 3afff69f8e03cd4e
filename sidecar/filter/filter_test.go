package filter

import (
	"testing"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

func pairOf(method, path, ua string, status int, reqCT, respCT string) *message.Pair {
	req := &message.Request{Proto: message.ProtoHTTP11, Method: method, Path: path, ContentType: reqCT}
	if ua != "" {
		req.Headers = append(req.Headers, message.Header{Name: "user-agent", Value: ua})
	}
	return &message.Pair{
		Protocol: req.Proto,
		Request:  req,
		Response: &message.Response{Status: status, ContentType: respCT},
	}
}

func TestSeedRules(t *testing.T) {
	f := New(config.DefaultSidecar().Filter)
	cases := []struct {
		name string
		p    *message.Pair
		want string
	}{
		{"json response kept", pairOf("GET", "/api/orders", "curl/8", 200, "", "application/json; charset=utf-8"), ""},
		{"form request kept", pairOf("POST", "/login", "", 200, "Application/X-WWW-Form-Urlencoded", "text/html"), ""},
		{"html dropped", pairOf("GET", "/", "", 200, "", "text/html"), metrics.ReasonContentType},
		{"no content type dropped", pairOf("DELETE", "/api/x", "", 204, "", ""), metrics.ReasonContentType},
		{"kube-probe", pairOf("GET", "/api/orders", "kube-probe/1.31", 200, "", "application/json"), metrics.ReasonInternal},
		{"metrics path", pairOf("GET", "/metrics", "", 200, "", "application/json"), metrics.ReasonPath},
		{"health path", pairOf("GET", "/api/v2/alive", "", 200, "", "application/json"), metrics.ReasonPath},
		{"path with query is exact on path", pairOf("GET", "/healthz/deep", "", 200, "", "application/json"), ""},
		{"301", pairOf("GET", "/old", "", 301, "", "application/json"), metrics.ReasonStatus},
		{"302 kept", pairOf("GET", "/old", "", 302, "", "application/json"), ""},
		{"308", pairOf("GET", "/old", "", 308, "", "application/json"), metrics.ReasonStatus},
		{"404", pairOf("GET", "/x", "", 404, "", "application/json"), metrics.ReasonStatus},
		{"503", pairOf("GET", "/x", "", 503, "", "application/json"), metrics.ReasonStatus},
		{"internal beats status", pairOf("GET", "/x", "kube-probe/1", 500, "", ""), metrics.ReasonInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Pair(tc.p); got != tc.want {
				t.Errorf("Pair = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGRPCExemptFromContentType(t *testing.T) {
	f := New(config.DefaultSidecar().Filter)
	p := pairOf("POST", "/shop.Orders/Get", "grpc-go/1.7", 200, "application/grpc", "application/grpc")
	p.Request.Proto = message.ProtoGRPC
	if got := f.Pair(p); got != "" {
		t.Fatalf("gRPC pair dropped: %s", got)
	}
}

func TestDisabledKeepsAllButPodtapsOwn(t *testing.T) {
	cfg := config.DefaultSidecar().Filter
	cfg.Enabled = false
	f := New(cfg)
	if got := f.Pair(pairOf("GET", "/metrics", "kube-probe/1", 500, "", "text/html")); got != "" {
		t.Fatalf("--no-filter dropped a pair: %s", got)
	}
	p := pairOf("POST", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "", 200, "", "")
	p.Request.Headers = append(p.Request.Headers, message.Header{Name: message.InternalHeader, Value: "reflection"})
	if got := f.Pair(p); got != metrics.ReasonInternal {
		t.Fatalf("podtap's own request kept: %q", got)
	}
}

func TestConfiguredLists(t *testing.T) {
	f := New(config.Filter{Enabled: true, ContentTypes: []string{"text/plain"}, DropStatuses: []string{"200"}, DropPaths: []string{"/x"}, DropUserAgents: []string{"bot"}})
	if got := f.Pair(pairOf("GET", "/y", "", 201, "", "text/plain; charset=utf-8")); got != "" {
		t.Errorf("configured content type: %q", got)
	}
	if got := f.Pair(pairOf("GET", "/y", "", 200, "", "text/plain")); got != metrics.ReasonStatus {
		t.Errorf("configured status: %q", got)
	}
	if got := f.Pair(pairOf("GET", "/y", "", 404, "", "text/plain")); got != "" {
		t.Errorf("default 4xx rule still applied: %q", got)
	}
	if got := f.Pair(pairOf("GET", "/y", "botnet/1", 201, "", "text/plain")); got != metrics.ReasonInternal {
		t.Errorf("configured user agent: %q", got)
	}
}
