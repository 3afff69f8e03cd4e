package grpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"

	"github.com/fullstorydev/grpcurl"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/grpcreflect"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/podtap/podtap/sidecar/message"
)

// errNoReflection means the server does not serve the reflection API.
var errNoReflection = errors.New("grpc: server has no reflection service")

// target is a server asked for reflection, and how to reach it.
type target struct {
	addr netip.AddrPort
	// tls is set when the server's calls were TLS (read by TLS capture):
	// its reflection service then speaks TLS too.
	tls bool
	// own is set for an address of the pod itself, whose certificate is
	// not verified: it names the service (a DNS name), not the pod's IP,
	// and the server is the application the sidecar runs beside, reached
	// inside the pod. Any other server's certificate is verified against
	// the system's roots for its IP address.
	own bool
}

// lookupFunc fetches a service's schema from a server.
type lookupFunc func(ctx context.Context, server target, service string) (*schema, error)

// listFunc fetches the schemas of every service a server serves.
type listFunc func(ctx context.Context, server target) (*catalog, error)

// maxCatalogServices bounds the services fetched from one server for
// method inference; a server with more gets none, as inference among
// only some of its services could pick a wrong method.
const maxCatalogServices = 256

// reflectSchema asks the server's reflection service for the file that
// defines service, with its imports.
func reflectSchema(ctx context.Context, server target, service string) (*schema, error) {
	var s *schema
	err := withReflection(ctx, server, func(src grpcurl.DescriptorSource) error {
		sd, err := findService(src, server.addr, service)
		if err == nil {
			s = newSchema(sd)
		}
		return err
	})
	return s, err
}

// reflectCatalog asks the server's reflection service for the services it
// serves and their files. A service whose file cannot be had fails the
// whole list, for the same reason as a list past maxCatalogServices.
func reflectCatalog(ctx context.Context, server target) (*catalog, error) {
	var c *catalog
	err := withReflection(ctx, server, func(src grpcurl.DescriptorSource) error {
		names, err := src.ListServices()
		if err != nil {
			return reflectionError(err, server.addr, "the service list")
		}
		var sds []protoreflect.ServiceDescriptor
		for _, name := range names {
			if !inferable(name) {
				continue
			}
			if len(sds) == maxCatalogServices {
				return fmt.Errorf("grpc: reflection at %s lists more than %d services", server.addr, maxCatalogServices)
			}
			sd, err := findService(src, server.addr, name)
			if err != nil {
				return err
			}
			sds = append(sds, sd)
		}
		c = newCatalog(sds)
		return nil
	})
	return c, err
}

// withReflection runs fn with a reflection client of server. grpcreflect
// tries reflection v1 first and falls back to v1alpha when the server
// does not implement v1. The files the server sends are normalised
// (normalize.go) before grpcreflect compiles them.
func withReflection(ctx context.Context, server target, fn func(grpcurl.DescriptorSource) error) error {
	creds := insecure.NewCredentials()
	if server.tls {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: server.addr.Addr().String()}
		// Only the pod's own server: see target.own.
		cfg.InsecureSkipVerify = server.own
		creds = credentials.NewTLS(cfg)
	}
	cc, err := ggrpc.NewClient("passthrough:///"+server.addr.String(),
		ggrpc.WithTransportCredentials(creds),
		ggrpc.WithUserAgent("podtap-sidecar"),
		ggrpc.WithStreamInterceptor(normalizeReflection))
	if err != nil {
		return fmt.Errorf("grpc: reflection client for %s: %w", server.addr, err)
	}
	defer cc.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, message.InternalHeader, "reflection")
	client := grpcreflect.NewClientAuto(ctx, cc)
	defer client.Reset()
	return fn(grpcurl.DescriptorSourceFromServer(ctx, client))
}

// findService fetches the descriptor of one service and its file.
func findService(src grpcurl.DescriptorSource, server netip.AddrPort, service string) (protoreflect.ServiceDescriptor, error) {
	d, err := src.FindSymbol(service)
	if err != nil {
		return nil, reflectionError(err, server, service)
	}
	sd, ok := d.(*desc.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("grpc: reflection at %s: %s is not a service", server, service)
	}
	return sd.UnwrapService(), nil
}

func reflectionError(err error, server netip.AddrPort, what string) error {
	if errors.Is(err, grpcurl.ErrReflectionNotSupported) {
		return fmt.Errorf("%w: %s", errNoReflection, server)
	}
	return fmt.Errorf("grpc: reflection at %s for %s: %w", server, what, err)
}
