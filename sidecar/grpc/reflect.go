package grpc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/fullstorydev/grpcurl"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/grpcreflect"
	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/podtap/podtap/sidecar/message"
)

// errNoReflection means the server does not serve the reflection API.
var errNoReflection = errors.New("grpc: server has no reflection service")

// lookupFunc fetches a service's schema from a server.
type lookupFunc func(ctx context.Context, server netip.AddrPort, service string) (*schema, error)

// listFunc fetches the schemas of every service a server serves.
type listFunc func(ctx context.Context, server netip.AddrPort) (*catalog, error)

// maxCatalogServices bounds the services fetched from one server for
// method inference; a server with more gets none, as inference among
// only some of its services could pick a wrong method.
const maxCatalogServices = 256

// reflectSchema asks the server's reflection service for the file that
// defines service, with its imports.
func reflectSchema(ctx context.Context, server netip.AddrPort, service string) (*schema, error) {
	var s *schema
	err := withReflection(ctx, server, func(src grpcurl.DescriptorSource) error {
		sd, err := findService(src, server, service)
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
func reflectCatalog(ctx context.Context, server netip.AddrPort) (*catalog, error) {
	var c *catalog
	err := withReflection(ctx, server, func(src grpcurl.DescriptorSource) error {
		names, err := src.ListServices()
		if err != nil {
			return reflectionError(err, server, "the service list")
		}
		var sds []protoreflect.ServiceDescriptor
		for _, name := range names {
			if !inferable(name) {
				continue
			}
			if len(sds) == maxCatalogServices {
				return fmt.Errorf("grpc: reflection at %s lists more than %d services", server, maxCatalogServices)
			}
			sd, err := findService(src, server, name)
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
func withReflection(ctx context.Context, server netip.AddrPort, fn func(grpcurl.DescriptorSource) error) error {
	cc, err := ggrpc.NewClient("passthrough:///"+server.String(),
		ggrpc.WithTransportCredentials(insecure.NewCredentials()),
		ggrpc.WithUserAgent("podtap-sidecar"),
		ggrpc.WithStreamInterceptor(normalizeReflection))
	if err != nil {
		return fmt.Errorf("grpc: reflection client for %s: %w", server, err)
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
