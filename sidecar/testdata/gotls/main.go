// Command gotls is the Go crypto/tls application of the TLS capture tests:
// "serve" answers the same JSON API over TLS (HTTP/1.1 and h2 by ALPN),
// over plaintext HTTP/1.1 and, optionally, over TLS on a Unix socket (a
// conn that is not TCP); "call" sends the tests' requests to one of them.
// It uses only the standard library of Go 1.21, so that it builds with the
// oldest Go that TLS capture is checked against.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: gotls serve|call [flags]")
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "call":
		err = call(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	tlsAddr := fs.String("tls", "", "TLS listen address")
	plainAddr := fs.String("plain", "", "plaintext listen address")
	unixPath := fs.String("unix", "", "Unix socket path served with TLS")
	cert := fs.String("cert", "", "certificate PEM")
	key := fs.String("key", "", "key PEM")
	_ = fs.Parse(args)
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
	errc := make(chan error, 3)
	newServer := func() *http.Server {
		return &http.Server{Handler: http.HandlerFunc(answer), ReadHeaderTimeout: 5 * time.Second, TLSConfig: cfg.Clone()}
	}
	listen := func(network, addr string, useTLS bool) error {
		ln, err := net.Listen(network, addr)
		if err != nil {
			return err
		}
		go func() {
			if useTLS {
				errc <- newServer().ServeTLS(ln, "", "")
			} else {
				errc <- newServer().Serve(ln)
			}
		}()
		return nil
	}
	if err := listen("tcp", *tlsAddr, true); err != nil {
		return err
	}
	if err := listen("tcp", *plainAddr, false); err != nil {
		return err
	}
	if *unixPath != "" {
		if err := listen("unix", *unixPath, true); err != nil {
			return err
		}
	}
	return <-errc
}

// answer echoes what it was asked, so that a pair's response names its
// request: 201 for a POST, 200 otherwise.
func answer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "path": r.URL.Path, "n": r.URL.Query().Get("n"), "got": string(body)})
}

func call(args []string) error {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	base := fs.String("base", "", "URL the requests go to, such as https://10.0.0.2:9443")
	proto := fs.String("proto", "http/1.1", "http/1.1 or h2 (TLS only)")
	unixPath := fs.String("unix", "", "dial this Unix socket instead of base's host")
	n := fs.Int("n", 3, "requests of each kind")
	_ = fs.Parse(args)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	switch *proto {
	case "h2":
		tr.ForceAttemptHTTP2 = true
		tr.TLSClientConfig.NextProtos = []string{"h2"}
	case "http/1.1":
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	default:
		return fmt.Errorf("unknown protocol %q", *proto)
	}
	if *unixPath != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", *unixPath)
		}
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	for i := 0; i < *n; i++ {
		for _, req := range []struct {
			method, path, body string
			want               int
		}{
			{http.MethodGet, fmt.Sprintf("/api/item?n=%d", i), "", http.StatusOK},
			{http.MethodPost, fmt.Sprintf("/api/orders?n=%d", i), fmt.Sprintf(`{"order":%d,"items":["tea","cake"]}`, i), http.StatusCreated},
		} {
			r, err := http.NewRequest(req.method, *base+req.path, strings.NewReader(req.body))
			if err != nil {
				return err
			}
			if req.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(r)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != req.want {
				return fmt.Errorf("%s %s: status %d, want %d", req.method, req.path, resp.StatusCode, req.want)
			}
			if *proto == "h2" && resp.ProtoMajor != 2 {
				return fmt.Errorf("%s %s: answered over %s, want h2", req.method, req.path, resp.Proto)
			}
		}
	}
	return nil
}
