package grpc

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protosets holds the services of descriptor sets (protoc
// --descriptor_set_out, grpcurl -protoset-out), consulted before
// reflection.
type protosets struct {
	files   *protoregistry.Files
	types   *types
	schemas map[protoreflect.FullName]*schema
	// all is every inferable service of the sets, by name.
	all *catalog
}

// loadProtosets reads descriptor set files. Imports missing from the sets
// are taken from the well-known types compiled into podtap, since sets
// are often written without --include_imports.
func loadProtosets(paths []string) (*protosets, error) {
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	var order []string
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("grpc: reading descriptor set: %w", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("grpc: descriptor set %s: %w", path, err)
		}
		for _, fd := range set.GetFile() {
			if _, dup := byName[fd.GetName()]; !dup {
				order = append(order, fd.GetName())
			}
			byName[fd.GetName()] = fd
		}
	}
	p := &protosets{files: new(protoregistry.Files), schemas: map[protoreflect.FullName]*schema{}, all: &catalog{}}
	for _, name := range order {
		if err := p.build(name, byName, nil); err != nil {
			return nil, err
		}
	}
	p.types = newTypes(p.files)
	p.files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		svcs := fd.Services()
		for i := range svcs.Len() {
			sd := svcs.Get(i)
			s := withTypes(sd, p.types)
			p.schemas[sd.FullName()] = s
			if inferable(string(sd.FullName())) {
				p.all.services = append(p.all.services, s)
			}
		}
		return true
	})
	slices.SortFunc(p.all.services, func(a, b *schema) int { return cmp.Compare(a.service.FullName(), b.service.FullName()) })
	return p, nil
}

// build registers the named file after its dependencies.
func (p *protosets) build(name string, byName map[string]*descriptorpb.FileDescriptorProto, path []string) error {
	if _, err := p.files.FindFileByPath(name); err == nil {
		return nil
	}
	fdp, ok := byName[name]
	if !ok {
		if _, err := protoregistry.GlobalFiles.FindFileByPath(name); err == nil {
			return nil
		}
		return fmt.Errorf("grpc: descriptor sets lack %s, imported by %s", name, path[len(path)-1])
	}
	for _, seen := range path {
		if seen == name {
			return fmt.Errorf("grpc: descriptor sets have an import cycle through %s", name)
		}
	}
	for _, dep := range fdp.GetDependency() {
		if err := p.build(dep, byName, append(path, name)); err != nil {
			return err
		}
	}
	fd, err := protodesc.NewFile(fdp, resolverChain{p.files, protoregistry.GlobalFiles})
	if err != nil {
		return fmt.Errorf("grpc: descriptor set file %s: %w", name, err)
	}
	if err := p.files.RegisterFile(fd); err != nil {
		return fmt.Errorf("grpc: descriptor set file %s: %w", name, err)
	}
	return nil
}

// service returns the schema of a fully qualified service, or nil.
func (p *protosets) service(name string) *schema {
	if p == nil {
		return nil
	}
	return p.schemas[protoreflect.FullName(name)]
}

// catalog is every service of the sets, for calls to servers whose own
// list is not to be had; nil without sets.
func (p *protosets) catalog() *catalog {
	if p == nil {
		return nil
	}
	return p.all
}

// overlay gives the services of a server's catalog the sets' schemas
// where the sets have them, as calls whose service is known get them.
func (p *protosets) overlay(c *catalog) *catalog {
	if p == nil || c == nil {
		return c
	}
	for i, s := range c.services {
		if ps := p.service(string(s.service.FullName())); ps != nil {
			c.services[i] = ps
		}
	}
	return c
}

// resolverChain looks files up in each resolver in turn.
type resolverChain []protodesc.Resolver

func (c resolverChain) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, r := range c {
		if fd, err := r.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (c resolverChain) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, r := range c {
		if d, err := r.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}
