package conformance

import (
	"bytes"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// runMessagePackSession runs the session of runSession in the MessagePack
// protocol: handshake, Add, a Counter stream, a Sum over a client stream,
// CallMe with a client result, and Close.
func runMessagePackSession(t *testing.T, c *messagePackClient, ids clientIDs) {
	t.Helper()
	c.handshake()

	c.invoke(protocol.TypeInvocation, ids.add, "Add", 1, 2)
	c.expectMessage(completion(ids.add, 3, t))

	c.invoke(protocol.TypeStreamInvocation, ids.counter, "Counter", 2, 0)
	c.expectMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: ids.counter, Item: packValue(t, 0)})
	c.expectMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: ids.counter, Item: packValue(t, 1)})
	c.expectMessage(voidCompletion(ids.counter))

	c.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: ids.sum, Target: "Sum", StreamIDs: []string{ids.stream}})
	c.sendMessage(&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: ids.stream, Item: packValue(t, 5)})
	c.sendMessage(voidCompletion(ids.stream))
	c.expectMessage(completion(ids.sum, 5, t))

	c.invoke(protocol.TypeInvocation, ids.callMe, "CallMe", "Ask", "q", true)
	c.expectMessage(&protocol.Message{Type: protocol.TypeInvocation, InvocationID: "1", Target: "Ask", Arguments: []protocol.RawValue{packValue(t, "q")}})
	c.sendMessage(completion("1", "a", t))
	c.expectMessage(completion(ids.callMe, "a", t))

	c.sendMessage(&protocol.Message{Type: protocol.TypeClose})
	c.expectServerClosed()
}

func TestReplayRenumberedIDsMessagePack(t *testing.T) {
	captures := make(chan *Capture, 1)
	srv := startServer(t, Options{KeepAliveInterval: -1, Record: func(c *Capture) { captures <- c }})
	runMessagePackSession(t, dialMessagePack(t, srv.HubURL()), recordedIDs)
	var capture *Capture
	select {
	case capture = <-captures:
	case <-time.After(readTimeout):
		t.Fatal("the server delivered no capture")
	}

	// The same ids replay byte for byte.
	replay := startReplay(t, capture, ReplayOptions{})
	runMessagePackSession(t, dialMessagePack(t, replay.HubURL()), recordedIDs)
	if err := waitReplay(t, replay); err != nil {
		t.Errorf("replay with the recorded ids: %v", err)
	}

	ids := NewInvocationIDMap()
	replay = startReplay(t, capture, ReplayOptions{Match: ids.Match, Rewrite: ids.Rewrite})
	renumbered := clientIDs{add: "a", counter: "b", sum: "c", stream: "d", callMe: "e"}
	runMessagePackSession(t, dialMessagePack(t, replay.HubURL()), renumbered)
	if err := waitReplay(t, replay); err != nil {
		t.Errorf("replay with the map: %v", err)
	}
}

// binaryMessage returns a Binary capture message of the hub messages,
// each written by the MessagePack protocol.
func binaryMessage(t *testing.T, dir Direction, messages ...*protocol.Message) Message {
	t.Helper()
	var data []byte
	for _, m := range messages {
		var err error
		if data, err = messagePack.AppendMessage(data, m); err != nil {
			t.Fatal(err)
		}
	}
	return Message{Direction: dir, Format: protocol.TransferFormatBinary, Data: data}
}

func TestInvocationIDMapMessagePack(t *testing.T) {
	add := func(id string) *protocol.Message {
		return &protocol.Message{Type: protocol.TypeInvocation, InvocationID: id, Target: "Add", Arguments: []protocol.RawValue{{0x28}, {0x02}}}
	}
	raw := func(data string) Message {
		return Message{Direction: ClientToServer, Format: protocol.TransferFormatBinary, Data: []byte(data)}
	}
	ids := NewInvocationIDMap()
	steps := []struct {
		name      string
		want, got Message
		match     bool
	}{
		{"new pair", binaryMessage(t, ClientToServer, add("0")), binaryMessage(t, ClientToServer, add("1")), true},
		{"paired id", binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: "0"}),
			binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: "1"}), true},
		{"recorded id where the paired one belongs", binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: "0"}),
			binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: "0"}), false},
		{"client id paired twice", binaryMessage(t, ClientToServer, add("5")), binaryMessage(t, ClientToServer, add("1")), false},
		{"other argument", binaryMessage(t, ClientToServer, add("6")),
			binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeInvocation, InvocationID: "7", Target: "Add", Arguments: []protocol.RawValue{{0x28}, {0x03}}}), false},
		// The JavaScript client writes an Invocation without stream IDs
		// and a Close without allowReconnect.
		{"older Invocation layout", raw("\x0c\x95\x01\x80\xa18\xa3Add\x92\x28\x02"), binaryMessage(t, ClientToServer, add("9")), true},
		{"older Close layout", raw("\x03\x92\x07\xc0"), binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeClose}), true},
		{"Close with another error", raw("\x03\x92\x07\xc0"), binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypeClose, Error: "x", HasError: true}), false},
		{"two messages", binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypePing}, add("10")),
			binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypePing}, add("11")), true},
		{"two messages against one", binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypePing}, add("12")),
			binaryMessage(t, ClientToServer, add("13")), false},
		{"unknown type", raw("\x02\x91\x63"), raw("\x02\x91\x63"), true},
		{"invalid MessagePack", raw("\x02\x91\xc1"), raw("\x02\x91\xc1"), true},
		{"different invalid MessagePack", raw("\x02\x91\xc1"), raw("\x02\x91\xc2"), false},
		{"same tail", raw("\x05\x91"), raw("\x05\x91"), true},
		{"different tail", raw("\x05\x91"), raw("\x05\x92"), false},
		{"handshake request", raw(`{"protocol":"messagepack","version":1}` + "\x1e"), raw(`{"protocol":"messagepack","version":1}` + "\x1e"), true},
		{"other handshake request", raw(`{"protocol":"messagepack","version":1}` + "\x1e"), raw(`{"protocol":"messagepack","version":2}` + "\x1e"), false},
		{"frame type", binaryMessage(t, ClientToServer, &protocol.Message{Type: protocol.TypePing}),
			Message{Direction: ClientToServer, Format: protocol.TransferFormatText, Data: []byte("\x02\x91\x06")}, false},
	}
	for _, step := range steps {
		if got := ids.Match(step.want, step.got); got != step.match {
			t.Errorf("%s: Match(%q, %q) = %v; want %v", step.name, step.want.Data, step.got.Data, got, step.match)
		}
	}
}

func TestInvocationIDMapRewriteMessagePack(t *testing.T) {
	ids := NewInvocationIDMap()
	invocation := &protocol.Message{Type: protocol.TypeStreamInvocation, InvocationID: "0", Target: "Counter", Arguments: []protocol.RawValue{{0x01}}}
	renumbered := *invocation
	renumbered.InvocationID = "1"
	if !ids.Match(binaryMessage(t, ClientToServer, invocation), binaryMessage(t, ClientToServer, &renumbered)) {
		t.Fatal("Match rejected the renumbered StreamInvocation")
	}

	serverCall := &protocol.Message{Type: protocol.TypeInvocation, InvocationID: "0", Target: "Ask", Arguments: []protocol.RawValue{}}
	recorded := binaryMessage(t, ServerToClient,
		&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "0", Item: protocol.RawValue{0x00}},
		serverCall,
		voidCompletion("0"))
	recorded.Data = append([]byte("{}\x1e"), recorded.Data...)
	recorded.Data = append(recorded.Data, 0x05, 0x91)

	want := binaryMessage(t, ServerToClient,
		&protocol.Message{Type: protocol.TypeStreamItem, InvocationID: "1", Item: protocol.RawValue{0x00}},
		serverCall,
		voidCompletion("1"))
	want.Data = append([]byte("{}\x1e"), want.Data...)
	want.Data = append(want.Data, 0x05, 0x91)
	if got := ids.Rewrite(recorded); !bytes.Equal(got.Data, want.Data) || got.Format != protocol.TransferFormatBinary {
		t.Errorf("Rewrite = %q; want %q", got.Data, want.Data)
	}

	// The client replies to the server's Invocation with the server's id
	// "0", which is not the paired id "1".
	answer := binaryMessage(t, ClientToServer, completion("0", "a", t))
	if !ids.Match(answer, answer) {
		t.Error("Match rejected the Completion of the server's invocation")
	}
}
