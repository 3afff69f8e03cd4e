package grpcdemo

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Bounds of the catalog's answers, so that a request cannot make the
// server build an arbitrarily large reply.
const (
	maxPageSize = 100
	stockLevel  = 100
	// maxQuantity is the largest reservation that succeeds.
	maxQuantity = 10
)

// registerCatalog adds the catalog service to the server.
func (s *Server) registerCatalog() {
	s.gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: CatalogService,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: GetItem, Handler: s.getItem}},
		Streams: []grpc.StreamDesc{
			{StreamName: ListItems, Handler: s.listItems, ServerStreams: true},
			{StreamName: AddStock, Handler: s.addStock, ClientStreams: true},
			{StreamName: Reserve, Handler: s.reserve, ServerStreams: true, ClientStreams: true},
		},
		Metadata: catalogFileName,
	}, s)
}

func str(m *dynamicpb.Message, name string) string {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
}

func (s *Server) getItem(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	c := s.schema.Catalog
	req := dynamicpb.NewMessage(c.ItemRef)
	if err := dec(req); err != nil {
		return nil, err
	}
	sku := str(req, "sku")
	if sku == SKUMissing {
		return nil, status.Errorf(codes.NotFound, "no item %q", sku)
	}
	return c.NewItem(sku, 0), nil
}

func (s *Server) listItems(_ any, stream grpc.ServerStream) error {
	c := s.schema.Catalog
	req := dynamicpb.NewMessage(c.ItemQuery)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	n := min(int(req.Get(c.ItemQuery.Fields().ByName("page_size")).Uint()), maxPageSize)
	prefix := str(req, "prefix")
	for i := range n {
		if err := stream.SendMsg(c.NewItem(fmt.Sprintf("%s-%02d", prefix, i), i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) addStock(_ any, stream grpc.ServerStream) error {
	c := s.schema.Catalog
	var changes uint32
	var net int64
	for {
		req := dynamicpb.NewMessage(c.StockDelta)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		changes++
		net += req.Get(c.StockDelta.Fields().ByName("delta")).Int()
	}
	return stream.SendMsg(c.NewStockSummary(changes, net))
}

func (s *Server) reserve(_ any, stream grpc.ServerStream) error {
	c := s.schema.Catalog
	for {
		req := dynamicpb.NewMessage(c.Reservation)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		qty := uint32(req.Get(c.Reservation.Fields().ByName("quantity")).Uint())
		ok := qty <= maxQuantity
		remaining := int64(stockLevel)
		if ok {
			remaining -= int64(qty)
		}
		if err := stream.SendMsg(c.NewReservationResult(str(req, "order_id"), ok, remaining)); err != nil {
			return err
		}
	}
}
