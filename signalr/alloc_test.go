//go:build !race

// The race detector allocates on its own, so these tests run only without it.

package signalr

import (
	"context"
	"io"
	"testing"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// discardConn accepts writes without copying them, so that allocation
// counts measure the client alone.
type discardConn struct{ closed chan struct{} }

func (d *discardConn) ReadMessage() (protocol.TransferFormat, []byte, error) {
	<-d.closed
	return 0, nil, io.EOF
}
func (d *discardConn) WriteMessage(ctx context.Context, p []byte) error { return nil }
func (d *discardConn) Close() error                                     { return nil }

// startDiscardClient returns a client of the hub protocol proto whose
// connection writes nowhere and reads nothing; tests feed it messages
// through the framer.
func startDiscardClient(t *testing.T, proto protocol.HubProtocol) (*Client, *connection) {
	t.Helper()
	c := NewClient("http://127.0.0.1/hub", Config{Protocol: proto, KeepAliveInterval: -1, ServerTimeout: -1})
	dc := &discardConn{closed: make(chan struct{})}
	conn := newConnection(c, dc, "alloc")
	c.conn, c.run = conn, newRun()
	conn.wg.Add(1)
	go conn.handlers.run()
	t.Cleanup(func() {
		close(dc.closed)
		conn.fail(nil)
		conn.wg.Wait()
	})
	return c, conn
}

// allocCase is a hub protocol with the arguments 1234567, "hello, world"
// and {"id":"U-abc"} encoded in it.
type allocCase struct {
	proto protocol.HubProtocol
	args  []protocol.RawValue
}

var allocCases = []allocCase{
	{protocol.JSON{}, []protocol.RawValue{
		protocol.RawValue(`1234567`),
		protocol.RawValue(`"hello, world"`),
		protocol.RawValue(`{"id":"U-abc"}`),
	}},
	{protocol.MessagePack{}, []protocol.RawValue{
		{0xce, 0x00, 0x12, 0xd6, 0x87},
		protocol.RawValue("\xachello, world"),
		protocol.RawValue("\x81\xa2id\xa5U-abc"),
	}},
}

func TestSendAllocs(t *testing.T) {
	for _, tt := range allocCases {
		t.Run(tt.proto.Name(), func(t *testing.T) {
			c, _ := startDiscardClient(t, tt.proto)
			args := make([]any, len(tt.args))
			for i, a := range tt.args {
				args[i] = a
			}
			ctx := context.Background()
			send := func() {
				if err := c.Send(ctx, "SendMessage", args...); err != nil {
					t.Fatal(err)
				}
			}
			send()
			if n := testing.AllocsPerRun(1000, send); n != 0 {
				t.Errorf("Send with pre-encoded arguments: %v allocations; want 0", n)
			}
		})
	}
}

func TestReceiveInvocationAllocs(t *testing.T) {
	for _, tt := range allocCases {
		t.Run(tt.proto.Name(), func(t *testing.T) {
			c, conn := startDiscardClient(t, tt.proto)
			handled := make(chan struct{}, 1)
			var got int
			c.On("Tick", func(ctx context.Context, inv *Invocation) (any, error) {
				got += len(inv.Arguments[0])
				handled <- struct{}{}
				return nil, nil
			})
			m := protocol.Message{Type: protocol.TypeInvocation, Target: "Tick", Arguments: tt.args}
			message, err := tt.proto.AppendMessage(nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			receive := func() {
				if err := conn.framer.Feed(message); err != nil {
					t.Fatal(err)
				}
				if err := conn.drainFramer(); err != nil {
					t.Fatal(err)
				}
				<-handled
			}
			receive()
			if got != len(tt.args[0]) {
				t.Fatalf("handler saw a first argument of %d bytes; want %d", got, len(tt.args[0]))
			}
			if n := testing.AllocsPerRun(1000, receive); n != 0 {
				t.Errorf("receiving an Invocation and running its handler: %v allocations; want 0", n)
			}
		})
	}
}

// answerConn replies to every Invocation it writes with a Completion whose
// result is 3, fed straight into the client's read path.
type answerConn struct {
	discardConn
	t    *testing.T
	conn *connection
	msg  protocol.Message
	buf  []byte
}

func (a *answerConn) WriteMessage(ctx context.Context, p []byte) error {
	rec, _, ok := protocol.SplitRecord(p)
	if !ok {
		return nil
	}
	if err := (protocol.JSON{}).ParseMessage(rec, &a.msg); err != nil || a.msg.Type != protocol.TypeInvocation {
		return err
	}
	a.buf = append(a.buf[:0], `{"type":3,"invocationId":"`...)
	a.buf = append(a.buf, a.msg.InvocationID...)
	a.buf = append(a.buf, `","result":3}`+"\x1e"...)
	if err := a.conn.framer.Feed(a.buf); err != nil {
		return err
	}
	return a.conn.drainFramer()
}

func TestInvokeAllocs(t *testing.T) {
	c := NewClient("http://127.0.0.1/hub", Config{KeepAliveInterval: -1, ServerTimeout: -1})
	ac := &answerConn{discardConn: discardConn{closed: make(chan struct{})}, t: t}
	conn := newConnection(c, ac, "alloc")
	ac.conn = conn
	c.conn, c.run = conn, newRun()
	t.Cleanup(func() { conn.fail(nil) })

	args := []any{protocol.RawValue(`1`), protocol.RawValue(`2`)}
	ctx := context.Background()
	var result protocol.RawValue
	invoke := func() {
		if err := c.Invoke(ctx, "Add", &result, args...); err != nil {
			t.Fatal(err)
		}
	}
	invoke()
	if string(result) != "3" {
		t.Fatalf("result = %s; want 3", result)
	}
	n := testing.AllocsPerRun(1000, invoke)
	t.Logf("Invoke: %v allocations per call", n)
	if n > 2 {
		t.Errorf("Invoke with pre-encoded arguments and a raw result: %v allocations; want at most 2", n)
	}
}
