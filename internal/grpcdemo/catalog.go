package grpcdemo

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Names of the catalog service and its methods.
const (
	CatalogService  = "podtap.demo.v1.Catalog"
	GetItem         = "GetItem"
	ListItems       = "ListItems"
	AddStock        = "AddStock"
	Reserve         = "Reserve"
	catalogFileName = "podtap/demo/v1/catalog.proto"
)

// SKUMissing makes GetItem fail with NOT_FOUND.
const SKUMissing = "missing"

// Catalog is the catalog service's descriptors. Unlike the greeter's, its
// methods each take and return their own message types, as real APIs
// mostly do, so that a call can be told from its messages alone.
type Catalog struct {
	File              protoreflect.FileDescriptor
	Service           protoreflect.ServiceDescriptor
	ItemRef           protoreflect.MessageDescriptor
	Item              protoreflect.MessageDescriptor
	ItemQuery         protoreflect.MessageDescriptor
	StockDelta        protoreflect.MessageDescriptor
	StockSummary      protoreflect.MessageDescriptor
	Reservation       protoreflect.MessageDescriptor
	ReservationResult protoreflect.MessageDescriptor
}

// newCatalog builds catalog.proto and registers it in files:
//
//	syntax = "proto3";
//	package podtap.demo.v1;
//	import "google/protobuf/timestamp.proto";
//	message ItemRef { string sku = 1; }
//	message Item { string sku = 1; string title = 2; int64 stock = 3; double price = 4; google.protobuf.Timestamp updated = 5; }
//	message ItemQuery { uint32 page_size = 1; string prefix = 2; }
//	message StockDelta { string sku = 1; sint64 delta = 2; }
//	message StockSummary { uint32 changes = 1; sint64 net = 2; }
//	message Reservation { string sku = 1; uint32 quantity = 2; string order_id = 3; }
//	message ReservationResult { string order_id = 1; bool ok = 2; int64 remaining = 3; }
//	service Catalog {
//	  rpc GetItem(ItemRef) returns (Item);
//	  rpc ListItems(ItemQuery) returns (stream Item);
//	  rpc AddStock(stream StockDelta) returns (StockSummary);
//	  rpc Reserve(stream Reservation) returns (stream ReservationResult);
//	}
func newCatalog(files *protoregistry.Files) (*Catalog, error) {
	fd, err := protodesc.NewFile(catalogProto(), files)
	if err != nil {
		return nil, fmt.Errorf("grpcdemo: building the catalog schema: %w", err)
	}
	if err := files.RegisterFile(fd); err != nil {
		return nil, fmt.Errorf("grpcdemo: %w", err)
	}
	msgs := fd.Messages()
	return &Catalog{
		File:              fd,
		Service:           fd.Services().ByName("Catalog"),
		ItemRef:           msgs.ByName("ItemRef"),
		Item:              msgs.ByName("Item"),
		ItemQuery:         msgs.ByName("ItemQuery"),
		StockDelta:        msgs.ByName("StockDelta"),
		StockSummary:      msgs.ByName("StockSummary"),
		Reservation:       msgs.ByName("Reservation"),
		ReservationResult: msgs.ByName("ReservationResult"),
	}, nil
}

func catalogProto() *descriptorpb.FileDescriptorProto {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	i64 := descriptorpb.FieldDescriptorProto_TYPE_INT64
	u32 := descriptorpb.FieldDescriptorProto_TYPE_UINT32
	s64 := descriptorpb.FieldDescriptorProto_TYPE_SINT64
	dbl := descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
	boo := descriptorpb.FieldDescriptorProto_TYPE_BOOL
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	message := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String(catalogFileName),
		Package:    proto.String("podtap.demo.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			message("ItemRef", field("sku", 1, str, "", false)),
			message("Item",
				field("sku", 1, str, "", false),
				field("title", 2, str, "", false),
				field("stock", 3, i64, "", false),
				field("price", 4, dbl, "", false),
				field("updated", 5, msg, ".google.protobuf.Timestamp", false)),
			message("ItemQuery", field("page_size", 1, u32, "", false), field("prefix", 2, str, "", false)),
			message("StockDelta", field("sku", 1, str, "", false), field("delta", 2, s64, "", false)),
			message("StockSummary", field("changes", 1, u32, "", false), field("net", 2, s64, "", false)),
			message("Reservation",
				field("sku", 1, str, "", false),
				field("quantity", 2, u32, "", false),
				field("order_id", 3, str, "", false)),
			message("ReservationResult",
				field("order_id", 1, str, "", false),
				field("ok", 2, boo, "", false),
				field("remaining", 3, i64, "", false)),
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Catalog"),
			Method: []*descriptorpb.MethodDescriptorProto{
				rpc(GetItem, "ItemRef", "Item", false, false),
				rpc(ListItems, "ItemQuery", "Item", false, true),
				rpc(AddStock, "StockDelta", "StockSummary", true, false),
				rpc(Reserve, "Reservation", "ReservationResult", true, true),
			},
		}},
	}
}

// set fills a message's fields by name.
func set(m *dynamicpb.Message, values map[string]protoreflect.Value) *dynamicpb.Message {
	fields := m.Descriptor().Fields()
	for name, v := range values {
		m.Set(fields.ByName(protoreflect.Name(name)), v)
	}
	return m
}

// NewItemRef builds the request of GetItem.
func (c *Catalog) NewItemRef(sku string) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.ItemRef), map[string]protoreflect.Value{"sku": protoreflect.ValueOfString(sku)})
}

// NewItemQuery builds the request of ListItems.
func (c *Catalog) NewItemQuery(pageSize uint32, prefix string) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.ItemQuery), map[string]protoreflect.Value{
		"page_size": protoreflect.ValueOfUint32(pageSize),
		"prefix":    protoreflect.ValueOfString(prefix),
	})
}

// NewStockDelta builds a request of AddStock.
func (c *Catalog) NewStockDelta(sku string, delta int64) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.StockDelta), map[string]protoreflect.Value{
		"sku":   protoreflect.ValueOfString(sku),
		"delta": protoreflect.ValueOfInt64(delta),
	})
}

// NewReservation builds a request of Reserve.
func (c *Catalog) NewReservation(sku string, quantity uint32, orderID string) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.Reservation), map[string]protoreflect.Value{
		"sku":      protoreflect.ValueOfString(sku),
		"quantity": protoreflect.ValueOfUint32(quantity),
		"order_id": protoreflect.ValueOfString(orderID),
	})
}

// NewItem builds the item the service answers for sku, the n-th of a
// listing: deterministic, so tests can predict it.
func (c *Catalog) NewItem(sku string, n int) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.Item), map[string]protoreflect.Value{
		"sku":     protoreflect.ValueOfString(sku),
		"title":   protoreflect.ValueOfString("Item " + sku),
		"stock":   protoreflect.ValueOfInt64(int64(10 * (n + 1))),
		"price":   protoreflect.ValueOfFloat64(12.5 + float64(n)),
		"updated": protoreflect.ValueOfMessage(timestamppb.New(Epoch.Add(time.Duration(n) * time.Minute)).ProtoReflect()),
	})
}

// NewStockSummary builds the reply of AddStock.
func (c *Catalog) NewStockSummary(changes uint32, net int64) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.StockSummary), map[string]protoreflect.Value{
		"changes": protoreflect.ValueOfUint32(changes),
		"net":     protoreflect.ValueOfInt64(net),
	})
}

// NewReservationResult builds a reply of Reserve.
func (c *Catalog) NewReservationResult(orderID string, ok bool, remaining int64) *dynamicpb.Message {
	return set(dynamicpb.NewMessage(c.ReservationResult), map[string]protoreflect.Value{
		"order_id":  protoreflect.ValueOfString(orderID),
		"ok":        protoreflect.ValueOfBool(ok),
		"remaining": protoreflect.ValueOfInt64(remaining),
	})
}
