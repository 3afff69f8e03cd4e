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
	// Body, when set, is sent chunked if Chunked: net/http then cannot
	// know its length.
	Body    string
	Chunked bool
	Header  http.Header
}

// Mix is the demo's traffic: one of each kind of exchange. Calls can be
// made any number of times.
func Mix() []Call {
	order := `{"customer":"margaret","email":"margaret@example.com","items":[{"sku":"apollo","qty":2,"price":11}],"total":22}`
	form := url.Values{"user": {"margaret"}, "password": {"s3cret"}}.Encode()
	jsonBody := http.Header{"Content-Type": {"application/json"}}
	return []Call{
		{Name: "list orders (keep-alive)", Method: "GET", Path: "/api/orders", Status: 200, Kept: true},
		{Name: "create order (JSON POST)", Method: "POST", Path: "/api/orders", Status: 201, Kept: true,
			Body: order, Header: jsonBody},
		{Name: "upload order (chunked request body)", Method: "POST", Path: "/api/orders", Status: 201, Kept: true,
			Body: order, Chunked: true, Header: jsonBody},
		{Name: "get order", Method: "GET", Path: "/api/orders/1", Status: 200, Kept: true},
		{Name: "catalog (gzip response)", Method: "GET", Path: "/api/catalog", Status: 200, Kept: true,
			Header: http.Header{"Accept-Encoding": {"gzip"}}},
		{Name: "event stream (chunked response)", Method: "GET", Path: "/api/stream", Status: 200, Kept: true},
		{Name: "login (form POST, password redacted)", Method: "POST", Path: "/api/login", Status: 200, Kept: true,
			Body: form, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
		{Name: "missing order (404, dropped: status)", Method: "GET", Path: "/api/orders/999", Status: 404, Kept: false},
		{Name: "kubelet probe (dropped: internal)", Method: "GET", Path: "/healthz", Status: 200, Kept: false,
			Header: http.Header{"User-Agent": {"kube-probe/1.31"}}},
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
	var body io.Reader
	switch {
	case c.Chunked:
		// A reader of unknown length: net/http sends it chunked.
		body = io.MultiReader(strings.NewReader(c.Body))
	case c.Body != "":
		body = strings.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, base+c.Path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
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
