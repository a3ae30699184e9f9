//go:build !race

// The race detector allocates on its own, so these tests run only without
// it.

package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/transport"
)

// AllocsPerRun counts the allocations of every goroutine, so the servers in
// this file allocate nothing per message either.

// quietEcho echoes data messages without allocating per message: one
// buffer for the largest payload, fixed header buffers, one write per
// frame. It stops at the first error, a close frame included.
func quietEcho(nc net.Conn) {
	br := bufio.NewReader(nc)
	readHeader := make([]byte, ws.MaxHeaderSize)
	frame := make([]byte, 0, 64<<10)
	writeHeader := make([]byte, ws.MaxHeaderSize)
	out := writerFunc(func(p []byte) (int, error) {
		frame = append(frame, p...)
		return len(p), nil
	})
	payload := make([]byte, 64<<10)
	for {
		h, err := ws.ReadHeaderBuffer(br, readHeader)
		if err != nil || h.OpCode.IsControl() || h.Length > int64(len(payload)) {
			return
		}
		p := payload[:h.Length]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		ws.Cipher(p, h.Mask, 0)

		frame = frame[:0]
		ws.WriteHeaderBuffer(out, ws.Header{Fin: true, OpCode: h.OpCode, Length: h.Length}, writeHeader)
		frame = append(frame, p...)
		if _, err := nc.Write(frame); err != nil {
			return
		}
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestWebSocketSteadyStateAllocs(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) { quietEcho(c.Conn) })
	c := dial(t, srv.url, transport.DialOptions{})
	msg := bytes.Repeat([]byte("x"), 200)
	ctx := context.Background()

	roundTrip := func() {
		if err := c.WriteMessage(ctx, transport.OpcodeText, msg); err != nil {
			t.Fatalf("WriteMessage: %v", err)
		}
		op, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if op != transport.OpcodeText || len(p) != len(msg) {
			t.Fatalf("ReadMessage = %v, %d bytes; want Text, %d bytes", op, len(p), len(msg))
		}
	}
	// Let buffers and the runtime's timers and pollers settle.
	for range 100 {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(1000, roundTrip); allocs != 0 {
		t.Errorf("WriteMessage and ReadMessage of %d bytes: %v allocations per round trip; want 0", len(msg), allocs)
	}
}

func TestWebSocketAllocsWithDeadline(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) { quietEcho(c.Conn) })
	c := dial(t, srv.url, transport.DialOptions{})
	msg := bytes.Repeat([]byte("x"), 200)
	// Converted to the interface once, which allocates.
	var ctx context.Context = deadlineContext{Context: context.Background(), deadline: time.Now().Add(time.Hour)}

	roundTrip := func() {
		if err := c.WriteMessage(ctx, transport.OpcodeText, msg); err != nil {
			t.Fatalf("WriteMessage: %v", err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
	}
	for range 100 {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(1000, roundTrip); allocs != 0 {
		t.Errorf("round trip with a deadline context: %v allocations; want 0", allocs)
	}

	cancelable, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := c.WriteMessage(cancelable, transport.OpcodeText, msg); err != nil {
			t.Fatalf("WriteMessage: %v", err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("round trip with a cancelable context: %v allocations; want 0", allocs)
	}
}
