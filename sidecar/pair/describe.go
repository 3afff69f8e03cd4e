package pair

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/podtap/podtap/sidecar/message"
)

// Describe fills g, a zero view, with the gRPC view of a pair from its
// halves: service and method from the path, status from the trailers (or,
// for a trailers-only response, from the headers), and the messages.
// Pairing gives it to every gRPC pair it makes.
func Describe(g *message.GRPC, req *message.Request, resp *message.Response) {
	if req != nil {
		g.Service, g.Method = splitPath(req.Path)
		g.Encoding = req.Headers.Get("grpc-encoding")
		g.RequestMessages = req.Messages
	}
	if resp == nil {
		return
	}
	g.ResponseMessages = resp.Messages
	if g.Encoding == "" {
		g.Encoding = resp.Headers.Get("grpc-encoding")
	}
	status := resp.Trailers
	if !status.Has("grpc-status") {
		status = resp.Headers
	}
	if v := status.Get("grpc-status"); v != "" {
		if code, err := strconv.Atoi(v); err == nil {
			g.StatusCode, g.HasStatus = code, true
		}
	}
	g.StatusMessage = decodeMessage(status.Get("grpc-message"))
}

// splitPath splits a gRPC path, /package.Service/Method, into the fully
// qualified service name and the method. A path of another shape gives
// empty names.
func splitPath(path string) (service, method string) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", ""
	}
	service, method, ok = strings.Cut(rest, "/")
	if !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return "", ""
	}
	return service, method
}

// decodeMessage undoes the percent-encoding of grpc-message (gRPC over
// HTTP/2, "Responses"); a value that is not validly encoded is kept as
// sent.
func decodeMessage(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	if s, err := url.PathUnescape(v); err == nil {
		return s
	}
	return v
}
