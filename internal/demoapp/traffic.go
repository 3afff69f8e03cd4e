package demoapp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Call is one request of the mix, with what the service answers.
type Call struct {
	Name   string
	Method string
	Path   string
	Status int
	// Kept says whether podtap's default filter keeps the pair.
	Kept bool
	do   func(ctx context.Context, c *http.Client, base string) (*http.Response, error)
}

// simple makes a request; a chunked body is sent with Transfer-Encoding
// chunked, because net/http cannot know the length of a plain io.Reader.
func simple(method, path, body string, chunked bool, header http.Header) func(context.Context, *http.Client, string) (*http.Response, error) {
	return func(ctx context.Context, c *http.Client, base string) (*http.Response, error) {
		var r io.Reader
		switch {
		case chunked:
			r = io.MultiReader(strings.NewReader(body))
		case body != "":
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			return nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		return c.Do(req)
	}
}

// Mix is the demo's traffic: one of each kind of exchange. Calls can be
// made any number of times.
func Mix() []Call {
	order := `{"customer":"margaret","email":"margaret@example.com","items":[{"sku":"apollo","qty":2,"price":11}],"total":22}`
	form := url.Values{"user": {"margaret"}, "password": {"s3cret"}}.Encode()
	return []Call{
		{Name: "list orders (keep-alive)", Method: "GET", Path: "/api/orders", Status: 200, Kept: true,
			do: simple("GET", "/api/orders", "", false, nil)},
		{Name: "create order (JSON POST)", Method: "POST", Path: "/api/orders", Status: 201, Kept: true,
			do: simple("POST", "/api/orders", order, false, http.Header{"Content-Type": {"application/json"}})},
		{Name: "upload order (chunked request body)", Method: "POST", Path: "/api/orders", Status: 201, Kept: true,
			do: simple("POST", "/api/orders", order, true, http.Header{"Content-Type": {"application/json"}})},
		{Name: "get order", Method: "GET", Path: "/api/orders/1", Status: 200, Kept: true,
			do: simple("GET", "/api/orders/1", "", false, nil)},
		{Name: "catalog (gzip response)", Method: "GET", Path: "/api/catalog", Status: 200, Kept: true,
			do: simple("GET", "/api/catalog", "", false, http.Header{"Accept-Encoding": {"gzip"}})},
		{Name: "event stream (chunked response)", Method: "GET", Path: "/api/stream", Status: 200, Kept: true,
			do: simple("GET", "/api/stream", "", false, nil)},
		{Name: "login (form POST, password redacted)", Method: "POST", Path: "/api/login", Status: 200, Kept: true,
			do: simple("POST", "/api/login", form, false, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})},
		{Name: "missing order (404, dropped: status)", Method: "GET", Path: "/api/orders/999", Status: 404, Kept: false,
			do: simple("GET", "/api/orders/999", "", false, nil)},
		{Name: "kubelet probe (dropped: internal)", Method: "GET", Path: "/healthz", Status: 200, Kept: false,
			do: simple("GET", "/healthz", "", false, http.Header{"User-Agent": {"kube-probe/1.31"}})},
	}
}

// Client is a keep-alive client that never follows redirects and decodes
// nothing itself, so the wire carries exactly what Mix asks for.
func Client() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// Do makes the call against base (http://host:port) and checks the status.
func (c Call) Do(ctx context.Context, client *http.Client, base string) error {
	resp, err := c.do(ctx, client, base)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("%s: reading body: %w", c.Name, err)
	}
	if resp.StatusCode != c.Status {
		return fmt.Errorf("%s: status %d, want %d", c.Name, resp.StatusCode, c.Status)
	}
	return nil
}
