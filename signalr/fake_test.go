package signalr

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A fakeConn is an in-memory transport connection. The test plays the
// server through its peer methods.
type fakeConn struct {
	toClient   chan []byte
	fromClient chan []byte
	closed     chan struct{}
	once       sync.Once
}

func newFakeConn() *fakeConn {
	return &fakeConn{
		toClient:   make(chan []byte, 1024),
		fromClient: make(chan []byte, 1024),
		closed:     make(chan struct{}),
	}
}

func (f *fakeConn) ReadMessage() (protocol.TransferFormat, []byte, error) {
	select {
	case b := <-f.toClient:
		return protocol.TransferFormatText, b, nil
	case <-f.closed:
		return 0, nil, io.EOF
	}
}

func (f *fakeConn) WriteMessage(ctx context.Context, p []byte) error {
	b := append([]byte(nil), p...)
	select {
	case f.fromClient <- b:
		return nil
	case <-f.closed:
		return io.ErrClosedPipe
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeConn) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// peer is the server side of a fakeConn.
type peer struct {
	t    *testing.T
	conn *fakeConn
	msgs []*protocol.Message // parsed but not yet returned by next
}

// send writes raw transport data to the client.
func (p *peer) send(data string) { p.conn.toClient <- []byte(data) }

// sendMessage writes one message to the client.
func (p *peer) sendMessage(m *protocol.Message) {
	b, err := protocol.JSON{}.AppendMessage(nil, m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.conn.toClient <- b
}

// next returns the next message the client sent, skipping pings unless
// wantPing is set.
func (p *peer) next(wantPing bool) *protocol.Message {
	p.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for len(p.msgs) > 0 {
			m := p.msgs[0]
			p.msgs = p.msgs[1:]
			if m.Type == protocol.TypePing && !wantPing {
				continue
			}
			return m
		}
		select {
		case b := <-p.conn.fromClient:
			var f protocol.Framer
			f.Feed(b)
			for {
				rec, err := f.Next()
				if err != nil {
					p.t.Fatalf("client sent invalid framing: %v", err)
				}
				if rec == nil {
					break
				}
				m := new(protocol.Message)
				if err := (protocol.JSON{}).ParseMessage(rec, m); err != nil {
					p.t.Fatalf("client sent invalid message %q: %v", rec, err)
				}
				p.msgs = append(p.msgs, m.Clone())
			}
		case <-deadline:
			p.t.Fatal("timed out waiting for a message from the client")
			return nil
		}
	}
}

// acceptHandshake reads the handshake request and replies with response.
func (p *peer) acceptHandshake(response string) protocol.HandshakeRequest {
	p.t.Helper()
	select {
	case b := <-p.conn.fromClient:
		rec, _, ok := protocol.SplitRecord(b)
		if !ok {
			p.t.Fatalf("handshake request %q has no record separator", b)
		}
		req, err := protocol.ParseHandshakeRequest(rec)
		if err != nil {
			p.t.Fatal(err)
		}
		if response != "" {
			p.send(response)
		}
		return req
	case <-time.After(5 * time.Second):
		p.t.Fatal("no handshake request")
	}
	return protocol.HandshakeRequest{}
}

// newTestClient returns a client wired to a fake connection.
func newTestClient(t *testing.T, cfg Config) (*Client, *peer) {
	t.Helper()
	fc := newFakeConn()
	c := NewClient("http://127.0.0.1/hub", cfg)
	c.dial = func(ctx context.Context) (transportConn, string, error) {
		return fc, "conn-1", nil
	}
	return c, &peer{t: t, conn: fc}
}

// startTestClient starts a client against a fake peer that accepts the
// handshake.
func startTestClient(t *testing.T, cfg Config) (*Client, *peer) {
	t.Helper()
	c, p := newTestClient(t, cfg)
	errc := make(chan error, 1)
	go func() { errc <- c.Start(context.Background()) }()
	p.acceptHandshake("{}\x1e")
	if err := <-errc; err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c, p
}

var errTest = errors.New("test error")
