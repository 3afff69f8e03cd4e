package load

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The load generator is the bench's own rather than wrk: Debian's wrk
// (4.1) sends as fast as it can and has no rate option (wrk2's -R is not
// packaged), while the live scenario needs fixed, rising rates and an
// exact count of the responses, to compare with the pairs podtap emitted.

// Generator drives the app server over keep-alive connections.
type Generator struct {
	client *http.Client
	url    string
	// conns is the number of concurrent connections (and workers).
	conns int
}

func NewGenerator(addr string, conns int) *Generator {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	return &Generator{
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		url:    "http://" + addr + "/api/items/",
		conns:  conns,
	}
}

// NewHTTPSGenerator is NewGenerator over HTTPS with tc, HTTP/1.1 only (a
// Transport with its own TLS configuration does not try h2).
func NewHTTPSGenerator(addr string, conns int, tc *tls.Config) *Generator {
	g := NewGenerator(addr, conns)
	g.client.Transport.(*http.Transport).TLSClientConfig = tc
	g.url = "https://" + addr + "/api/items/"
	return g
}

func (g *Generator) Close() { g.client.Transport.(*http.Transport).CloseIdleConnections() }

// Result is what one load step did.
type Result struct {
	// OK counts the 200 responses read completely; Errors the others.
	OK, Errors int64
	Elapsed    time.Duration
}

// Rate is the achieved rate of complete responses.
func (r Result) Rate() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Run sends requests at rate per second (0: as fast as the server
// answers) for d. Each worker paces its own requests and waits for each
// response before the next, so a server that cannot keep up lowers the
// achieved rate instead of piling up requests.
func (g *Generator) Run(ctx context.Context, rate float64, d time.Duration, bodySize int) Result {
	var ok, errs atomic.Int64
	var seq atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	_ = Parallel(ctx, g.conns, func(ctx context.Context, w int) error {
		var interval time.Duration
		if rate > 0 {
			interval = time.Duration(float64(g.conns) / rate * float64(time.Second))
		}
		next := start.Add(interval * time.Duration(w) / time.Duration(g.conns))
		for ctx.Err() == nil {
			if rate > 0 {
				if !next.Before(deadline) {
					return nil
				}
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				next = next.Add(interval)
			}
			if time.Now().After(deadline) {
				return nil
			}
			if err := g.get(ctx, seq.Add(1), bodySize); err != nil {
				errs.Add(1)
				continue
			}
			ok.Add(1)
		}
		return nil
	})
	return Result{OK: ok.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
}

func (g *Generator) get(ctx context.Context, id int64, bodySize int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url+strconv.FormatInt(id, 10)+"?size="+strconv.Itoa(bodySize), nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	return ReadOK(resp)
}

// ReadOK reads resp's body to its end, which lets its connection carry the
// next request, and wants a 200.
func ReadOK(resp *http.Response) error {
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
