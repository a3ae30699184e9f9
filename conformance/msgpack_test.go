package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// messagePack is the MessagePack hub protocol the tests speak.
var messagePack protocol.MessagePack

// A messagePackClient speaks the MessagePack hub protocol over a rawClient.
type messagePackClient struct {
	*rawClient
	framer protocol.Framer // splits the Binary messages of the server
}

// dialMessagePack connects a raw client to the hub for the MessagePack
// protocol. It does not send the handshake.
func dialMessagePack(t testing.TB, hubURL string) *messagePackClient {
	t.Helper()
	return &messagePackClient{
		rawClient: dialRaw(t, hubURL, nil),
		framer:    protocol.Framer{Format: protocol.TransferFormatBinary, MaxMessageSize: -1},
	}
}

// connectMessagePack starts a server with opts, connects an messagePackClient and
// completes the handshake.
func connectMessagePack(t *testing.T, opts Options) (*Server, *messagePackClient) {
	t.Helper()
	srv := startServer(t, opts)
	c := dialMessagePack(t, srv.HubURL())
	if op := c.handshake(); op != ws.OpBinary {
		t.Fatalf("handshake response in a %v message; want Binary", op)
	}
	return srv, c
}

// handshake sends the MessagePack handshake request in a Text message, as
// the JavaScript client does, and expects a successful response. It returns
// the frame type of the response. Hub messages that share the response's
// WebSocket message are kept for nextMessage.
func (c *messagePackClient) handshake() ws.OpCode {
	c.t.Helper()
	c.sendRecord(`{"protocol":"messagepack","version":1}`)
	op, payload, err := c.readMessage()
	if err != nil {
		c.t.Fatalf("reading the handshake response: %v", err)
	}
	record, rest, ok := protocol.SplitRecord(payload)
	if !ok || string(record) != "{}" {
		c.t.Fatalf("handshake response = %q; want {}\\x1e", payload)
	}
	if err := c.framer.Feed(bytes.Clone(rest)); err != nil {
		c.t.Fatal(err)
	}
	return op
}

// sendMessage sends m in one Binary message.
func (c *messagePackClient) sendMessage(m *protocol.Message) {
	c.t.Helper()
	data, err := messagePack.AppendMessage(nil, m)
	if err != nil {
		c.t.Fatalf("encoding %v: %v", m.Type, err)
	}
	c.sendFrame(ws.OpBinary, true, data)
}

// invoke sends an Invocation or StreamInvocation with the arguments
// encoded by the MessagePack protocol. A protocol.RawValue argument is sent
// as it is.
func (c *messagePackClient) invoke(typ protocol.MessageType, id, target string, args ...any) {
	c.t.Helper()
	m := &protocol.Message{Type: typ, InvocationID: id, Target: target, Arguments: []protocol.RawValue{}}
	for _, a := range args {
		raw, ok := a.(protocol.RawValue)
		if !ok {
			raw = packValue(c.t, a)
		}
		m.Arguments = append(m.Arguments, raw)
	}
	c.sendMessage(m)
}

// tryNextMessage returns the next hub message from the server, Pings
// included. Every WebSocket message it reads must be a Binary one.
func (c *messagePackClient) tryNextMessage() (*protocol.Message, error) {
	for {
		payload, err := c.framer.Next()
		if err != nil {
			return nil, err
		}
		if payload != nil {
			var m protocol.Message
			if err := messagePack.ParseMessage(payload, &m); err != nil {
				return nil, errors.New("parsing " + strconv.Quote(string(payload)) + ": " + err.Error())
			}
			return m.Clone(), nil
		}
		op, data, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		if op != ws.OpBinary {
			return nil, fmt.Errorf("hub message in a WebSocket message of opcode %v; want Binary", op)
		}
		if err := c.framer.Feed(data); err != nil {
			return nil, err
		}
	}
}

// nextMessage returns the next hub message that is not a Ping.
func (c *messagePackClient) nextMessage() *protocol.Message {
	c.t.Helper()
	for {
		m, err := c.tryNextMessage()
		if err != nil {
			c.t.Fatalf("reading a hub message: %v", err)
		}
		if m.Type != protocol.TypePing {
			return m
		}
	}
}

// expectMessage reads the next hub message that is not a Ping and compares
// its encoding with the encoding of want.
func (c *messagePackClient) expectMessage(want *protocol.Message) {
	c.t.Helper()
	got := c.nextMessage()
	gotBytes, err1 := messagePack.AppendMessage(nil, got)
	wantBytes, err2 := messagePack.AppendMessage(nil, want)
	if err1 != nil || err2 != nil {
		c.t.Fatalf("encoding the messages: %v, %v", err1, err2)
	}
	if !bytes.Equal(gotBytes, wantBytes) {
		c.t.Fatalf("message = %q; want %q", gotBytes, wantBytes)
	}
}

// expectServerClosed reads until the server closes the WebSocket and fails
// the test when a hub message other than a Ping arrives first.
func (c *messagePackClient) expectServerClosed() {
	c.t.Helper()
	for {
		m, err := c.tryNextMessage()
		if errors.Is(err, errServerClosedWebSocket) || errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.t.Fatalf("waiting for the server to close: %v", err)
		}
		if m.Type != protocol.TypePing {
			c.t.Fatalf("%v arrived where the server should close", m.Type)
		}
	}
}

// packValue encodes v with the MessagePack protocol.
func packValue(t testing.TB, v any) protocol.RawValue {
	t.Helper()
	raw, err := messagePack.AppendValue(nil, v)
	if err != nil {
		t.Fatalf("encoding %v: %v", v, err)
	}
	return raw
}

func completion(id string, result any, t testing.TB) *protocol.Message {
	return &protocol.Message{Type: protocol.TypeCompletion, InvocationID: id, Result: packValue(t, result), HasResult: true}
}

func errorCompletion(id, text string) *protocol.Message {
	return &protocol.Message{Type: protocol.TypeCompletion, InvocationID: id, Error: text, HasError: true}
}

func voidCompletion(id string) *protocol.Message {
	return &protocol.Message{Type: protocol.TypeCompletion, InvocationID: id}
}

func TestMessagePackHandshakeFrameType(t *testing.T) {
	tests := []struct {
		name   string
		format protocol.TransferFormat
		want   ws.OpCode
	}{
		{"default", 0, ws.OpBinary},
		{"Text", protocol.TransferFormatText, ws.OpText},
		{"Binary", protocol.TransferFormatBinary, ws.OpBinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, Options{Misbehave: Misbehavior{HandshakeFormat: tt.format}})
			c := dialMessagePack(t, srv.HubURL())
			if op := c.handshake(); op != tt.want {
				t.Errorf("handshake response in a %v message; want %v", op, tt.want)
			}
			// Hub messages are Binary whatever the handshake response was.
			c.invoke(protocol.TypeInvocation, "1", "Add", 1, 2)
			c.expectMessage(completion("1", 3, t))
		})
	}
}

func TestMessagePackHandshakeFormatWithJSON(t *testing.T) {
	srv := startServer(t, Options{Misbehave: Misbehavior{HandshakeFormat: protocol.TransferFormatBinary}})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"json","version":1}`)
	op, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if op != ws.OpBinary || string(payload) != "{}\x1e" {
		t.Errorf("handshake response = %v %q; want Binary {}\\x1e", op, payload)
	}
	c.sendRecord(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`)
	if op, payload, err := c.readMessage(); err != nil || op != ws.OpText {
		t.Errorf("Completion = %v %q, %v; want a Text message", op, payload, err)
	}
}

func TestMessagePackHandshakeFailureIsText(t *testing.T) {
	srv := startServer(t, Options{})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"messagepack","version":3}`)
	op, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":"The server does not support version 3 of the 'messagepack' protocol."}` + "\x1e"
	if op != ws.OpText || string(payload) != want {
		t.Errorf("response = %v %q; want Text %q", op, payload, want)
	}
	c.expectClosed()
}

func TestMessagePackHandshakeWithFirstMessage(t *testing.T) {
	srv := startServer(t, Options{})
	c := dialMessagePack(t, srv.HubURL())
	invocation, err := messagePack.AppendMessage(nil, &protocol.Message{
		Type: protocol.TypeInvocation, InvocationID: "1", Target: "Add",
		Arguments: []protocol.RawValue{packValue(t, 2), packValue(t, 3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.sendFrame(ws.OpBinary, true, append([]byte(`{"protocol":"messagepack","version":1}`+"\x1e"), invocation...))
	op, payload, err := c.readMessage()
	if err != nil || op != ws.OpBinary || string(payload) != "{}\x1e" {
		t.Fatalf("handshake response = %v %q, %v; want Binary {}\\x1e", op, payload, err)
	}
	c.expectMessage(completion("1", 5, t))
}

func TestMessagePackSingleResultMethods(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	echoed := protocol.RawValue("\x82\xa1b\x93\x01\xcb\x40\x04\x00\x00\x00\x00\x00\x00\xc0\xa1t\xd7\xff\x00\x00\x00\x00\x00\x00\x00\x01")
	tests := []struct {
		name   string
		target string
		args   []protocol.RawValue
		want   *protocol.Message
	}{
		{"Echo keeps bytes", "Echo", []protocol.RawValue{echoed},
			&protocol.Message{Type: protocol.TypeCompletion, Result: echoed, HasResult: true}},
		{"Echo binary", "Echo", []protocol.RawValue{packValue(t, []byte{0, 1, 0xff})},
			&protocol.Message{Type: protocol.TypeCompletion, Result: protocol.RawValue{0xc4, 3, 0, 1, 0xff}, HasResult: true}},
		{"Add", "Add", []protocol.RawValue{packValue(t, 40), packValue(t, 2)}, completion("", 42, t)},
		{"Add negative and wide", "Add", []protocol.RawValue{{0xd2, 0xff, 0xff, 0xff, 0xf6}, {0xcd, 0x01, 0x00}},
			&protocol.Message{Type: protocol.TypeCompletion, Result: protocol.RawValue{0xcc, 0xf6}, HasResult: true}},
		{"Fail", "Fail", []protocol.RawValue{packValue(t, `it "broke"`)}, errorCompletion("", `it "broke"`)},
		{"Void", "Void", []protocol.RawValue{}, voidCompletion("")},
		{"unknown method", "Nope", []protocol.RawValue{}, errorCompletion("", "Unknown hub method 'Nope'")},
		{"too few arguments", "Add", []protocol.RawValue{packValue(t, 1)}, errorCompletion("",
			"Failed to invoke 'Add' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2.")},
		{"wrong argument type", "Add", []protocol.RawValue{packValue(t, "one"), packValue(t, 2)}, errorCompletion("",
			"Failed to invoke 'Add' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.")},
		{"streaming method with Invocation", "Counter", []protocol.RawValue{packValue(t, 1), packValue(t, 0)}, errorCompletion("",
			"The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation.")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := strconv.Itoa(i + 1)
			c.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: id, Target: tt.target, Arguments: tt.args})
			want := *tt.want
			want.InvocationID = id
			c.expectMessage(&want)
		})
	}
}

func TestMessagePackNonBlockingInvocation(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	// An Invocation with a nil id gets no Completion, not even an error.
	c.invoke(protocol.TypeInvocation, "", "Nope")
	c.invoke(protocol.TypeInvocation, "", "Add", 1, 2)
	c.invoke(protocol.TypeInvocation, "1", "Void")
	c.expectMessage(voidCompletion("1"))
}

func TestMessagePackExactCompletionBytes(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.invoke(protocol.TypeInvocation, "0", "Add", 40, 2)
	_, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	// [3, {}, "0", 3, 42] with its length prefix, as the .NET server
	// writes it.
	if want := "\x07\x95\x03\x80\xa10\x03\x2a"; string(payload) != want {
		t.Errorf("Completion = %q; want %q", payload, want)
	}
}

func TestMessagePackCounter(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.invoke(protocol.TypeStreamInvocation, "s", "Counter", 3, 0)
	for i := range 3 {
		c.expectMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "s", Item: packValue(t, i)})
	}
	c.expectMessage(voidCompletion("s"))

	c.invoke(protocol.TypeStreamInvocation, "v", "Void")
	c.expectMessage(errorCompletion("v", "The client attempted to invoke the non-streaming 'Void' method with a streaming invocation."))
}

func TestMessagePackCounterCancel(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.invoke(protocol.TypeStreamInvocation, "s", "Counter", 100000, 5)
	c.expectMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "s", Item: packValue(t, 0)})
	c.sendMessage(&protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: "s"})
	for {
		m := c.nextMessage()
		if m.Type == protocol.TypeStreamItem {
			continue
		}
		if m.Type != protocol.TypeCompletion || m.InvocationID != "s" || m.HasError || m.HasResult {
			t.Fatalf("message = %+v; want a void Completion after the cancel", m)
		}
		break
	}
	c.invoke(protocol.TypeInvocation, "1", "Void")
	c.expectMessage(voidCompletion("1"))
}

func TestMessagePackSum(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Sum", StreamIDs: []string{"a"}})
	for n := 1; n <= 4; n++ {
		c.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "a", Item: packValue(t, n)})
	}
	c.sendMessage(voidCompletion("a"))
	c.expectMessage(completion("1", 10, t))

	c.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "2", Target: "Sum", StreamIDs: []string{"b"}})
	c.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "b", Item: packValue(t, 1)})
	c.sendMessage(errorCompletion("b", "client stream failed"))
	c.expectMessage(errorCompletion("2", "client stream failed"))

	// Several hub messages in one WebSocket message.
	c.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "3", Target: "Sum", StreamIDs: []string{"c"}})
	var batch []byte
	want := 0
	for i := range 100 {
		var err error
		batch, err = messagePack.AppendMessage(batch, &protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "c", Item: packValue(t, i)})
		if err != nil {
			t.Fatal(err)
		}
		want += i
	}
	batch, _ = messagePack.AppendMessage(batch, voidCompletion("c"))
	c.sendFrame(ws.OpBinary, true, batch)
	c.expectMessage(completion("3", want, t))
}

func TestMessagePackCallMe(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	arg := packValue(t, map[string]int{"k": 1})

	c.invoke(protocol.TypeInvocation, "1", "CallMe", "Notify", arg, false)
	c.expectMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Notify", Arguments: []protocol.RawValue{arg}})
	c.expectMessage(completion("1", nil, t))

	c.invoke(protocol.TypeInvocation, "2", "CallMe", "Ask", "question", true)
	c.expectMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Ask", Arguments: []protocol.RawValue{packValue(t, "question")}})
	c.sendMessage(completion("1", "answer", t))
	c.expectMessage(completion("2", "answer", t))

	c.invoke(protocol.TypeInvocation, "3", "CallMe", "Ask", 1, true)
	c.expectMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "2", Target: "Ask", Arguments: []protocol.RawValue{packValue(t, 1)}})
	c.sendMessage(errorCompletion("2", "Client didn't provide a result."))
	c.expectMessage(errorCompletion("3", "Client didn't provide a result."))

	c.invoke(protocol.TypeInvocation, "4", "CallMe", "Ask", 1, true)
	c.nextMessage()
	c.sendMessage(voidCompletion("3"))
	c.expectMessage(completion("4", nil, t))
}

func TestMessagePackCloseMe(t *testing.T) {
	tests := []struct {
		name           string
		text           string
		allowReconnect bool
		want           string
	}{
		{"error and reconnect", "going away", true, "\x0e\x93\x07\xaagoing away\xc3"},
		{"plain", "", false, "\x04\x93\x07\xc0\xc2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := connectMessagePack(t, Options{})
			c.invoke(protocol.TypeInvocation, "1", "CloseMe", tt.text, tt.allowReconnect)
			op, payload, err := c.readMessage()
			if err != nil {
				t.Fatal(err)
			}
			if op != ws.OpBinary || string(payload) != tt.want {
				t.Errorf("Close = %v %q; want Binary %q", op, payload, tt.want)
			}
			c.expectServerClosed()
		})
	}
}

func TestMessagePackBig(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.invoke(protocol.TypeInvocation, "1", "Big", 100000)
	m := c.nextMessage()
	var s string
	if err := messagePack.Unmarshal(m.Result, &s); err != nil || s != strings.Repeat("x", 100000) {
		t.Errorf("Big(100000) = %d bytes, %v; want 100000 times x", len(s), err)
	}
}

func TestMessagePackMalformedMessages(t *testing.T) {
	const prefix = "Connection closed with an error. InvalidDataException: "
	tests := []struct {
		name    string
		payload string // without the length prefix
		want    string
	}{
		{"not an array", "\x01", prefix + "signalr/protocol: property has the wrong type"},
		{"array shorter than its header", "\x95\x01\x80", prefix + "signalr/protocol: invalid MessagePack"},
		{"array too short", "\x93\x03\x80\xa11", prefix + "signalr/protocol: missing required property"},
		{"type as string", "\x91\xa11", prefix + "signalr/protocol: property has the wrong type"},
		{"invalid byte as invocation id", "\x95\x01\x80\xc1", prefix + "signalr/protocol: invalid MessagePack"},
		{"invalid byte in arguments", "\x96\x01\x80\xc0\xa1A\x91\xc1\x90", prefix + "signalr/protocol: invalid MessagePack"},
		{"bytes after the array", "\x91\x06\x00", prefix + "signalr/protocol: invalid message"},
		{"empty", "", prefix + "signalr/protocol: invalid message"},
		{"string cut off", "\x95\x01\x80\xa5ab", prefix + "signalr/protocol: invalid MessagePack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := connectMessagePack(t, Options{})
			c.sendFrame(ws.OpBinary, true, protocol.AppendFrame(nil, []byte(tt.payload)))
			m := c.nextMessage()
			if m.Type != protocol.TypeClose || !m.HasError || !strings.HasPrefix(m.Error, tt.want) || m.AllowReconnect {
				t.Errorf("got %v (error %q, allowReconnect %v); want a Close with an error starting with %q", m.Type, m.Error, m.AllowReconnect, tt.want)
			}
			c.expectServerClosed()
		})
	}
}

func TestMessagePackInvalidLengthPrefix(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.sendFrame(ws.OpBinary, true, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	if m := c.nextMessage(); m.Type != protocol.TypeClose || !m.HasError {
		t.Errorf("message = %+v; want a Close with an error", m)
	}
	c.expectServerClosed()
}

func TestMessagePackMaxReceiveMessageSize(t *testing.T) {
	_, c := connectMessagePack(t, Options{MaxReceiveMessageSize: 100})
	c.invoke(protocol.TypeInvocation, "1", "Echo", strings.Repeat("x", 200))
	m := c.nextMessage()
	want := "Connection closed with an error. InvalidDataException: The maximum message size of 100B was exceeded."
	if m.Type != protocol.TypeClose || !strings.HasPrefix(m.Error, want) {
		t.Errorf("message = %+v; want a Close starting with %q", m, want)
	}
	c.expectServerClosed()
}

func TestMessagePackUnknownTypesIgnored(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	c.sendFrame(ws.OpBinary, true, []byte("\x05\x93\x63\x91\x01\x80"))
	c.sendFrame(ws.OpBinary, true, []byte("\x03\x92\x08\x03"))
	c.invoke(protocol.TypeInvocation, "1", "Void")
	c.expectMessage(voidCompletion("1"))
}

func TestMessagePackClientClose(t *testing.T) {
	_, c := connectMessagePack(t, Options{})
	// The JavaScript client's Close, [7, nil], without allowReconnect.
	c.sendFrame(ws.OpBinary, true, []byte("\x03\x92\x07\xc0"))
	c.expectServerClosed()
}

func TestMessagePackKeepAlive(t *testing.T) {
	_, c := connectMessagePack(t, Options{KeepAliveInterval: 10 * time.Millisecond})
	m, err := c.tryNextMessage()
	if err != nil || m.Type != protocol.TypePing {
		t.Fatalf("message = %+v, %v; want a Ping", m, err)
	}
}

func TestMessagePackClientTimeout(t *testing.T) {
	_, c := connectMessagePack(t, Options{ClientTimeout: 50 * time.Millisecond})
	m := c.nextMessage()
	if m.Type != protocol.TypeClose || !m.AllowReconnect || !strings.Contains(m.Error, "Client timeout (50ms) elapsed") {
		t.Errorf("message = %+v; want the Close of the client timeout", m)
	}
	c.expectServerClosed()
}

func TestMessagePackMisbehaveSplitFrames(t *testing.T) {
	_, c := connectMessagePack(t, Options{Misbehave: Misbehavior{SplitFrames: 3}})
	c.invoke(protocol.TypeInvocation, "1", "Add", 1, 2)
	c.expectMessage(completion("1", 3, t))
	wantOps := []ws.OpCode{ws.OpBinary, ws.OpContinuation, ws.OpContinuation}
	if len(c.frames) != len(wantOps) {
		t.Fatalf("message came in %d frames; want 3", len(c.frames))
	}
	for i, f := range c.frames {
		if f.op != wantOps[i] || f.fin != (i == 2) {
			t.Errorf("frame %d: op %v fin %v; want op %v fin %v", i, f.op, f.fin, wantOps[i], i == 2)
		}
	}
}

func TestMessagePackMisbehaveBatchMessages(t *testing.T) {
	_, c := connectMessagePack(t, Options{Misbehave: Misbehavior{BatchMessages: 3, BatchDelay: time.Second}})
	c.invoke(protocol.TypeStreamInvocation, "s", "Counter", 5, 0)
	var want []byte
	for i := range 5 {
		want, _ = messagePack.AppendMessage(want, &protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "s", Item: packValue(t, i)})
	}
	want, _ = messagePack.AppendMessage(want, voidCompletion("s"))
	var got [][]byte
	var total []byte
	for len(total) < len(want) {
		op, payload, err := c.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		if op != ws.OpBinary {
			t.Fatalf("batch in a %v message; want Binary", op)
		}
		got = append(got, payload)
		total = append(total, payload...)
	}
	if !bytes.Equal(total, want) {
		t.Fatalf("messages = %q; want the hub messages %q", got, want)
	}
	if len(got) != 2 {
		t.Errorf("six hub messages came in %d WebSocket messages; want 2: %q", len(got), got)
	}
}

func TestMessagePackMisbehaveCoalesceHandshake(t *testing.T) {
	for _, format := range []protocol.TransferFormat{0, protocol.TransferFormatText} {
		t.Run("HandshakeFormat="+strconv.Itoa(int(format)), func(t *testing.T) {
			srv := startServer(t, Options{
				Misbehave: Misbehavior{CoalesceHandshake: true, HandshakeFormat: format},
				OnConnected: func(conn *Conn) {
					conn.Send(context.Background(), "Welcome", "hi")
				},
			})
			c := dialMessagePack(t, srv.HubURL())
			c.sendRecord(`{"protocol":"messagepack","version":1}`)
			op, payload, err := c.readMessage()
			if err != nil {
				t.Fatal(err)
			}
			want := "{}\x1e" + "\x02\x91\x06" + "\x11\x96\x01\x80\xc0\xa7Welcome\x91\xa2hi\x90"
			if op != ws.OpBinary || string(payload) != want {
				t.Errorf("first message = %v %q; want Binary %q", op, payload, want)
			}
		})
	}
}

func TestMessagePackMisbehaveUnknownTypeBeforeEach(t *testing.T) {
	_, c := connectMessagePack(t, Options{Misbehave: Misbehavior{UnknownTypeBeforeEach: true}})
	c.invoke(protocol.TypeInvocation, "1", "Add", 1, 2)
	_, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x02\x91\x63" + "\x07\x95\x03\x80\xa11\x03\x03"; string(payload) != want {
		t.Errorf("message = %q; want %q", payload, want)
	}
}

func TestMessagePackMisbehaveStrayCompletions(t *testing.T) {
	_, c := connectMessagePack(t, Options{Misbehave: Misbehavior{StrayCompletions: true}})
	for i := 1; i <= 2; i++ {
		id := strconv.Itoa(i)
		c.invoke(protocol.TypeInvocation, id, "Void")
		c.expectMessage(voidCompletion("stray-" + id))
		c.expectMessage(voidCompletion(id))
	}
}

func TestMessagePackMisbehavePingDelay(t *testing.T) {
	const interval, delay = 20 * time.Millisecond, 150 * time.Millisecond
	_, c := connectMessagePack(t, Options{KeepAliveInterval: interval, Misbehave: Misbehavior{PingDelay: delay}})
	start := time.Now()
	m, err := c.tryNextMessage()
	if err != nil || m.Type != protocol.TypePing {
		t.Fatalf("message = %+v, %v; want a Ping", m, err)
	}
	// The margin covers the time between the handshake response and start.
	if elapsed := time.Since(start); elapsed < interval+delay-50*time.Millisecond {
		t.Errorf("Ping came %v after the handshake; want at least %v", elapsed, interval+delay-50*time.Millisecond)
	}
}

func TestMessagePackMisbehaveDropPings(t *testing.T) {
	_, c := connectMessagePack(t, Options{
		KeepAliveInterval: 10 * time.Millisecond,
		ClientTimeout:     200 * time.Millisecond,
		Misbehave:         Misbehavior{DropPings: true},
	})
	m, err := c.tryNextMessage()
	if err != nil || m.Type != protocol.TypeClose {
		t.Errorf("message = %+v, %v; want the Close of the client timeout and no Ping before it", m, err)
	}
}

func TestMessagePackMisbehaveCombined(t *testing.T) {
	_, c := connectMessagePack(t, Options{Misbehave: Misbehavior{
		SplitFrames:           2,
		BatchMessages:         4,
		BatchDelay:            time.Second,
		UnknownTypeBeforeEach: true,
		StrayCompletions:      true,
	}})
	c.invoke(protocol.TypeInvocation, "1", "Void")
	c.invoke(protocol.TypeInvocation, "2", "Void")
	var want []byte
	for _, id := range []string{"1", "2"} {
		want = append(want, unknownTypeMessagePack...)
		want, _ = messagePack.AppendMessage(want, voidCompletion("stray-"+id))
		want, _ = messagePack.AppendMessage(want, voidCompletion(id))
	}
	op, payload, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if op != ws.OpBinary || !bytes.Equal(payload, want) {
		t.Errorf("message = %v %q; want Binary %q", op, payload, want)
	}
	if len(c.frames) != 2 {
		t.Errorf("message came in %d frames; want 2", len(c.frames))
	}
}

func TestMessagePackServerInvokeFromTest(t *testing.T) {
	connected := make(chan *Conn, 1)
	srv := startServer(t, Options{OnConnected: func(conn *Conn) { connected <- conn }})
	c := dialMessagePack(t, srv.HubURL())
	c.handshake()
	conn := <-connected
	if conn.Protocol().Name() != "messagepack" {
		t.Fatalf("Protocol = %s; want messagepack", conn.Protocol().Name())
	}

	type result struct {
		raw protocol.RawValue
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := conn.Invoke(context.Background(), "Ask", "q", 7)
		done <- result{raw, err}
	}()
	c.expectMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Ask",
		Arguments: []protocol.RawValue{packValue(t, "q"), packValue(t, 7)}})
	c.sendMessage(completion("1", []int{1, 2}, t))
	r := <-done
	var got []int
	if r.err != nil || messagePack.Unmarshal(r.raw, &got) != nil || len(got) != 2 || got[1] != 2 {
		t.Errorf("Invoke = %q, %v; want [1 2]", r.raw, r.err)
	}
}

func TestMessagePackRecordedCapture(t *testing.T) {
	captures := make(chan *Capture, 1)
	srv := startServer(t, Options{KeepAliveInterval: -1, Record: func(c *Capture) { captures <- c }})
	c := dialMessagePack(t, srv.HubURL()+"?scenario=add")
	c.handshake()
	c.invoke(protocol.TypeInvocation, "1", "Add", 1, 2)
	c.expectMessage(completion("1", 3, t))
	c.sendFrame(ws.OpBinary, true, []byte("\x03\x92\x07\xc0"))
	c.expectServerClosed()

	var capture *Capture
	select {
	case capture = <-captures:
	case <-time.After(readTimeout):
		t.Fatal("the server delivered no capture")
	}
	var buf bytes.Buffer
	if err := WriteCapture(&buf, capture); err != nil {
		t.Fatal(err)
	}
	want := `# hubwire-capture 1
# protocol: messagepack
# scenario: add
# client:
> text {"protocol":"messagepack","version":1}\x1e
< binary {}\x1e
> binary \x0d\x96\x01\x80\xa11\xa3Add\x92\x01\x02\x90
< binary \x07\x95\x03\x80\xa11\x03\x03
> binary \x03\x92\x07\xc0
`
	if got := buf.String(); got != want {
		t.Errorf("capture =\n%s\nwant\n%s", got, want)
	}
}

func TestMessagePackRecordDirNames(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, Options{KeepAliveInterval: -1, RecordDir: dir})
	for _, query := range []string{"?scenario=named", ""} {
		c := dialMessagePack(t, srv.HubURL()+query)
		c.handshake()
		c.sendMessage(&protocol.Message{Type: protocol.TypeClose})
		c.expectServerClosed()
	}
	jsonClient := dialRaw(t, srv.HubURL()+"?scenario=named", nil)
	jsonClient.handshake()
	jsonClient.sendRecord(`{"type":7}`)
	jsonClient.expectClosed()

	names := []string{"named.capture", "named.messagepack.capture", "session-1.messagepack.capture"}
	waitFor(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		return len(files) == len(names)
	})
	for _, name := range names {
		capture, err := ReadCaptureFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("reading %s: %v", name, err)
			continue
		}
		wantProtocol := "messagepack"
		if name == "named.capture" {
			wantProtocol = "json"
		}
		if capture.Protocol != wantProtocol {
			t.Errorf("%s: protocol %q; want %q", name, capture.Protocol, wantProtocol)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "session-1.capture")); err == nil {
		t.Error("a MessagePack session without a scenario was written as session-1.capture")
	}
}
