package grpc

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protobufjsItem is shaped like what @grpc/reflection serves for a file
// loaded by @grpc/proto-loader: the map entry is named after its field,
// type names are relative, and the import of the Money file is missing.
const protobufjsItem = `
name: "shop_inventory_v1.proto" package: "shop.inventory.v1" syntax: "proto3"
message_type {
  name: "Item"
  field { name: "stock" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "Stock" }
  field { name: "kind" number: 6 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: "Kind" }
  field { name: "price" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: "common.v1.Money" }
  field { name: "by_warehouse" number: 10 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "ByWarehouse" }
  field { name: "status" number: 13 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: "Status" }
  nested_type {
    name: "Stock"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 }
    options { map_entry: true }
  }
  nested_type {
    name: "ByWarehouse"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: "Item.Dimension" }
    options { map_entry: true }
  }
  nested_type { name: "Dimension" field { name: "unit" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING } }
  enum_type { name: "Kind" value { name: "KIND_UNSPECIFIED" number: 0 } }
}
enum_type { name: "Status" value { name: "STATUS_UNSPECIFIED" number: 0 } }
service {
  name: "Inventory"
  method { name: "Get" input_type: ".shop.inventory.v1.Item" output_type: "Item" }
}`

const protobufjsMoney = `
name: "shop_common_v1.proto" package: "shop.common.v1" syntax: "proto3"
message_type { name: "Money" field { name: "units" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 } }`

// protocItem is a file as protoc writes it, which normalising must leave
// as it is.
const protocItem = `
name: "shop/inventory/v1/inventory.proto" package: "shop.inventory.v1" syntax: "proto3"
dependency: "shop/common/v1/money.proto"
message_type {
  name: "Item"
  field { name: "stock" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".shop.inventory.v1.Item.StockEntry" json_name: "stock" }
  field { name: "price" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".shop.common.v1.Money" json_name: "price" }
  nested_type {
    name: "StockEntry"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "key" }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 json_name: "value" }
    options { map_entry: true }
  }
}
service { name: "Inventory" method { name: "Get" input_type: ".shop.inventory.v1.Item" output_type: ".shop.inventory.v1.Item" } }`

const protocMoney = `
name: "shop/common/v1/money.proto" package: "shop.common.v1" syntax: "proto3"
message_type { name: "Money" field { name: "units" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 json_name: "units" } }`

func parseFiles(t testing.TB, texts ...string) []*descriptorpb.FileDescriptorProto {
	t.Helper()
	var files []*descriptorpb.FileDescriptorProto
	for _, text := range texts {
		fd := new(descriptorpb.FileDescriptorProto)
		if err := prototext.Unmarshal([]byte(text), fd); err != nil {
			t.Fatalf("test descriptor: %v", err)
		}
		files = append(files, fd)
	}
	return files
}

// compileNormalized is what a reflection lookup does with the files of a
// response: normalise, then compile with protodesc.
func compileNormalized(files []*descriptorpb.FileDescriptorProto) (*protoregistry.Files, error) {
	if err := newNormalizer().normalize(files); err != nil {
		return nil, err
	}
	return protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: files})
}

func TestNormalizeProtobufjs(t *testing.T) {
	files := parseFiles(t, protobufjsItem, protobufjsMoney)
	if _, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: parseFiles(t, protobufjsItem, protobufjsMoney)}); err == nil {
		t.Fatal("protodesc compiles protobufjs's descriptors as they are: the test no longer shows what normalising is for")
	}
	reg, err := compileNormalized(files)
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.FindDescriptorByName("shop.inventory.v1.Item")
	if err != nil {
		t.Fatal(err)
	}
	item := d.(protoreflect.MessageDescriptor)
	for _, c := range []struct {
		field, want string
	}{
		{"stock", "shop.inventory.v1.Item.StockEntry"},
		{"by_warehouse", "shop.inventory.v1.Item.ByWarehouseEntry"},
		{"price", "shop.common.v1.Money"},
	} {
		f := item.Fields().ByName(protoreflect.Name(c.field))
		if got := string(f.Message().FullName()); got != c.want {
			t.Errorf("%s: type %s, want %s", c.field, got, c.want)
		}
	}
	stock := item.Fields().ByName("stock")
	if !stock.IsMap() || stock.MapKey().Kind() != protoreflect.StringKind || stock.MapValue().Kind() != protoreflect.Int32Kind {
		t.Errorf("stock is not a map<string, int32>: %v", stock)
	}
	if v := item.Fields().ByName("by_warehouse").MapValue(); v.Message().FullName() != "shop.inventory.v1.Item.Dimension" {
		t.Errorf("by_warehouse values: %v", v.Message().FullName())
	}
	if e := item.Fields().ByName("status").Enum(); e.FullName() != "shop.inventory.v1.Status" {
		t.Errorf("status: enum %s", e.FullName())
	}
	if got := files[0].GetDependency(); len(got) != 1 || got[0] != "shop_common_v1.proto" {
		t.Errorf("dependencies %q, want the Money file", got)
	}
}

func TestNormalizeLeavesProtocAlone(t *testing.T) {
	files := parseFiles(t, protocItem, protocMoney)
	want := parseFiles(t, protocItem, protocMoney)
	if _, err := compileNormalized(files); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if !proto.Equal(files[i], want[i]) {
			t.Errorf("normalising changed protoc's %s:\n%v", want[i].GetName(), prototext.Format(files[i]))
		}
	}
}

// TestNormalizeAcrossResponses: a server sends each file once per stream,
// so a later response's names resolve against an earlier one's types.
func TestNormalizeAcrossResponses(t *testing.T) {
	n := newNormalizer()
	money := parseFiles(t, protobufjsMoney)
	if err := n.normalize(money); err != nil {
		t.Fatal(err)
	}
	item := parseFiles(t, protobufjsItem)
	if err := n.normalize(item); err != nil {
		t.Fatal(err)
	}
	if _, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: append(money, item...)}); err != nil {
		t.Fatal(err)
	}
}

func TestNormalizeFillsMissingKind(t *testing.T) {
	files := parseFiles(t, `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" field { name: "e" number: 1 label: LABEL_OPTIONAL type_name: "E" } field { name: "m" number: 2 label: LABEL_OPTIONAL type_name: "M" } }
enum_type { name: "E" value { name: "E_UNSPECIFIED" number: 0 } }`)
	reg, err := compileNormalized(files)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.FindDescriptorByName("a.M")
	fields := d.(protoreflect.MessageDescriptor).Fields()
	if fields.ByName("e").Kind() != protoreflect.EnumKind || fields.ByName("m").Kind() != protoreflect.MessageKind {
		t.Errorf("kinds %v and %v", fields.ByName("e").Kind(), fields.ByName("m").Kind())
	}
}

// TestNormalizeRejectsBroken: descriptors no protoc would have built stay
// rejected, each with an error that says why.
func TestNormalizeRejectsBroken(t *testing.T) {
	for _, c := range []struct {
		name, file, want string
	}{
		{"map entry without key and value", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M"
  field { name: "stock" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "Stock" }
  nested_type { name: "Stock" options { map_entry: true } } }`, "map"},
		{"map entry with a wrong value number", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M"
  field { name: "stock" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "Stock" }
  nested_type { name: "Stock" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 3 label: LABEL_OPTIONAL type: TYPE_INT32 } } }`, "map"},
		{"map entry of another message", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M"
  field { name: "stock" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "N.Stock" } }
message_type { name: "N"
  nested_type { name: "Stock" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 } } }`, "map"},
		{"unresolvable type name", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: "Nowhere" } }`,
			`a.M.x: type "Nowhere" names no message or enum`},
		{"unresolvable absolute name", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".b.M" } }`,
			`type ".b.M" names no message or enum`},
		{"empty type name", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: "" } }`,
			"empty type name"},
		{"method input an enum", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" }
enum_type { name: "E" value { name: "E_UNSPECIFIED" number: 0 } }
service { name: "S" method { name: "Get" input_type: "E" output_type: "M" } }`, `a.S.Get input: "E" is an enum, not a message`},
		{"entry name taken", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M"
  field { name: "stock" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: "Stock" }
  nested_type { name: "Stock" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 } }
  nested_type { name: "StockEntry" } }`, "cannot be renamed StockEntry"},
		{"message field naming an enum", `name: "a.proto" package: "a" syntax: "proto3"
message_type { name: "M" field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: "E" } }
enum_type { name: "E" value { name: "E_UNSPECIFIED" number: 0 } }`, "E"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileNormalized(parseFiles(t, c.file))
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestMapEntryName(t *testing.T) {
	for field, want := range map[string]string{
		"stock": "StockEntry", "by_warehouse": "ByWarehouseEntry", "byWarehouse": "ByWarehouseEntry",
		"kind_by_region_": "KindByRegionEntry", "_x": "XEntry",
	} {
		if got := mapEntryName(field); got != want {
			t.Errorf("mapEntryName(%q) = %q, want %q", field, got, want)
		}
	}
}

// FuzzNormalize: any descriptor set, however malformed, is normalised and
// compiled or rejected, never a panic.
func FuzzNormalize(f *testing.F) {
	for _, texts := range [][]string{{protobufjsItem, protobufjsMoney}, {protocItem, protocMoney}} {
		b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: parseFiles(f, texts...)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var set descriptorpb.FileDescriptorSet
		if proto.Unmarshal(b, &set) != nil {
			return
		}
		_, _ = compileNormalized(set.File)
	})
}
