package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/internal/faultproxy"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// noAcks is an AckInterval long enough that the server sends no Ack during
// a test, so that the tests that do not check Acks read a fixed sequence.
const noAcks = time.Hour

// A statefulClient is a raw client for stateful reconnect in either hub
// protocol. It negotiates with useStatefulReconnect, keeps the connection
// token and reattaches with it, and leaves numbering, Acks and Sequence to
// the test.
type statefulClient struct {
	t      testing.TB
	proto  protocol.HubProtocol
	hubURL string // where the client dials, the server or a proxy
	token  string
	raw    *rawClient
	framer protocol.Framer
}

// statefulProtocols are the hub protocols the stateful tests run in.
var statefulProtocols = []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}}

// negotiateStateful negotiates a stateful reconnect connection at hubURL
// and returns its token.
func negotiateStateful(t *testing.T, hubURL string) string {
	t.Helper()
	status, body := negotiate(t, hubURL+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", nil)
	if status != http.StatusOK || !strings.HasPrefix(body, `{"useStatefulReconnect":true,`) {
		t.Fatalf("negotiate = %d %s; want 200 with useStatefulReconnect:true", status, body)
	}
	n := decodeNegotiate(t, body)
	return n.ConnectionToken
}

// connectStateful negotiates at hubURL, dials and sends a handshake of
// version 2.
func connectStateful(t *testing.T, hubURL string, proto protocol.HubProtocol) *statefulClient {
	t.Helper()
	c := &statefulClient{t: t, proto: proto, hubURL: hubURL, token: negotiateStateful(t, hubURL)}
	c.dial()
	c.raw.sendRecord(`{"protocol":"` + proto.Name() + `","version":2}`)
	_, payload, err := c.raw.readMessage()
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	record, rest, ok := protocol.SplitRecord(payload)
	if !ok || string(record) != "{}" {
		t.Fatalf("handshake response = %q; want {}\\x1e", payload)
	}
	if err := c.framer.Feed(bytes.Clone(rest)); err != nil {
		t.Fatal(err)
	}
	return c
}

// dial opens a WebSocket with the client's token and a fresh framer.
func (c *statefulClient) dial() {
	c.t.Helper()
	c.raw = dialRaw(c.t, c.hubURL+"?id="+url.QueryEscape(c.token), nil)
	c.framer = protocol.Framer{Format: c.proto.TransferFormat(), MaxMessageSize: -1}
}

// drop closes the client's TCP connection without a close frame.
func (c *statefulClient) drop() {
	c.raw.conn.Close()
}

// send sends m in one WebSocket message.
func (c *statefulClient) send(messages ...*protocol.Message) {
	c.t.Helper()
	var data []byte
	for _, m := range messages {
		var err error
		if data, err = c.proto.AppendMessage(data, m); err != nil {
			c.t.Fatalf("encoding %v: %v", m.Type, err)
		}
	}
	c.raw.sendFrame(opcodeOf(c.proto.TransferFormat()), true, data)
}

// value encodes v in the client's protocol.
func (c *statefulClient) value(v any) protocol.RawValue {
	c.t.Helper()
	raw, err := c.proto.AppendValue(nil, v)
	if err != nil {
		c.t.Fatal(err)
	}
	return raw
}

// invocation returns an Invocation of target with the arguments encoded in
// the client's protocol.
func (c *statefulClient) invocation(id, target string, args ...any) *protocol.Message {
	m := &protocol.Message{Type: protocol.TypeInvocation, InvocationID: id, Target: target, Arguments: []protocol.RawValue{}}
	for _, a := range args {
		m.Arguments = append(m.Arguments, c.value(a))
	}
	return m
}

// tryNext returns the next hub message from the server, Pings included.
func (c *statefulClient) tryNext() (*protocol.Message, error) {
	for {
		payload, err := c.framer.Next()
		if err != nil {
			return nil, err
		}
		if payload != nil {
			var m protocol.Message
			if err := c.proto.ParseMessage(payload, &m); err != nil {
				return nil, err
			}
			return m.Clone(), nil
		}
		_, data, err := c.raw.readMessage()
		if err != nil {
			return nil, err
		}
		if err := c.framer.Feed(data); err != nil {
			return nil, err
		}
	}
}

// next returns the next hub message that is not a Ping.
func (c *statefulClient) next() *protocol.Message {
	c.t.Helper()
	for {
		m, err := c.tryNext()
		if err != nil {
			c.t.Fatalf("reading a message: %v", err)
		}
		if m.Type != protocol.TypePing {
			return m
		}
	}
}

// expectSequence reads the next message and checks that it is Sequence{id}.
func (c *statefulClient) expectSequence(id int64) {
	c.t.Helper()
	m := c.next()
	if m.Type != protocol.TypeSequence || m.SequenceID != id {
		c.t.Fatalf("got %s; want Sequence %d", describe(m), id)
	}
}

// expectCompletion reads the next message and checks that it is a
// Completion for id whose result decodes to want, or a void one for nil.
func (c *statefulClient) expectCompletion(id string, want any) {
	c.t.Helper()
	m := c.next()
	if m.Type != protocol.TypeCompletion || m.InvocationID != id || m.HasError {
		c.t.Fatalf("got %s; want the Completion of %q", describe(m), id)
	}
	c.expectValue(m.Result, m.HasResult, want)
}

// expectInvocation reads the next message and checks that it invokes
// target with the single argument want.
func (c *statefulClient) expectInvocation(target string, want any) *protocol.Message {
	c.t.Helper()
	m := c.next()
	if m.Type != protocol.TypeInvocation || m.Target != target || len(m.Arguments) != 1 {
		c.t.Fatalf("got %s; want an Invocation of %s with one argument", describe(m), target)
	}
	c.expectValue(m.Arguments[0], true, want)
	return m
}

func (c *statefulClient) expectValue(raw protocol.RawValue, present bool, want any) {
	c.t.Helper()
	if want == nil {
		if present {
			c.t.Fatalf("value %q; want none", raw)
		}
		return
	}
	if !present {
		c.t.Fatalf("no value; want %v", want)
	}
	switch want := want.(type) {
	case int:
		var got int
		if err := c.proto.Unmarshal(raw, &got); err != nil || got != want {
			c.t.Fatalf("value %q (%v); want %d", raw, err, want)
		}
	case []int:
		var got []int
		if err := c.proto.Unmarshal(raw, &got); err != nil || !slices.Equal(got, want) {
			c.t.Fatalf("value %q = %v (%v); want %v", raw, got, err, want)
		}
	case string:
		var got string
		if err := c.proto.Unmarshal(raw, &got); err != nil || got != want {
			c.t.Fatalf("value %q (%v); want %q", raw, err, want)
		}
	default:
		c.t.Fatalf("unsupported want type %T", want)
	}
}

// describe names a message in a failure.
func describe(m *protocol.Message) string {
	s := m.Type.String()
	switch m.Type {
	case protocol.TypeAck, protocol.TypeSequence:
		s += " " + strconv.FormatInt(m.SequenceID, 10)
	case protocol.TypeClose:
		s += " error=" + strconv.Quote(m.Error)
	default:
		s += " id=" + strconv.Quote(m.InvocationID) + " target=" + strconv.Quote(m.Target)
	}
	return s
}

func ack(id int64) *protocol.Message {
	return &protocol.Message{Type: protocol.TypeAck, SequenceID: id}
}

func sequence(id int64) *protocol.Message {
	return &protocol.Message{Type: protocol.TypeSequence, SequenceID: id}
}

// onlyConn returns the server's one connection once its handshake is done.
func onlyConn(t *testing.T, srv *Server) *Conn {
	t.Helper()
	var conns []*Conn
	waitFor(t, func() bool {
		conns = srv.Conns()
		return len(conns) == 1
	})
	return conns[0]
}

// stateOf returns the sequence state of c and fails the test when c does
// not use stateful reconnect.
func stateOf(t *testing.T, c *Conn) SequenceState {
	t.Helper()
	state, ok := c.SequenceState()
	if !ok {
		t.Fatal("the connection does not use stateful reconnect")
	}
	return state
}

func TestStatefulHandshakeVersions(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run("version "+strconv.Itoa(version), func(t *testing.T) {
			srv := startServer(t, Options{StatefulReconnect: true})
			token := negotiateStateful(t, srv.HubURL())
			c := dialRaw(t, srv.HubURL()+"?id="+token, nil)
			c.sendRecord(`{"protocol":"json","version":` + strconv.Itoa(version) + `}`)
			if got := c.readRecord(); got != "{}" {
				t.Fatalf("handshake response = %q; want {}", got)
			}
			_, stateful := onlyConn(t, srv).SequenceState()
			if stateful != (version == 2) {
				t.Errorf("stateful reconnect = %v after a handshake of version %d; want %v", stateful, version, version == 2)
			}
		})
	}
}

func TestStatefulNotWithoutNegotiate(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true})
	c := dialRaw(t, srv.HubURL(), nil)
	c.sendRecord(`{"protocol":"json","version":2}`)
	if got := c.readRecord(); got != "{}" {
		t.Fatalf("handshake response = %q; want {}", got)
	}
	if _, stateful := onlyConn(t, srv).SequenceState(); stateful {
		t.Error("a connection made without negotiate uses stateful reconnect")
	}
}

func TestStatefulAcksBatched(t *testing.T) {
	for _, proto := range statefulProtocols {
		t.Run(proto.Name(), func(t *testing.T) {
			srv := startServer(t, Options{StatefulReconnect: true, AckInterval: 50 * time.Millisecond, KeepAliveInterval: -1})
			c := connectStateful(t, srv.HubURL(), proto)
			// Both in one WebSocket message, so that one Ack covers them.
			c.send(c.invocation("", "Mark", 1), c.invocation("", "Mark", 2))
			if m := c.next(); m.Type != protocol.TypeAck || m.SequenceID != 2 {
				t.Fatalf("got %s; want Ack 2", describe(m))
			}

			c.send(c.invocation("a", "Add", 1, 2))
			c.expectCompletion("a", 3)
			if m := c.next(); m.Type != protocol.TypeAck || m.SequenceID != 3 {
				t.Fatalf("got %s; want Ack 3", describe(m))
			}
			conn := onlyConn(t, srv)
			state := stateOf(t, conn)
			if state.LastSent != 1 || state.Buffered != 1 || state.LastReceived != 3 {
				t.Errorf("state = %+v; want LastSent 1, Buffered 1, LastReceived 3", state)
			}

			c.send(ack(1))
			waitFor(t, func() bool { return stateOf(t, conn).LastAcked == 1 })
			if state := stateOf(t, conn); state.Buffered != 0 || state.BufferedBytes != 0 {
				t.Errorf("state after Ack 1 = %+v; want nothing buffered", state)
			}
		})
	}
}

// TestStatefulReattach drops the client's WebSocket, lets the hub send
// while the connection has none, and reattaches with the same token. It
// checks that the server resends exactly the unacknowledged messages,
// drops the client's resent duplicates and ignores what comes before the
// client's Sequence.
func TestStatefulReattach(t *testing.T) {
	for _, proto := range statefulProtocols {
		for _, via := range []string{"direct", "faultproxy"} {
			t.Run(proto.Name()+"/"+via, func(t *testing.T) {
				testStatefulReattach(t, proto, via == "faultproxy")
			})
		}
	}
}

func testStatefulReattach(t *testing.T, proto protocol.HubProtocol, viaProxy bool) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	hubURL := srv.HubURL()
	var proxy *faultproxy.Proxy
	if viaProxy {
		base, err := url.Parse(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		proxy, err = faultproxy.New(base.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		hubURL = "http://" + proxy.Addr() + srv.opts.Path
	}
	c := connectStateful(t, hubURL, proto)

	// Client messages 1 to 6; server messages 1 to 3.
	c.send(c.invocation("", "Mark", 1))
	c.send(c.invocation("", "Mark", 2))
	c.send(c.invocation("", "Mark", 3))
	c.send(c.invocation("a", "Add", 1, 2))
	c.expectCompletion("a", 3)
	c.send(c.invocation("b", "Echo", "b"))
	c.expectCompletion("b", "b")
	c.send(c.invocation("c", "Echo", "c"))
	c.expectCompletion("c", "c")
	c.send(ack(1))
	conn := onlyConn(t, srv)
	waitFor(t, func() bool {
		state := stateOf(t, conn)
		return state.LastAcked == 1 && state.LastReceived == 6
	})

	if viaProxy {
		proxy.Cut(faultproxy.Abortive)
	} else {
		c.drop()
	}
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })

	// Server message 4 goes out while the connection has no WebSocket.
	if err := conn.Send(context.Background(), "Tick", 4); err != nil {
		t.Fatalf("Send while detached: %v", err)
	}
	if state := stateOf(t, conn); state.LastSent != 4 || state.Buffered != 3 {
		t.Errorf("state while detached = %+v; want LastSent 4 and 3 buffered", state)
	}

	c.dial()
	c.expectSequence(2)
	c.expectCompletion("b", "b")
	c.expectCompletion("c", "c")
	c.expectInvocation("Tick", 4)

	// Ignored: it comes before the client's Sequence and is not counted.
	c.send(c.invocation("", "Mark", 99))
	// The client claims it never saw an Ack for its messages 5 and 6 and
	// resends them, then sends message 7 to 9.
	c.send(sequence(5))
	c.send(c.invocation("b", "Echo", "b"))
	c.send(c.invocation("c", "Echo", "c"))
	c.send(c.invocation("", "Mark", 4))
	c.send(c.invocation("d", "Add", 2, 3))
	c.expectCompletion("d", 5)
	c.send(c.invocation("m", "Marks"))
	c.expectCompletion("m", []int{1, 2, 3, 4})

	state := stateOf(t, conn)
	if state.Duplicates != 2 || state.LastReceived != 9 || state.Reattaches != 1 || !state.Attached {
		t.Errorf("state = %+v; want 2 duplicates, LastReceived 9, 1 reattach, attached", state)
	}
	if state.LastSent != 6 || state.LastAcked != 1 {
		t.Errorf("state = %+v; want LastSent 6, LastAcked 1", state)
	}
}

func TestStatefulStreamSurvivesDrop(t *testing.T) {
	for _, proto := range statefulProtocols {
		t.Run(proto.Name(), func(t *testing.T) {
			srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
			c := connectStateful(t, srv.HubURL(), proto)
			c.send(&protocol.Message{Type: protocol.TypeStreamInvocation, InvocationID: "s", Target: "Counter",
				Arguments: []protocol.RawValue{c.value(20), c.value(5)}})
			var items []int
			readItem := func() {
				m := c.next()
				if m.Type != protocol.TypeStreamItem || m.InvocationID != "s" {
					t.Fatalf("got %s; want a StreamItem of s", describe(m))
				}
				var n int
				if err := c.proto.Unmarshal(m.Item, &n); err != nil {
					t.Fatal(err)
				}
				items = append(items, n)
			}
			for range 5 {
				readItem()
			}
			c.send(ack(int64(len(items))))
			conn := onlyConn(t, srv)
			waitFor(t, func() bool { return stateOf(t, conn).LastAcked == 5 })
			c.drop()
			// Let the stream go on while the connection has no WebSocket.
			waitFor(t, func() bool { return stateOf(t, conn).LastSent >= 12 })

			c.dial()
			c.expectSequence(6)
			c.send(sequence(2))
			for len(items) < 20 {
				readItem()
			}
			c.expectCompletion("s", nil)
			for i, n := range items {
				if n != i {
					t.Fatalf("items = %v; want 0 to 19 once each", items)
				}
			}
		})
	}
}

func TestStatefulPendingInvocationSurvivesDrop(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	c.send(c.invocation("1", "CallMe", "Shout", "quiet", true))
	m := c.expectInvocation("Shout", "quiet")
	c.drop()
	conn := onlyConn(t, srv)
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })

	c.dial()
	c.expectSequence(1)
	resent := c.expectInvocation("Shout", "quiet")
	if resent.InvocationID != m.InvocationID {
		t.Fatalf("resent invocation id %q; want %q", resent.InvocationID, m.InvocationID)
	}
	c.send(sequence(2))
	c.send(&protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID, Result: c.value("QUIET"), HasResult: true})
	c.expectCompletion("1", "QUIET")
}

func TestStatefulBackPressure(t *testing.T) {
	for _, proto := range statefulProtocols {
		t.Run(proto.Name(), func(t *testing.T) {
			const limit = 100
			srv := startServer(t, Options{StatefulReconnect: true, StatefulReconnectBufferSize: limit, AckInterval: noAcks, KeepAliveInterval: -1})
			c := connectStateful(t, srv.HubURL(), proto)
			c.send(&protocol.Message{Type: protocol.TypeStreamInvocation, InvocationID: "s", Target: "Counter",
				Arguments: []protocol.RawValue{c.value(40), c.value(0)}})
			conn := onlyConn(t, srv)

			// The stream stops once the unacknowledged items fill the
			// buffer.
			waitFor(t, func() bool { return stateOf(t, conn).BufferedBytes >= limit })
			stalled := stateOf(t, conn)
			time.Sleep(50 * time.Millisecond)
			if state := stateOf(t, conn); state.LastSent != stalled.LastSent {
				t.Fatalf("the server sent message %d after the buffer was full at message %d", state.LastSent, stalled.LastSent)
			}
			if stalled.LastSent >= 40 {
				t.Fatalf("the server sent %d messages into a %d-byte buffer", stalled.LastSent, limit)
			}

			// Each Ack lets more through, and nothing is lost.
			received := int64(0)
			for want := 0; want < 40; want++ {
				m := c.next()
				received++
				if m.Type != protocol.TypeStreamItem {
					t.Fatalf("got %s; want StreamItem %d", describe(m), want)
				}
				var n int
				if err := c.proto.Unmarshal(m.Item, &n); err != nil || n != want {
					t.Fatalf("item %q; want %d", m.Item, want)
				}
				c.send(ack(received))
			}
			c.expectCompletion("s", nil)
		})
	}
}

func TestStatefulReconnectWindowExpires(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, ReconnectWindow: 50 * time.Millisecond, KeepAliveInterval: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	conn := onlyConn(t, srv)
	c.drop()
	select {
	case <-conn.Context().Done():
	case <-time.After(readTimeout):
		t.Fatal("the connection outlived its reconnect window")
	}
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })

	_, err := tryDialRaw(t, srv.HubURL()+"?id="+c.token, nil)
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusNotFound {
		t.Fatalf("reattaching after the window: %v; want 404", err)
	}
}

func TestStatefulNoWindowEndsAtDrop(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, ReconnectWindow: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	conn := onlyConn(t, srv)
	c.drop()
	select {
	case <-conn.Context().Done():
	case <-time.After(readTimeout):
		t.Fatal("the connection outlived its WebSocket with ReconnectWindow -1")
	}
}

func TestStatefulSequenceTooLarge(t *testing.T) {
	for _, proto := range statefulProtocols {
		t.Run(proto.Name(), func(t *testing.T) {
			srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
			c := connectStateful(t, srv.HubURL(), proto)
			c.send(c.invocation("", "Mark", 1))
			conn := onlyConn(t, srv)
			waitFor(t, func() bool { return stateOf(t, conn).LastReceived == 1 })
			c.drop()
			waitFor(t, func() bool { return !stateOf(t, conn).Attached })

			c.dial()
			c.expectSequence(1)
			// The next message expected is 2, so 3 claims a message the
			// server never received.
			c.send(sequence(3))
			m := c.next()
			want := "Connection closed with an error. InvalidOperationException: Sequence ID greater than amount of messages we've received."
			if m.Type != protocol.TypeClose || m.Error != want {
				t.Fatalf("got %s; want Close with %q", describe(m), want)
			}
		})
	}
}

func TestStatefulAckTooLarge(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	c.send(c.invocation("a", "Add", 1, 1))
	c.expectCompletion("a", 2)
	c.send(ack(2))
	m := c.next()
	want := "Connection closed with an error. InvalidDataException: Ack for sequence ID 2, but the server has sent only 1 messages."
	if m.Type != protocol.TypeClose || m.Error != want {
		t.Fatalf("got %s; want Close with %q", describe(m), want)
	}
}

func TestStatefulSecondWebSocketReplacesFirst(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	first := connectStateful(t, srv.HubURL(), protocol.JSON{})
	first.send(first.invocation("a", "Add", 1, 1))
	first.expectCompletion("a", 2)

	second := &statefulClient{t: t, proto: protocol.JSON{}, hubURL: srv.HubURL(), token: first.token}
	second.dial()
	second.expectSequence(1)
	second.expectCompletion("a", 2)
	second.send(sequence(2))
	second.send(second.invocation("b", "Add", 2, 2))
	second.expectCompletion("b", 4)

	_, err := first.tryNext()
	if !errors.Is(err, io.EOF) && !errors.Is(err, errServerClosedWebSocket) && !isConnReset(err) {
		t.Fatalf("first WebSocket after the second attached: %v; want it closed", err)
	}
	if state := stateOf(t, onlyConn(t, srv)); state.Reattaches != 1 {
		t.Errorf("Reattaches = %d; want 1", state.Reattaches)
	}
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestNonStatefulSecondWebSocketConflicts(t *testing.T) {
	srv := startServer(t, Options{})
	_, body := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil)
	token := decodeNegotiate(t, body).ConnectionToken
	c := dialRaw(t, srv.HubURL()+"?id="+token, nil)
	c.handshake()
	_, err := tryDialRaw(t, srv.HubURL()+"?id="+token, nil)
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusConflict {
		t.Fatalf("second WebSocket: %v; want 409", err)
	}
}

func TestStatefulCaptureShowsReattach(t *testing.T) {
	captures := make(chan *Capture, 1)
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1,
		Record: func(c *Capture) { captures <- c }})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	c.send(c.invocation("a", "Add", 1, 1))
	c.expectCompletion("a", 2)
	conn := onlyConn(t, srv)
	c.drop()
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })
	c.dial()
	c.expectSequence(1)
	c.expectCompletion("a", 2)
	c.send(sequence(2), ack(1))
	c.send(&protocol.Message{Type: protocol.TypeClose})
	// Reading until the end replies to the server's close frame.
	if _, err := c.tryNext(); err == nil {
		t.Fatal("a message arrived after the client's Close")
	}

	var capture *Capture
	select {
	case capture = <-captures:
	case <-time.After(readTimeout):
		t.Fatal("no capture")
	}
	data, err := AppendCapture(nil, capture)
	if err != nil {
		t.Fatal(err)
	}
	want := `> text {"protocol":"json","version":2}\x1e
< text {}\x1e
> text {"type":1,"invocationId":"a","target":"Add","arguments":[1,1]}\x1e
< text {"type":3,"invocationId":"a","result":2}\x1e
= reattach
< text {"type":9,"sequenceId":1}\x1e
< text {"type":3,"invocationId":"a","result":2}\x1e
> text {"type":9,"sequenceId":2}\x1e{"type":8,"sequenceId":1}\x1e
> text {"type":7}\x1e
`
	if _, body, _ := strings.Cut(string(data), "# client:"); !strings.HasSuffix(body, "\n"+want) {
		t.Errorf("capture:\n%s\nwant it to end with:\n%s", data, want)
	}
	again, err := ReadCapture(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the capture back: %v", err)
	}
	if !again.Messages[4].Reattached {
		t.Error("the message after the reattach line is not marked Reattached")
	}
}

func TestReplayStopsAtReattach(t *testing.T) {
	capture := &Capture{Protocol: "json", Messages: []Message{
		{Direction: ClientToServer, Format: protocol.TransferFormatText, Data: []byte("{\"protocol\":\"json\",\"version\":2}\x1e")},
		{Direction: ServerToClient, Format: protocol.TransferFormatText, Data: []byte("{}\x1e")},
		{Direction: ServerToClient, Format: protocol.TransferFormatText, Data: []byte("{\"type\":9,\"sequenceId\":1}\x1e"), Reattached: true},
	}}
	replay := NewReplay(capture, ReplayOptions{Timeout: readTimeout})
	if _, err := replay.Listen(); err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	c := dialRaw(t, replay.HubURL(), nil)
	c.sendRecord(`{"protocol":"json","version":2}`)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	err := replay.Wait(ctx)
	var mismatch *Mismatch
	if !errors.As(err, &mismatch) || mismatch.Index != 2 || !errors.Is(err, errReplayReattach) {
		t.Fatalf("Wait = %v; want a mismatch at the reattach, message 2", err)
	}
}
