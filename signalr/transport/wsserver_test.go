package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/transport"
)

// This file holds a small WebSocket server for the tests, built on gobwas/ws
// and listening on 127.0.0.1.

// testTimeout bounds every blocking step of a test, so that a bug shows up
// as a failure, not a hang.
const testTimeout = 10 * time.Second

// handshakeRequest is what the server saw of a handshake request.
type handshakeRequest struct {
	uri    string
	header http.Header
}

// wsServer accepts WebSocket connections and runs handle on each one, in
// its own goroutine, after the handshake.
type wsServer struct {
	t      *testing.T
	ln     net.Listener
	url    string // http URL of the hub, which the client turns into ws
	handle func(c *serverConn)

	mu       sync.Mutex
	requests []handshakeRequest

	wg sync.WaitGroup
}

func startWSServer(t *testing.T, handle func(c *serverConn)) *wsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &wsServer{t: t, ln: ln, url: "http://" + ln.Addr().String() + "/hub", handle: handle}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *wsServer) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serve(nc)
	}
}

func (s *wsServer) serve(nc net.Conn) {
	defer s.wg.Done()
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))

	req := handshakeRequest{header: http.Header{}}
	upgrader := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			req.uri = string(uri)
			return nil
		},
		OnHost: func(host []byte) error {
			req.header.Set("Host", string(host))
			return nil
		},
		OnHeader: func(key, value []byte) error {
			req.header.Add(string(key), string(value))
			return nil
		},
		// Recorded before the 101 response goes out, so a client that has
		// finished dialing finds it.
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			s.mu.Lock()
			s.requests = append(s.requests, req)
			s.mu.Unlock()
			return nil, nil
		},
	}
	if _, err := upgrader.Upgrade(nc); err != nil {
		s.t.Errorf("server: handshake failed: %v", err)
		return
	}

	s.handle(&serverConn{t: s.t, Conn: nc, br: bufio.NewReader(nc)})
}

// request returns the i-th handshake request the server accepted.
func (s *wsServer) request(i int) handshakeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.requests) {
		s.t.Fatalf("server saw %d handshakes; want at least %d", len(s.requests), i+1)
	}
	return s.requests[i]
}

// close stops the server and waits for the handlers to return. They end
// when the client closes or at their testTimeout deadline; they are not
// interrupted, so that their checks run to the end.
func (s *wsServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// serverConn is the server side of one WebSocket connection.
type serverConn struct {
	net.Conn
	t  *testing.T
	br *bufio.Reader
}

// readFrame reads one client frame and unmasks its payload. It reports an
// unmasked frame as a test error, because RFC 6455 requires clients to mask.
func (c *serverConn) readFrame() (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if !h.Masked {
		c.t.Errorf("server: client frame %v is not masked", h.OpCode)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return h, nil, err
	}
	ws.Cipher(payload, h.Mask, 0)
	return h, payload, nil
}

// readDataOrClose reads frames until a data or close frame arrives and
// returns it. It fails the test on pings, which the client never sends.
func (c *serverConn) readDataOrClose() (ws.Header, []byte, error) {
	for {
		h, p, err := c.readFrame()
		if err != nil || h.OpCode != ws.OpPong {
			return h, p, err
		}
	}
}

// writeFrame writes one unmasked server frame.
func (c *serverConn) writeFrame(op ws.OpCode, fin bool, payload []byte) {
	c.writeHeaderFrame(ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))}, payload)
}

// writeHeaderFrame writes a frame with a header the caller chooses, which
// may break RFC 6455. A masked header masks the payload with its key.
// Errors are test errors, except for close frames: the client closes the
// socket right after its own close frame, so a reply may find it gone.
func (c *serverConn) writeHeaderFrame(h ws.Header, payload []byte) {
	p := append([]byte(nil), payload...)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	var frame bytes.Buffer
	ws.WriteHeader(&frame, h)
	frame.Write(p)
	if _, err := c.Write(frame.Bytes()); err != nil && h.OpCode != ws.OpClose {
		c.t.Errorf("server: write %v frame: %v", h.OpCode, err)
	}
}

func (c *serverConn) writeClose(code ws.StatusCode, reason string) {
	c.writeFrame(ws.OpClose, true, ws.NewCloseFrameBody(code, reason))
}

// expectClose reads frames until a close frame and checks its status code.
// Code 0 expects a close frame without a body.
func (c *serverConn) expectClose(code ws.StatusCode) {
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Errorf("server: reading the client's close frame: %v", err)
			return
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		if code == 0 {
			if len(p) != 0 {
				c.t.Errorf("server: close frame payload = %q; want none", p)
			}
			return
		}
		if len(p) < 2 {
			c.t.Errorf("server: close frame payload = %q; want status %d", p, code)
			return
		}
		if got := ws.StatusCode(binary.BigEndian.Uint16(p)); got != code {
			c.t.Errorf("server: close status = %d; want %d", got, code)
		}
		return
	}
}

// echo sends every data message back until the client closes, then replies to
// the close frame.
func echo(c *serverConn) {
	for {
		h, p, err := c.readDataOrClose()
		if err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			c.writeFrame(ws.OpClose, true, p)
			return
		}
		if !h.Fin {
			c.t.Errorf("server: client sent a fragmented message")
		}
		c.writeFrame(h.OpCode, true, p)
	}
}

// rawServer accepts one TCP connection on 127.0.0.1 and hands it, with the
// handshake request already read, to handle. It serves cases the gobwas
// upgrader cannot produce, such as frames in the same write as the 101
// response.
func rawServer(t *testing.T, handle func(nc net.Conn, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			t.Errorf("raw server: reading the handshake: %v", err)
			return
		}
		handle(nc, req)
	}()
	return "http://" + ln.Addr().String() + "/hub"
}

// switchingProtocols returns the 101 response to a handshake request.
func switchingProtocols(req *http.Request) string {
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
}

// serverFrame returns the bytes of an unmasked server frame.
func serverFrame(op ws.OpCode, payload string) string {
	var b strings.Builder
	ws.WriteFrame(&b, ws.NewFrame(op, true, []byte(payload)))
	return b.String()
}

// dial opens a client connection to the hub at hubURL with token "token".
// A watchdog closes the connection after testTimeout so that a blocked
// ReadMessage cannot hang the test.
func dial(t *testing.T, hubURL string, opts transport.DialOptions) *transport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := transport.DialWebSocket(ctx, hubURL, "token", opts)
	if err != nil {
		t.Fatalf("DialWebSocket(%s): %v", hubURL, err)
	}
	watchdog := time.AfterFunc(testTimeout, func() { c.Close() })
	t.Cleanup(func() {
		watchdog.Stop()
		c.Close()
	})
	return c
}

// readMessage calls ReadMessage and fails the test on an error.
func readMessage(t *testing.T, c *transport.Conn) (transport.Opcode, string) {
	t.Helper()
	op, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	return op, string(p)
}
