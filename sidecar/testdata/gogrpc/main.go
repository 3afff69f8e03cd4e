// Command gogrpc is the gRPC application of the TLS capture tests: the
// greeter of internal/grpcdemo with reflection, served with TLS
// credentials and, for the comparison run, without.
package main

import (
	"flag"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/podtap/podtap/internal/grpcdemo"
)

func main() {
	tlsAddr := flag.String("tls", "", "listen address served with TLS")
	plainAddr := flag.String("plain", "", "listen address served in plaintext")
	cert := flag.String("cert", "", "certificate PEM")
	key := flag.String("key", "", "key PEM")
	flag.Parse()
	schema, err := grpcdemo.NewSchema()
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.NewServerTLSFromFile(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	errc := make(chan error, 2)
	for _, s := range []struct {
		addr string
		opts grpcdemo.ServerOptions
	}{
		{*tlsAddr, grpcdemo.ServerOptions{ReflectionV1: true, GRPC: []grpc.ServerOption{grpc.Creds(creds)}}},
		{*plainAddr, grpcdemo.ServerOptions{ReflectionV1: true}},
	} {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := grpcdemo.NewServer(schema, s.opts)
		go func() { errc <- srv.Serve(ln) }()
	}
	log.Fatal(<-errc)
}
