package grpcdemo

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Client calls the greeter, and the catalog, over a connection.
type Client struct {
	cc     grpc.ClientConnInterface
	schema *Schema
	opts   []grpc.CallOption
}

// NewClient makes a client; opts apply to every call (e.g.
// grpc.UseCompressor("gzip")).
func NewClient(cc grpc.ClientConnInterface, s *Schema, opts ...grpc.CallOption) *Client {
	return &Client{cc: cc, schema: s, opts: opts}
}

func method(name string) string { return "/" + Service + "/" + name }

func catalogMethod(name string) string { return "/" + CatalogService + "/" + name }

// SayHello makes a unary call.
func (c *Client) SayHello(ctx context.Context, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	return c.unary(ctx, method(SayHello), req, c.schema.Reply)
}

// StreamReplies makes a server-streaming call and reads every reply. On
// error, the replies read before it are returned with it.
func (c *Client) StreamReplies(ctx context.Context, req *dynamicpb.Message) ([]*dynamicpb.Message, error) {
	return c.serverStream(ctx, method(StreamReplies), req, c.schema.Reply)
}

// CollectNames makes a client-streaming call.
func (c *Client) CollectNames(ctx context.Context, reqs []*dynamicpb.Message) (*dynamicpb.Message, error) {
	return c.clientStream(ctx, method(CollectNames), reqs, c.schema.Reply)
}

// Chat makes a bidi call, one reply read after each request sent.
func (c *Client) Chat(ctx context.Context, reqs []*dynamicpb.Message) ([]*dynamicpb.Message, error) {
	return c.bidi(ctx, method(Chat), reqs, c.schema.Reply)
}

// GetItem makes the catalog's unary call.
func (c *Client) GetItem(ctx context.Context, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	return c.unary(ctx, catalogMethod(GetItem), req, c.schema.Catalog.Item)
}

// ListItems makes the catalog's server-streaming call.
func (c *Client) ListItems(ctx context.Context, req *dynamicpb.Message) ([]*dynamicpb.Message, error) {
	return c.serverStream(ctx, catalogMethod(ListItems), req, c.schema.Catalog.Item)
}

// AddStock makes the catalog's client-streaming call.
func (c *Client) AddStock(ctx context.Context, reqs []*dynamicpb.Message) (*dynamicpb.Message, error) {
	return c.clientStream(ctx, catalogMethod(AddStock), reqs, c.schema.Catalog.StockSummary)
}

// Reserve makes the catalog's bidi call, one result read after each
// reservation sent.
func (c *Client) Reserve(ctx context.Context, reqs []*dynamicpb.Message) ([]*dynamicpb.Message, error) {
	return c.bidi(ctx, catalogMethod(Reserve), reqs, c.schema.Catalog.ReservationResult)
}

func (c *Client) unary(ctx context.Context, path string, req *dynamicpb.Message, reply protoreflect.MessageDescriptor) (*dynamicpb.Message, error) {
	m := dynamicpb.NewMessage(reply)
	if err := c.cc.Invoke(ctx, path, req, m, c.opts...); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Client) serverStream(ctx context.Context, path string, req *dynamicpb.Message, reply protoreflect.MessageDescriptor) ([]*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, path, c.opts...)
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return readAll(st, reply)
}

func (c *Client) clientStream(ctx context.Context, path string, reqs []*dynamicpb.Message, reply protoreflect.MessageDescriptor) (*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, path, c.opts...)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := st.SendMsg(r); err != nil {
			break // the status comes with RecvMsg
		}
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(reply)
	if err := st.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Client) bidi(ctx context.Context, path string, reqs []*dynamicpb.Message, reply protoreflect.MessageDescriptor) ([]*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, path, c.opts...)
	if err != nil {
		return nil, err
	}
	var replies []*dynamicpb.Message
	for _, r := range reqs {
		if err := st.SendMsg(r); err != nil {
			break
		}
		m := dynamicpb.NewMessage(reply)
		if err := st.RecvMsg(m); err != nil {
			return replies, err
		}
		replies = append(replies, m)
	}
	if err := st.CloseSend(); err != nil {
		return replies, err
	}
	rest, err := readAll(st, reply)
	return append(replies, rest...), err
}

func readAll(st grpc.ClientStream, reply protoreflect.MessageDescriptor) ([]*dynamicpb.Message, error) {
	var replies []*dynamicpb.Message
	for {
		m := dynamicpb.NewMessage(reply)
		err := st.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			return replies, nil
		}
		if err != nil {
			// Unwrapped: callers read the call's status from it.
			return replies, err
		}
		replies = append(replies, m)
	}
}
