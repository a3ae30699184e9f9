package signalr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

// resumableFake is a fakeConn of a connection with stateful reconnect.
// reopen takes the next transport from reopened, or fails when the test
// sends nil.
type resumableFake struct {
	*fakeConn
	reopened chan *fakeConn
}

func (r *resumableFake) statefulReconnect() bool { return true }

func (r *resumableFake) reopen(ctx context.Context) (transportConn, error) {
	select {
	case fc := <-r.reopened:
		if fc == nil {
			return nil, errTest
		}
		return fc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startStatefulClient starts a client whose transport accepted stateful
// reconnect and checks that its handshake requests protocol version 2.
func startStatefulClient(t *testing.T, cfg Config) (*Client, *peer, chan *fakeConn) {
	t.Helper()
	saved := ackDelay
	ackDelay = 10 * time.Millisecond
	t.Cleanup(func() { ackDelay = saved })

	cfg.KeepAliveInterval, cfg.ServerTimeout = -1, -1
	cfg.StatefulReconnect = true
	first := newFakeConn()
	reopened := make(chan *fakeConn, 1)
	c := NewClient("http://127.0.0.1/hub", cfg)
	c.dial = func(ctx context.Context) (transportConn, string, error) {
		return &resumableFake{fakeConn: first, reopened: reopened}, "conn-1", nil
	}
	p := &peer{t: t, conn: first}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	if req := p.acceptHandshake("{}\x1e"); req.Version != 2 {
		t.Errorf("handshake version %d; want 2 with stateful reconnect", req.Version)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
	return c, p, reopened
}

func expectMessage(t *testing.T, p *peer, typ protocol.MessageType, detail string, check func(m *protocol.Message) bool) {
	t.Helper()
	m := p.next(false)
	if m.Type != typ || !check(m) {
		t.Fatalf("got %v %+v; want %v %s", m.Type, m, typ, detail)
	}
}

// expectAck reads messages until an Ack arrives that acknowledges id,
// failing on an Ack beyond it or on any other message.
func expectAck(t *testing.T, p *peer, id int64) {
	t.Helper()
	for {
		m := p.next(false)
		switch {
		case m.Type != protocol.TypeAck || m.SequenceID > id:
			t.Fatalf("got %v %+v; want an Ack of %d", m.Type, m, id)
		case m.SequenceID == id:
			return
		}
	}
}

func TestStatefulReconnectTranscript(t *testing.T) {
	c, p, reopened := startStatefulClient(t, Config{})
	handled := make(chan string, 8)
	c.On("Push", func(ctx context.Context, inv *Invocation) (any, error) {
		var s string
		err := inv.Decode(&s)
		handled <- s
		return nil, err
	})
	ctx := context.Background()
	target := func(name string) func(m *protocol.Message) bool {
		return func(m *protocol.Message) bool { return m.Target == name }
	}
	push := func(p *peer, s string) {
		p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Push", Arguments: []protocol.RawValue{protocol.RawValue(`"` + s + `"`)}})
	}

	// Client messages 1 and 2; the server acknowledges 1.
	for _, name := range []string{"A", "B"} {
		if err := c.Send(ctx, name); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, p, protocol.TypeInvocation, name, target(name))
	}
	p.send(`{"type":8,"sequenceId":1}` + "\x1e")

	// Server message 1, with a Ping around it; the client acknowledges it.
	p.send(`{"type":6}` + "\x1e")
	push(p, "X")
	p.send(`{"type":6}` + "\x1e")
	if s := <-handled; s != "X" {
		t.Fatalf("handler got %q; want X", s)
	}
	expectMessage(t, p, protocol.TypeAck, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })

	// The transport is lost. An invocation sent before the transport is
	// back waits for it, and then follows the Sequence and the resent
	// messages, neither lost nor duplicated.
	p.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !c.current().sr.isDetached() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	sent := make(chan error, 1)
	go func() { sent <- c.Send(ctx, "C") }()
	select {
	case err := <-sent:
		t.Fatalf("Send returned %v before the transport was back", err)
	case <-time.After(20 * time.Millisecond):
	}
	second := newFakeConn()
	reopened <- second
	p2 := &peer{t: t, conn: second}
	if err := <-sent; err != nil {
		t.Fatalf("Send while the transport was reopened: %v", err)
	}

	// The client resends from its oldest unacknowledged message, 2.
	expectMessage(t, p2, protocol.TypeSequence, "with sequenceId 2", func(m *protocol.Message) bool { return m.SequenceID == 2 })
	expectMessage(t, p2, protocol.TypeInvocation, "B", target("B"))
	expectMessage(t, p2, protocol.TypeInvocation, "C", target("C"))

	// The server resends its message 1, which the client already handled,
	// then sends message 2.
	p2.send(`{"type":9,"sequenceId":1}` + "\x1e")
	push(p2, "X")
	push(p2, "Y")
	if s := <-handled; s != "Y" {
		t.Fatalf("handler got %q after the reattach; want Y (X is a duplicate)", s)
	}
	// The duplicate X may bring about an Ack of 1 before Y is counted.
	expectAck(t, p2, 2)

	// Acknowledging everything empties the buffer; the next message is 4.
	p2.send(`{"type":8,"sequenceId":3}` + "\x1e")
	deadline = time.Now().Add(5 * time.Second)
	for {
		id, data, _ := c.current().sr.resendFrom()
		if id == 4 && len(data) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Ack 3 the buffer resends from %d with %d bytes; want 4 and none", id, len(data))
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case s := <-handled:
		t.Fatalf("handler ran again with %q", s)
	default:
	}
}

func TestStatefulReattachEvent(t *testing.T) {
	reattached := make(chan string, 1)
	c, p, reopened := startStatefulClient(t, Config{OnReattached: func(id string) { reattached <- id }})
	if !c.StatefulReconnect() {
		t.Fatal("StatefulReconnect() = false; want true after the server agreed")
	}
	p.conn.Close()
	reopened <- newFakeConn()
	select {
	case id := <-reattached:
		if id != "conn-1" {
			t.Errorf("OnReattached(%q); want conn-1", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnReattached was not called")
	}
}

func TestStatefulSequenceTooLarge(t *testing.T) {
	cfg := Config{}
	events := newEventLog(&cfg)
	_, p, reopened := startStatefulClient(t, cfg)
	p.conn.Close()
	second := newFakeConn()
	reopened <- second
	p2 := &peer{t: t, conn: second}
	expectMessage(t, p2, protocol.TypeSequence, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })
	p2.send(`{"type":9,"sequenceId":5}` + "\x1e")
	err := <-events.closed
	if err == nil || !strings.Contains(err.Error(), "Sequence") {
		t.Fatalf("OnClosed: %v; want an error about the Sequence message", err)
	}
}

func TestStatefulReopenFailsFallsBackToReconnect(t *testing.T) {
	// Reopening is tried again until the handshake timeout has passed.
	cfg := Config{Reconnect: DelayRetryPolicy{0}, HandshakeTimeout: 300 * time.Millisecond}
	events := newEventLog(&cfg)
	c, p, reopened := startStatefulClient(t, cfg)
	fresh := newFakeConn()
	c.dial = func(ctx context.Context) (transportConn, string, error) { return fresh, "conn-2", nil }

	pending := make(chan error, 1)
	go func() { pending <- c.Invoke(context.Background(), "Slow", nil) }()
	p.next(false)
	p.conn.Close()
	reopened <- nil // reopening fails

	if err := <-pending; !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("pending Invoke: %v; want an error wrapping ErrConnectionClosed", err)
	}
	(&peer{t: t, conn: fresh}).acceptHandshake("{}\x1e")
	got := events.waitFor(t, 2)
	if !strings.Contains(got[0], ErrStatefulReconnectFailed.Error()) || got[1] != "reconnected: conn-2" {
		t.Errorf("events = %q; want reconnecting after the failed reopen, then reconnected: conn-2", got)
	}
}

func TestStatefulBackpressure(t *testing.T) {
	c, p, _ := startStatefulClient(t, Config{StatefulReconnectBufferSize: 60})
	ctx := context.Background()
	// Each Invocation of "Fill" is 45 bytes of JSON, so the second one
	// fills the buffer.
	for range 2 {
		if err := c.Send(ctx, "Fill"); err != nil {
			t.Fatal(err)
		}
		p.next(false)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- c.Send(ctx, "Fill") }()
	select {
	case err := <-blocked:
		t.Fatalf("Send with a full buffer returned %v; want it to wait for an Ack", err)
	case <-time.After(30 * time.Millisecond):
	}

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := c.Send(short, "Fill"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with a full buffer and a short ctx: %v; want context.DeadlineExceeded", err)
	}

	p.send(`{"type":8,"sequenceId":2}` + "\x1e")
	if err := <-blocked; err != nil {
		t.Fatalf("Send after the Ack: %v", err)
	}
	if m := p.next(false); m.Target != "Fill" {
		t.Errorf("got %v %q; want the third Fill", m.Type, m.Target)
	}
}

// TestStatefulMessageBeforeSequence checks that a message the server sends
// on a reopened transport before its Sequence message is handled, not
// dropped, and counted like any other.
func TestStatefulMessageBeforeSequence(t *testing.T) {
	c, p, reopened := startStatefulClient(t, Config{})
	handled := make(chan string, 4)
	c.On("Push", func(ctx context.Context, inv *Invocation) (any, error) {
		var s string
		err := inv.Decode(&s)
		handled <- s
		return nil, err
	})
	push := func(p *peer, s string) {
		p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Push", Arguments: []protocol.RawValue{protocol.RawValue(`"` + s + `"`)}})
	}

	p.conn.Close()
	second := newFakeConn()
	reopened <- second
	p2 := &peer{t: t, conn: second}
	expectMessage(t, p2, protocol.TypeSequence, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })

	push(p2, "early")                             // message 1, before the server's Sequence
	p2.send(`{"type":9,"sequenceId":2}` + "\x1e") // the next message is 2
	push(p2, "later")
	for _, want := range []string{"early", "later"} {
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("handler got %q; want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("handler did not get %q", want)
		}
	}
	expectMessage(t, p2, protocol.TypeAck, "with sequenceId 2", func(m *protocol.Message) bool { return m.SequenceID == 2 })
}

// TestStatefulAckAfterDuplicates checks that the client acknowledges
// messages the server sends again after a reattach, even when all of them
// are duplicates: the server keeps them, and may wait for buffer space,
// until an Ack arrives.
func TestStatefulAckAfterDuplicates(t *testing.T) {
	c, p, reopened := startStatefulClient(t, Config{})
	c.On("Push", func(ctx context.Context, inv *Invocation) (any, error) { return nil, nil })
	push := &protocol.Message{Type: protocol.TypeInvocation, Target: "Push", Arguments: []protocol.RawValue{protocol.RawValue(`1`)}}

	p.sendMessage(push)
	expectAck(t, p, 1)
	p.conn.Close() // the server misses that Ack

	second := newFakeConn()
	reopened <- second
	p2 := &peer{t: t, conn: second}
	expectMessage(t, p2, protocol.TypeSequence, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })
	p2.send(`{"type":9,"sequenceId":1}` + "\x1e")
	p2.sendMessage(push) // the duplicate of message 1
	expectAck(t, p2, 1)
}

// statusFake is a resumableFake whose reopen fails with an HTTP status,
// as when the server has dropped the connection.
type statusFake struct{ *resumableFake }

func (s *statusFake) reopen(ctx context.Context) (transportConn, error) {
	return nil, &transport.StatusError{Op: "WebSocket handshake", URL: "http://127.0.0.1/hub", StatusCode: 404}
}

func TestStatefulReopenNotFoundEndsAtOnce(t *testing.T) {
	cfg := Config{StatefulReconnect: true, KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	first := newFakeConn()
	c := NewClient("http://127.0.0.1/hub", cfg)
	c.dial = func(ctx context.Context) (transportConn, string, error) {
		return &statusFake{&resumableFake{fakeConn: first}}, "conn-1", nil
	}
	p := &peer{t: t, conn: first}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("{}\x1e")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	p.conn.Close()
	err := <-events.closed
	if !errors.Is(err, ErrStatefulReconnectFailed) {
		t.Fatalf("OnClosed: %v; want ErrStatefulReconnectFailed", err)
	}
	var status *transport.StatusError
	if !errors.As(err, &status) || status.StatusCode != 404 {
		t.Errorf("OnClosed: %v; want it to wrap the 404", err)
	}
	// The default handshake timeout is 15 s; a 404 must not wait for it.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the client ended %v after the loss; want at once after the 404", elapsed)
	}
}

// TestStatefulSequenceAfterInterruptedResend checks the Sequence limit
// when a cut interrupts the server's resending. The server may then resend
// from an ID above the count of messages received since its last Sequence,
// as long as the ID is not above the highest ID processed plus one.
func TestStatefulSequenceAfterInterruptedResend(t *testing.T) {
	c, p, reopened := startStatefulClient(t, Config{})
	handled := make(chan string, 8)
	c.On("Push", func(ctx context.Context, inv *Invocation) (any, error) {
		var s string
		err := inv.Decode(&s)
		handled <- s
		return nil, err
	})
	push := func(p *peer, s string) {
		p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Push", Arguments: []protocol.RawValue{protocol.RawValue(`"` + s + `"`)}})
	}
	for _, s := range []string{"1", "2", "3"} {
		push(p, s)
		<-handled
	}

	// First cut: the server resends from 2 but gets only message 2 out.
	p.conn.Close()
	second := newFakeConn()
	reopened <- second
	p2 := &peer{t: t, conn: second}
	expectMessage(t, p2, protocol.TypeSequence, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })
	p2.send(`{"type":9,"sequenceId":2}` + "\x1e")
	push(p2, "2")
	expectAck(t, p2, 3)

	// Second cut: having seen the Ack of 3, the server resends from 4.
	p2.conn.Close()
	third := newFakeConn()
	reopened <- third
	p3 := &peer{t: t, conn: third}
	expectMessage(t, p3, protocol.TypeSequence, "with sequenceId 1", func(m *protocol.Message) bool { return m.SequenceID == 1 })
	p3.send(`{"type":9,"sequenceId":4}` + "\x1e")
	push(p3, "4")
	select {
	case s := <-handled:
		if s != "4" {
			t.Fatalf("handler got %q; want 4", s)
		}
	case <-c.Done():
		t.Fatalf("the client ended: %v", c.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not get message 4")
	}
}

// TestStatefulCloseNotNumbered checks that Ping, Ack and Close messages,
// interleaved with trackable ones, are neither numbered nor kept for
// resending.
func TestStatefulCloseNotNumbered(t *testing.T) {
	c, p, _ := startStatefulClient(t, Config{})
	c.On("Push", func(ctx context.Context, inv *Invocation) (any, error) { return nil, nil })
	if err := c.Send(context.Background(), "A"); err != nil {
		t.Fatal(err)
	}
	p.next(false)
	p.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "Push"})
	expectAck(t, p, 1) // an Ack from the client
	p.send(`{"type":6}` + "\x1e")
	sr := c.current().sr

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if m := p.next(false); m.Type != protocol.TypeClose {
		t.Fatalf("got %v; want the Close of Stop", m.Type)
	}
	if id, data, ends := sr.resendFrom(); id != 1 || len(ends) != 1 || len(data) == 0 {
		t.Errorf("resend buffer starts at %d with %d messages; want only the Invocation, numbered 1", id, len(ends))
	}
}
