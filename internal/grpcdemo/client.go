package grpcdemo

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Client calls the greeter over a connection.
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

// SayHello makes a unary call.
func (c *Client) SayHello(ctx context.Context, req *dynamicpb.Message) (*dynamicpb.Message, error) {
	reply := dynamicpb.NewMessage(c.schema.Reply)
	if err := c.cc.Invoke(ctx, method(SayHello), req, reply, c.opts...); err != nil {
		return nil, err
	}
	return reply, nil
}

// StreamReplies makes a server-streaming call and reads every reply. On
// error, the replies read before it are returned with it.
func (c *Client) StreamReplies(ctx context.Context, req *dynamicpb.Message) ([]*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{StreamName: StreamReplies, ServerStreams: true}, method(StreamReplies), c.opts...)
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return c.readAll(st)
}

// CollectNames makes a client-streaming call.
func (c *Client) CollectNames(ctx context.Context, reqs []*dynamicpb.Message) (*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{StreamName: CollectNames, ClientStreams: true}, method(CollectNames), c.opts...)
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
	reply := dynamicpb.NewMessage(c.schema.Reply)
	if err := st.RecvMsg(reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// Chat makes a bidi call, one reply read after each request sent.
func (c *Client) Chat(ctx context.Context, reqs []*dynamicpb.Message) ([]*dynamicpb.Message, error) {
	st, err := c.cc.NewStream(ctx, &grpc.StreamDesc{StreamName: Chat, ServerStreams: true, ClientStreams: true}, method(Chat), c.opts...)
	if err != nil {
		return nil, err
	}
	var replies []*dynamicpb.Message
	for _, r := range reqs {
		if err := st.SendMsg(r); err != nil {
			break
		}
		reply := dynamicpb.NewMessage(c.schema.Reply)
		if err := st.RecvMsg(reply); err != nil {
			return replies, err
		}
		replies = append(replies, reply)
	}
	if err := st.CloseSend(); err != nil {
		return replies, err
	}
	rest, err := c.readAll(st)
	return append(replies, rest...), err
}

func (c *Client) readAll(st grpc.ClientStream) ([]*dynamicpb.Message, error) {
	var replies []*dynamicpb.Message
	for {
		reply := dynamicpb.NewMessage(c.schema.Reply)
		err := st.RecvMsg(reply)
		if errors.Is(err, io.EOF) {
			return replies, nil
		}
		if err != nil {
			// Unwrapped: callers read the call's status from it.
			return replies, err
		}
		replies = append(replies, reply)
	}
}
