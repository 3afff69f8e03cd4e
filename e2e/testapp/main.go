// Command testapp is the "image" of the e2e tests' application containers,
// built static so it runs alone in a container's root filesystem:
//
//	testapp serve --http=:8080 --grpc=:9000
//	testapp proxy --cert=DIR --listen=:15006=127.0.0.1:8080 [--listen=...]
//	testapp client --http=http://checkout --grpc=checkout:9000
//	testapp kafka --listen=$(POD_IP):9092 --topics=T
//	testapp outbound --listen=127.0.0.1:15001 --control=:15020 --release-when-closed=127.0.0.1:17339
//
// serve is the workload: internal/demoapp's JSON service and
// internal/grpcdemo's greeter with server reflection. proxy stands in for a
// mesh proxy such as istio-proxy: it terminates TLS on each listen address
// and relays the plaintext to its upstream over the pod's loopback, which
// is why podtap captures lo in a meshed pod. client calls serve by its
// Service name; kafka is the cluster's broker. outbound is a mesh proxy's
// outbound side, for the redirect of the pod's outgoing connections.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/podtap/podtap/internal/demoapp"
	"github.com/podtap/podtap/internal/grpcdemo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp serve|proxy|client|kafka|outbound [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "proxy":
		err = proxy(ctx, os.Args[2:])
	case "client":
		err = client(ctx, os.Args[2:])
	case "kafka":
		err = kafka(ctx, os.Args[2:])
	case "outbound":
		err = outbound(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q; want serve, proxy, client, kafka or outbound", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	httpAddr := fs.String("http", ":8080", "address of the HTTP/1.1 JSON service")
	grpcAddr := fs.String("grpc", ":9000", "address of the gRPC greeter, with reflection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return err
	}
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		return err
	}
	web := demoapp.NewServer()
	greeter := grpcdemo.NewServer(schema, grpcdemo.ServerOptions{ReflectionV1: true, ReflectionV1Alpha: true})
	errc := make(chan error, 2)
	go func() { errc <- web.Serve(hl) }()
	go func() { errc <- greeter.Serve(gl) }()
	slog.Info("serving", "http", hl.Addr().String(), "grpc", gl.Addr().String())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	greeter.Stop()
	return errors.Join(err, web.Close())
}

// route is one listen address and the upstream it relays to.
type route struct{ listen, upstream string }

type routes []route

func (r *routes) String() string { return fmt.Sprint(*r) }

func (r *routes) Set(s string) error {
	listen, upstream, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q: want LISTEN=UPSTREAM", s)
	}
	*r = append(*r, route{listen, upstream})
	return nil
}

func proxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	certDir := fs.String("cert", "", "directory with tls.crt and tls.key")
	alpn := fs.String("alpn", "http/1.1", "ALPN protocol offered on every listener, e.g. h2 for gRPC")
	var rs routes
	fs.Var(&rs, "listen", "LISTEN=UPSTREAM, repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(rs) == 0 {
		return errors.New("no --listen")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*certDir, "tls.crt"), filepath.Join(*certDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("loading the certificate: %w", err)
	}
	var wg sync.WaitGroup
	var lns []net.Listener
	for _, r := range rs {
		protos := strings.Split(*alpn, ",")
		ln, err := tls.Listen("tcp", r.listen, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: protos, MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		slog.Info("relaying", "listen", ln.Addr().String(), "upstream", r.upstream, "alpn", protos)
		wg.Go(func() { accept(ln, r.upstream) })
	}
	<-ctx.Done()
	for _, ln := range lns {
		_ = ln.Close()
	}
	wg.Wait()
	return nil
}

func accept(ln net.Listener, upstream string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go relay(c, upstream)
	}
}

func relay(down net.Conn, upstream string) {
	defer down.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		slog.Error("dialing the upstream", "upstream", upstream, "err", err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close, as a proxy does, so each side sees the other's end.
		if hc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = hc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, down)
	go pipe(down, up)
	<-done
	<-done
}
