// Package load is the bench's traffic: the HTTP service the captures and
// the live scenarios use, its own rate-holding load generator, and wrk.
package load

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/podtap/podtap/internal/payload"
)

// SeqHeader numbers every response 1..N in the order the server answered,
// so a capture's completeness can be checked exactly.
const SeqHeader = "X-Request-Seq"

// AppServer is the HTTP/1.1 JSON service of the captures and of the live
// scenarios: GET /api/items/{id}?size=N answers a JSON document of N bytes,
// POST /api/orders?size=N reads a JSON body and answers N bytes. chunked=1
// answers without a Content-Length, as streaming encoders do.
type AppServer struct {
	seq atomic.Int64
	srv *http.Server
}

func NewAppServer() *AppServer {
	a := &AppServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items/{id}", a.answer)
	mux.HandleFunc("POST /api/orders", a.answer)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 10 * time.Minute}
	return a
}

func (a *AppServer) Serve(ln net.Listener) error {
	if err := a.srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

func (a *AppServer) answer(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("size"))
	id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
	body := payload.Order(make([]byte, 0, max(size, payload.MinSize)), size, id)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(SeqHeader, strconv.FormatInt(a.seq.Add(1), 10))
	if q.Get("chunked") == "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	_, _ = w.Write(body)
}

// Shutdown stops serving once the requests in flight are answered.
func (a *AppServer) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }
