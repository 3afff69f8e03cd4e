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

	"github.com/podtap/podtap/sidecar/message"
)

// errNoReflection means the server does not serve the reflection API.
var errNoReflection = errors.New("grpc: server has no reflection service")

// lookupFunc fetches a service's schema from a server.
type lookupFunc func(ctx context.Context, server netip.AddrPort, service string) (*schema, error)

// reflectSchema asks the server's reflection service for the file that defines
// service, with its imports. grpcreflect tries reflection v1 first and
// falls back to v1alpha when the server does not implement v1.
func reflectSchema(ctx context.Context, server netip.AddrPort, service string) (*schema, error) {
	cc, err := ggrpc.NewClient("passthrough:///"+server.String(),
		ggrpc.WithTransportCredentials(insecure.NewCredentials()),
		ggrpc.WithUserAgent("podtap-sidecar"))
	if err != nil {
		return nil, fmt.Errorf("grpc: reflection client for %s: %w", server, err)
	}
	defer cc.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, message.InternalHeader, "reflection")
	client := grpcreflect.NewClientAuto(ctx, cc)
	defer client.Reset()
	d, err := grpcurl.DescriptorSourceFromServer(ctx, client).FindSymbol(service)
	switch {
	case errors.Is(err, grpcurl.ErrReflectionNotSupported):
		return nil, fmt.Errorf("%w: %s", errNoReflection, server)
	case err != nil:
		return nil, fmt.Errorf("grpc: reflection at %s for %s: %w", server, service, err)
	}
	sd, ok := d.(*desc.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("grpc: reflection at %s: %s is not a service", server, service)
	}
	return newSchema(sd.UnwrapService()), nil
}
