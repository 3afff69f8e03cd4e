package grpc

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// catalog is the services one server serves, or that the descriptor sets
// describe: the methods a call whose path was not seen is inferred among.
type catalog struct {
	services []*schema
}

// newCatalog builds the schemas of services fetched from one source,
// sharing one registry of their files.
func newCatalog(sds []protoreflect.ServiceDescriptor) *catalog {
	files := new(protoregistry.Files)
	for _, sd := range sds {
		registerFile(files, sd.ParentFile())
	}
	t := newTypes(files)
	c := &catalog{services: make([]*schema, 0, len(sds))}
	for _, sd := range sds {
		c.services = append(c.services, withTypes(sd, t))
	}
	return c
}

// inferable says whether calls may be inferred to be a service's. The
// reflection service is left out: applications do not call it, while its
// loosely typed messages fit many of their calls and would make those
// ambiguous. Health is kept: it is an API clients call.
func inferable(service string) bool {
	return !strings.HasPrefix(service, "grpc.reflection.")
}
