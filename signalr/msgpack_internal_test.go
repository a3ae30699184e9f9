package signalr

import (
	"context"
	"errors"
	"io"
	"testing"

	"pgregory.net/rapid"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// nullTransport reads nothing and discards writes.
type nullTransport struct{}

func (nullTransport) ReadMessage() (protocol.TransferFormat, []byte, error) {
	return 0, nil, io.EOF
}
func (nullTransport) WriteMessage(ctx context.Context, p []byte) error { return nil }
func (nullTransport) Close() error                                     { return nil }

// messagePackSamples returns one valid MessagePack body, without its length
// prefix, of each message type a server sends, and of an unknown type.
func messagePackSamples(t *testing.T) [][]byte {
	t.Helper()
	messages := []protocol.Message{
		{Type: protocol.TypeInvocation, InvocationID: "7", Target: "Tick", Arguments: []protocol.RawValue{{0x01}, {0xa1, 'x'}}},
		{Type: protocol.TypeInvocation, Target: "Tick", Headers: []protocol.Header{{Key: "k", Value: "v"}}},
		{Type: protocol.TypeStreamItem, InvocationID: "1", Item: protocol.RawValue{0x92, 0x01, 0xc0}},
		{Type: protocol.TypeCompletion, InvocationID: "1", Result: protocol.RawValue{0xc3}, HasResult: true},
		{Type: protocol.TypeCompletion, InvocationID: "2", Error: "failed", HasError: true},
		{Type: protocol.TypeCompletion, InvocationID: "3"},
		{Type: protocol.TypeCancelInvocation, InvocationID: "1"},
		{Type: protocol.TypePing},
		{Type: protocol.TypeClose, Error: "bye", HasError: true, AllowReconnect: true},
		{Type: protocol.TypeAck, SequenceID: 300},
		{Type: protocol.TypeSequence, SequenceID: 1},
	}
	var samples [][]byte
	for i := range messages {
		framed, err := protocol.MessagePack{}.AppendMessage(nil, &messages[i])
		if err != nil {
			t.Fatal(err)
		}
		_, n, _ := protocol.ConsumeVarint(framed)
		samples = append(samples, framed[n:])
	}
	return append(samples, []byte{0x93, 0x63, 0x91, 0x01, 0x80})
}

// TestMessagePackRandomServerInput feeds the read path of a MessagePack
// connection with valid, mutated and random messages, cut at random
// points. Every input must be handled or end the connection with a typed
// error, and none may panic.
func TestMessagePackRandomServerInput(t *testing.T) {
	samples := messagePackSamples(t)
	rapid.Check(t, func(rt *rapid.T) {
		c := NewClient("http://127.0.0.1/hub", Config{Protocol: protocol.MessagePack{}, KeepAliveInterval: -1, ServerTimeout: -1})
		conn := newConnection(c, nullTransport{}, "random")
		defer conn.handlers.close()

		var stream []byte
		for range rapid.IntRange(1, 6).Draw(rt, "messages") {
			var body []byte
			if rapid.Bool().Draw(rt, "random body") {
				body = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "body")
			} else {
				body = append([]byte(nil), rapid.SampledFrom(samples).Draw(rt, "sample")...)
				switch rapid.IntRange(0, 3).Draw(rt, "mutation") {
				case 1:
					i := rapid.IntRange(0, len(body)-1).Draw(rt, "index")
					body[i] = rapid.Byte().Draw(rt, "byte")
				case 2:
					body = body[:rapid.IntRange(0, len(body)).Draw(rt, "length")]
				case 3:
					i := rapid.IntRange(0, len(body)).Draw(rt, "index")
					body = append(body[:i:i], append([]byte{rapid.Byte().Draw(rt, "byte")}, body[i:]...)...)
				}
			}
			stream = protocol.AppendFrame(stream, body)
		}
		stream = append(stream, rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "tail")...)

		for len(stream) > 0 {
			n := rapid.IntRange(1, len(stream)).Draw(rt, "chunk")
			err := conn.framer.Feed(stream[:n])
			stream = stream[n:]
			if err == nil {
				err = conn.drainFramer()
			}
			if err == nil {
				continue
			}
			var messageErr *protocol.MessageError
			var closeErr *CloseError
			if !errors.As(err, &messageErr) && !errors.As(err, &closeErr) {
				rt.Fatalf("read path failed with %T %v; want a *protocol.MessageError or a *CloseError", err, err)
			}
			return
		}
	})
}
