package conformance

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// expectDropped reads until the server's TCP connection ends and fails
// the test when a record other than a Ping, or a WebSocket close frame,
// arrives first.
func (c *rawClient) expectDropped() {
	c.t.Helper()
	for {
		record, err := c.tryReadRecord()
		switch {
		case errors.Is(err, errServerClosedWebSocket):
			c.t.Fatal("the server sent a WebSocket close frame; want the TCP connection dropped without one")
		case errors.Is(err, io.EOF) || isConnReset(err):
			return
		case err != nil:
			c.t.Fatalf("waiting for the server to drop the connection: %v", err)
		case record != `{"type":6}`:
			c.t.Fatalf("record %s arrived where the server should drop the connection", record)
		}
	}
}

func TestConnDrop(t *testing.T) {
	srv, c := connect(t, Options{})
	conn := onlyConn(t, srv)
	conn.Drop()
	c.expectDropped()
	select {
	case <-conn.Context().Done():
	case <-time.After(readTimeout):
		t.Fatal("the connection outlived the drop of its WebSocket")
	}
}

func TestHubDropMe(t *testing.T) {
	srv, c := connect(t, Options{})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"DropMe","arguments":[0]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
	c.expectDropped()
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })
}

func TestHubDropMeDelayed(t *testing.T) {
	_, c := connect(t, Options{})
	c.sendRecord(`{"type":1,"invocationId":"1","target":"DropMe","arguments":[30]}`)
	c.expectRecord(`{"type":3,"invocationId":"1"}`)
	// The WebSocket still works during the delay.
	c.sendRecord(`{"type":1,"invocationId":"2","target":"Add","arguments":[1,2]}`)
	c.expectRecord(`{"type":3,"invocationId":"2","result":3}`)
	c.expectDropped()
}

func TestHubDropMeStateful(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	c.send(c.invocation("1", "DropMe", 0))
	c.expectCompletion("1", nil)
	if _, err := c.tryNext(); err == nil {
		t.Fatal("a message arrived after DropMe; want the WebSocket dropped")
	}
	conn := onlyConn(t, srv)
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })

	c.dial()
	c.expectSequence(1)
	c.expectCompletion("1", nil)
	c.send(sequence(2))
	c.send(c.invocation("r", "Reattaches"))
	c.expectCompletion("r", 1)
}

func TestServerDropAll(t *testing.T) {
	srv, first := connect(t, Options{})
	second := dialRaw(t, srv.HubURL(), nil)
	second.handshake()
	waitFor(t, func() bool { return len(srv.Conns()) == 2 })
	srv.DropAll()
	first.expectDropped()
	second.expectDropped()
	waitFor(t, func() bool { return len(srv.Conns()) == 0 })
}

func TestServerPause(t *testing.T) {
	srv := startServer(t, Options{})
	srv.Pause()
	if status, _ := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil); status != http.StatusServiceUnavailable {
		t.Errorf("negotiate while paused: status %d; want 503", status)
	}
	_, err := tryDialRaw(t, srv.HubURL(), nil)
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusServiceUnavailable {
		t.Errorf("WebSocket while paused: %v; want 503", err)
	}

	srv.Resume()
	if status, _ := negotiate(t, srv.HubURL()+"/negotiate?negotiateVersion=1", nil); status != http.StatusOK {
		t.Errorf("negotiate after Resume: status %d; want 200", status)
	}
	c := dialRaw(t, srv.HubURL(), nil)
	c.handshake()
}

func TestStatefulReattachWhilePaused(t *testing.T) {
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	conn := onlyConn(t, srv)
	srv.Pause()
	c.drop()
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })
	_, err := tryDialRaw(t, srv.HubURL()+"?id="+c.token, nil)
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusServiceUnavailable {
		t.Fatalf("reattach while paused: %v; want 503", err)
	}

	srv.Resume()
	c.dial()
	c.expectSequence(1)
}

func TestOnMessageSeesProcessedMessages(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := startServer(t, Options{StatefulReconnect: true, AckInterval: noAcks, KeepAliveInterval: -1,
		OnMessage: func(c *Conn, m *protocol.Message) {
			mu.Lock()
			seen = append(seen, describe(m))
			mu.Unlock()
		}})
	c := connectStateful(t, srv.HubURL(), protocol.JSON{})
	c.send(c.invocation("", "Mark", 1))
	c.send(c.invocation("a", "Add", 1, 2))
	c.expectCompletion("a", 3)
	conn := onlyConn(t, srv)
	c.drop()
	waitFor(t, func() bool { return !stateOf(t, conn).Attached })
	c.dial()
	c.expectSequence(1)
	c.expectCompletion("a", 3)
	c.send(&protocol.Message{Type: protocol.TypePing}) // ignored before Sequence
	c.send(sequence(2))
	c.send(c.invocation("a", "Add", 1, 2)) // a duplicate of message 2
	c.send(c.invocation("b", "Add", 2, 2))
	c.expectCompletion("b", 4)

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`Invocation id="" target="Mark"`,
		`Invocation id="a" target="Add"`,
		`Sequence 2`,
		`Invocation id="b" target="Add"`,
	}
	if len(seen) != len(want) {
		t.Fatalf("OnMessage saw %q; want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("OnMessage call %d saw %s; want %s", i, seen[i], want[i])
		}
	}
}
