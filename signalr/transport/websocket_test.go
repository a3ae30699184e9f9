package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

func TestWebSocketURL(t *testing.T) {
	tests := []struct {
		hubURL string
		token  string
		want   string
	}{
		{"http://example.com", "", "ws://example.com"},
		{"https://example.com", "", "wss://example.com"},
		{"ws://example.com", "", "ws://example.com"},
		{"wss://example.com", "", "wss://example.com"},
		{"http://example.com/hub", "abc", "ws://example.com/hub?id=abc"},
		{"https://example.com:8443/hub?app=1", "abc", "wss://example.com:8443/hub?app=1&id=abc"},
		{"http://example.com/hub#frag", "a b/c+d=", "ws://example.com/hub?id=a+b%2Fc%2Bd%3D"},
		{"http://[::1]:5000/hub/", "x", "ws://[::1]:5000/hub/?id=x"},
	}
	for _, tt := range tests {
		got, err := transport.WebSocketURL(tt.hubURL, tt.token)
		if err != nil {
			t.Errorf("WebSocketURL(%q, %q) error: %v", tt.hubURL, tt.token, err)
			continue
		}
		if got != tt.want {
			t.Errorf("WebSocketURL(%q, %q) = %q; want %q", tt.hubURL, tt.token, got, tt.want)
		}
	}

	for _, hubURL := range []string{"ftp://example.com/hub", "example.com/hub", "http:///hub"} {
		if _, err := transport.WebSocketURL(hubURL, "x"); !errors.Is(err, transport.ErrInvalidURL) {
			t.Errorf("WebSocketURL(%q) error = %v; want ErrInvalidURL", hubURL, err)
		}
	}
}

func TestOpcodeFor(t *testing.T) {
	if got := transport.OpcodeFor(protocol.TransferFormatText); got != transport.OpcodeText {
		t.Errorf("OpcodeFor(Text) = %v; want Text", got)
	}
	if got := transport.OpcodeFor(protocol.TransferFormatBinary); got != transport.OpcodeBinary {
		t.Errorf("OpcodeFor(Binary) = %v; want Binary", got)
	}
	if got := transport.OpcodeText.String(); got != "Text" {
		t.Errorf("OpcodeText.String() = %q; want Text", got)
	}
	if got := transport.Opcode(9).String(); got != "Opcode(0x9)" {
		t.Errorf("Opcode(9).String() = %q; want Opcode(0x9)", got)
	}
}

func TestWebSocketEcho(t *testing.T) {
	srv := startWSServer(t, echo)
	c := dial(t, srv.url, transport.DialOptions{})
	ctx := context.Background()

	for _, op := range []transport.Opcode{transport.OpcodeText, transport.OpcodeBinary} {
		for _, size := range []int{0, 1, 125, 126, 200, 65535, 65536, 100_000} {
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte('a' + i%26)
			}
			sent := bytes.Clone(payload)

			if err := c.WriteMessage(ctx, op, payload); err != nil {
				t.Fatalf("WriteMessage(%v, %d bytes): %v", op, size, err)
			}
			if !bytes.Equal(payload, sent) {
				t.Fatalf("WriteMessage(%v, %d bytes) modified the payload", op, size)
			}
			gotOp, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage after %d bytes: %v", size, err)
			}
			if gotOp != op {
				t.Errorf("ReadMessage opcode = %v; want %v", gotOp, op)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("ReadMessage returned %d bytes; want the %d bytes sent", len(got), size)
			}
		}
	}
}

func TestWebSocketWriteInvalidOpcode(t *testing.T) {
	srv := startWSServer(t, echo)
	c := dial(t, srv.url, transport.DialOptions{})
	for _, op := range []transport.Opcode{0, 0x8, 0x9, 0xa} {
		if err := c.WriteMessage(context.Background(), op, []byte("x")); err == nil {
			t.Errorf("WriteMessage(%v) succeeded; want an error", op)
		}
	}
	// The connection is still usable.
	if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMessage(t, c); got != "ok" {
		t.Errorf("ReadMessage = %q; want ok", got)
	}
}

func TestWebSocketHandshake(t *testing.T) {
	srv := startWSServer(t, echo)
	var calls atomic.Int32
	header := http.Header{"X-Test": {"1"}}
	opts := transport.DialOptions{
		Header: header,
		AccessTokenProvider: func(ctx context.Context) (string, error) {
			calls.Add(1)
			return "tok", nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := transport.DialWebSocket(ctx, srv.url+"?app=1", "a b/c", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	req := srv.request(0)
	u, err := url.ParseRequestURI(req.uri)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/hub" {
		t.Errorf("path = %q; want /hub", u.Path)
	}
	if got := u.Query().Get("id"); got != "a b/c" {
		t.Errorf("id = %q; want the connection token", got)
	}
	if got := u.Query().Get("app"); got != "1" {
		t.Errorf("app = %q; want the hub URL's query kept", got)
	}
	if got := req.header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("Authorization = %q; want Bearer tok", got)
	}
	if got := req.header.Get("X-Test"); got != "1" {
		t.Errorf("X-Test = %q; want 1", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("provider called %d times; want 1", n)
	}
	if len(header) != 1 {
		t.Errorf("DialWebSocket modified the caller's header: %v", header)
	}
}

func TestWebSocketHandshakeCallerAuthorization(t *testing.T) {
	srv := startWSServer(t, echo)
	var calls atomic.Int32
	dial(t, srv.url, transport.DialOptions{
		Header: http.Header{"Authorization": {"res U-1:abc"}, "Host": {"hub.example"}},
		AccessTokenProvider: func(ctx context.Context) (string, error) {
			calls.Add(1)
			return "tok", nil
		},
	})
	req := srv.request(0)
	if got := req.header.Values("Authorization"); len(got) != 1 || got[0] != "res U-1:abc" {
		t.Errorf("Authorization = %q; want only the caller's header", got)
	}
	if got := req.header.Get("Host"); got != "hub.example" {
		t.Errorf("Host = %q; want the caller's Host header", got)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("provider called %d times; want 0", n)
	}
}

func TestWebSocketSkippedNegotiation(t *testing.T) {
	srv := startWSServer(t, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	wsURL := strings.Replace(srv.url, "http://", "ws://", 1)
	c, err := transport.DialWebSocket(ctx, wsURL, "", transport.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if uri := srv.request(0).uri; uri != "/hub" {
		t.Errorf("request URI = %q; want /hub without an id", uri)
	}
}

func TestWebSocketDialErrors(t *testing.T) {
	srv := startWSServer(t, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	_, err := transport.DialWebSocket(ctx, srv.url, "t", transport.DialOptions{
		Header: http.Header{"Sec-WebSocket-Protocol": {"x"}},
	})
	if !errors.Is(err, transport.ErrInvalidHeader) {
		t.Errorf("reserved header: error = %v; want ErrInvalidHeader", err)
	}

	errToken := errors.New("no token")
	_, err = transport.DialWebSocket(ctx, srv.url, "t", transport.DialOptions{
		AccessTokenProvider: func(ctx context.Context) (string, error) { return "", errToken },
	})
	if !errors.Is(err, errToken) {
		t.Errorf("provider failure: error = %v; want the provider's error", err)
	}

	_, err = transport.DialWebSocket(ctx, "ftp://127.0.0.1/hub", "t", transport.DialOptions{})
	if !errors.Is(err, transport.ErrInvalidURL) {
		t.Errorf("ftp URL: error = %v; want ErrInvalidURL", err)
	}

	canceled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	_, err = transport.DialWebSocket(canceled, srv.url, "t", transport.DialOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error = %v; want context.Canceled", err)
	}
}

func TestWebSocketHandshakeStatus(t *testing.T) {
	hubURL := rawServer(t, func(nc net.Conn, req *http.Request) {
		io.WriteString(nc, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := transport.DialWebSocket(ctx, hubURL, "secret-token", transport.DialOptions{})
	var statusErr *transport.StatusError
	if !errors.As(err, &statusErr) {
		t.Fatalf("error = %v; want a *StatusError", err)
	}
	if statusErr.StatusCode != http.StatusNotFound {
		t.Errorf("StatusCode = %d; want 404", statusErr.StatusCode)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q contains the connection token", err)
	}
	if strings.Contains(err.Error(), "not a SignalR hub") {
		t.Errorf("error %q has the negotiate hint; a 404 here means an unknown connection id", err)
	}
}

func TestWebSocketDataWith101(t *testing.T) {
	hubURL := rawServer(t, func(nc net.Conn, req *http.Request) {
		// One write, so the client most likely reads the frames together
		// with the response.
		io.WriteString(nc, switchingProtocols(req)+serverFrame(ws.OpText, "first")+serverFrame(ws.OpBinary, "second"))
		io.Copy(io.Discard, nc)
	})
	c := dial(t, hubURL, transport.DialOptions{})
	if op, got := readMessage(t, c); op != transport.OpcodeText || got != "first" {
		t.Errorf("first message = %v %q; want Text \"first\"", op, got)
	}
	if op, got := readMessage(t, c); op != transport.OpcodeBinary || got != "second" {
		t.Errorf("second message = %v %q; want Binary \"second\"", op, got)
	}
}

func TestWebSocketFragmented(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		c.writeFrame(ws.OpText, false, []byte("Hello, "))
		c.writeFrame(ws.OpPing, true, []byte("p1"))
		c.writeFrame(ws.OpContinuation, false, []byte("fragmented "))
		c.writeFrame(ws.OpPong, true, nil)
		c.writeFrame(ws.OpContinuation, false, nil)
		c.writeFrame(ws.OpContinuation, true, []byte("world"))

		c.writeFrame(ws.OpBinary, false, []byte{1, 2})
		c.writeFrame(ws.OpContinuation, true, []byte{3})

		h, p, err := c.readFrame()
		if err != nil || h.OpCode != ws.OpPong || string(p) != "p1" {
			t.Errorf("server: frame after the ping = %v %q, %v; want a pong with p1", h.OpCode, p, err)
		}
		echo(c)
	})
	c := dial(t, srv.url, transport.DialOptions{})

	if op, got := readMessage(t, c); op != transport.OpcodeText || got != "Hello, fragmented world" {
		t.Errorf("message = %v %q; want Text \"Hello, fragmented world\"", op, got)
	}
	if op, got := readMessage(t, c); op != transport.OpcodeBinary || got != "\x01\x02\x03" {
		t.Errorf("message = %v %q; want Binary 01 02 03", op, got)
	}
}

func TestWebSocketPing(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		c.writeFrame(ws.OpPing, true, []byte("abc"))
		c.writeFrame(ws.OpPing, true, nil)
		c.writeFrame(ws.OpText, true, []byte("after"))
		for _, want := range []string{"abc", ""} {
			h, p, err := c.readFrame()
			if err != nil || h.OpCode != ws.OpPong || string(p) != want {
				t.Errorf("server: frame = %v %q, %v; want a pong with %q", h.OpCode, p, err, want)
			}
		}
		echo(c)
	})
	c := dial(t, srv.url, transport.DialOptions{})
	if _, got := readMessage(t, c); got != "after" {
		t.Errorf("message = %q; want after", got)
	}
}

func TestWebSocketCloseNormal(t *testing.T) {
	serverDone := make(chan struct{})
	srv := startWSServer(t, func(c *serverConn) {
		defer close(serverDone)
		c.writeClose(ws.StatusNormalClosure, "bye")
		c.expectClose(ws.StatusNormalClosure)
		if h, _, err := c.readFrame(); err == nil {
			t.Errorf("server: frame %v after the close frame; want the connection closed", h.OpCode)
		}
	})
	c := dial(t, srv.url, transport.DialOptions{})

	for range 2 {
		if _, _, err := c.ReadMessage(); err != io.EOF {
			t.Errorf("ReadMessage error = %v; want io.EOF", err)
		}
	}
	if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("x")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("WriteMessage after close: error = %v; want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the server closed: %v", err)
	}
	<-serverDone
}

func TestWebSocketCloseStatus(t *testing.T) {
	tests := []struct {
		name       string
		payload    []byte
		wantCode   int
		wantReason string
		echo       ws.StatusCode // 0: a close frame without a body
	}{
		{
			name:       "internal error",
			payload:    ws.NewCloseFrameBody(ws.StatusInternalServerError, "boom"),
			wantCode:   1011,
			wantReason: "boom",
			echo:       ws.StatusInternalServerError,
		},
		{
			name:     "going away",
			payload:  ws.NewCloseFrameBody(ws.StatusGoingAway, ""),
			wantCode: 1001,
			echo:     ws.StatusGoingAway,
		},
		{
			name:     "no status",
			payload:  nil,
			wantCode: 1005,
			echo:     0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startWSServer(t, func(c *serverConn) {
				c.writeFrame(ws.OpClose, true, tt.payload)
				c.expectClose(tt.echo)
			})
			c := dial(t, srv.url, transport.DialOptions{})

			_, _, err := c.ReadMessage()
			var closeErr *transport.CloseError
			if !errors.As(err, &closeErr) {
				t.Fatalf("ReadMessage error = %v; want a *CloseError", err)
			}
			if closeErr.Code != tt.wantCode {
				t.Errorf("Code = %d; want %d", closeErr.Code, tt.wantCode)
			}
			if closeErr.Reason != tt.wantReason {
				t.Errorf("Reason = %q; want %q", closeErr.Reason, tt.wantReason)
			}
			if _, _, again := c.ReadMessage(); again != err {
				t.Errorf("second ReadMessage error = %v; want the same error", again)
			}
			werr := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("x"))
			if !errors.Is(werr, transport.ErrClosed) || !errors.As(werr, &closeErr) {
				t.Errorf("WriteMessage error = %v; want ErrClosed with the *CloseError", werr)
			}
		})
	}
}

func TestWebSocketMaxMessageSize(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
		fail   bool
	}{
		{name: "at limit", frames: [][]byte{make([]byte, 1000)}},
		{name: "over limit", frames: [][]byte{make([]byte, 1001)}, fail: true},
		{name: "fragments at limit", frames: [][]byte{make([]byte, 600), make([]byte, 400)}},
		{name: "fragments over limit", frames: [][]byte{make([]byte, 600), make([]byte, 401)}, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startWSServer(t, func(c *serverConn) {
				for i, f := range tt.frames {
					op := ws.OpBinary
					if i > 0 {
						op = ws.OpContinuation
					}
					c.writeFrame(op, i == len(tt.frames)-1, f)
				}
				if tt.fail {
					c.expectClose(ws.StatusMessageTooBig)
					return
				}
				echo(c)
			})
			c := dial(t, srv.url, transport.DialOptions{MaxMessageSize: 1000})

			_, p, err := c.ReadMessage()
			if !tt.fail {
				if err != nil || len(p) != 1000 {
					t.Errorf("ReadMessage = %d bytes, %v; want 1000 bytes", len(p), err)
				}
				return
			}
			if !errors.Is(err, transport.ErrMessageTooLarge) {
				t.Errorf("ReadMessage error = %v; want ErrMessageTooLarge", err)
			}
		})
	}
}

func TestWebSocketDefaultMaxMessageSize(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		// Only the header: the limit applies to the declared length.
		ws.WriteHeader(c.Conn, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: transport.DefaultMaxMessageSize + 1})
		c.expectClose(ws.StatusMessageTooBig)
	})
	c := dial(t, srv.url, transport.DialOptions{})
	if _, _, err := c.ReadMessage(); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("ReadMessage error = %v; want ErrMessageTooLarge", err)
	}
}

func TestWebSocketProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		write func(c *serverConn)
		code  ws.StatusCode
	}{
		{
			name: "masked frame",
			write: func(c *serverConn) {
				c.writeHeaderFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 2}, []byte("hi"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "reserved opcode",
			write: func(c *serverConn) {
				c.writeHeaderFrame(ws.Header{Fin: true, OpCode: 0x3, Length: 1}, []byte("x"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "rsv bit",
			write: func(c *serverConn) {
				c.writeHeaderFrame(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Length: 1}, []byte("x"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "continuation first",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpContinuation, true, []byte("x"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "new message inside fragmented one",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpText, false, []byte("a"))
				c.writeFrame(ws.OpText, true, []byte("b"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "fragmented ping",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpPing, false, []byte("x"))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "oversize ping",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpPing, true, make([]byte, 126))
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "invalid close code",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpClose, true, []byte{0x03, 0xe7}) // 999
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "one byte close payload",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpClose, true, []byte{0x03})
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "invalid UTF-8 close reason",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpClose, true, []byte{0x03, 0xe8, 0xff})
			},
			code: ws.StatusProtocolError,
		},
		{
			name: "invalid UTF-8 text",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpText, true, []byte{'a', 0xff, 'b'})
			},
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "UTF-8 split across fragments is valid until the end",
			write: func(c *serverConn) {
				c.writeFrame(ws.OpText, false, []byte{0xe2, 0x82}) // first two bytes of "€"
				c.writeFrame(ws.OpContinuation, true, []byte{'x'})
			},
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "64-bit length with the top bit set",
			write: func(c *serverConn) {
				c.Write([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
			},
			code: ws.StatusProtocolError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startWSServer(t, func(c *serverConn) {
				tt.write(c)
				c.expectClose(tt.code)
			})
			c := dial(t, srv.url, transport.DialOptions{})
			if _, _, err := c.ReadMessage(); !errors.Is(err, transport.ErrProtocol) {
				t.Errorf("ReadMessage error = %v; want ErrProtocol", err)
			}
			if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("x")); !errors.Is(err, transport.ErrClosed) {
				t.Errorf("WriteMessage error = %v; want ErrClosed", err)
			}
		})
	}
}

func TestWebSocketValidFragmentedUTF8(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		c.writeFrame(ws.OpText, false, []byte{0xe2, 0x82})
		c.writeFrame(ws.OpContinuation, true, []byte{0xac})
		echo(c)
	})
	c := dial(t, srv.url, transport.DialOptions{})
	if _, got := readMessage(t, c); got != "€" {
		t.Errorf("message = %q; want €", got)
	}
}

func TestWebSocketEOFWithoutClose(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial frame %v", partial), func(t *testing.T) {
			srv := startWSServer(t, func(c *serverConn) {
				if partial {
					c.Write([]byte{0x81, 10, 'a', 'b'})
				}
				// Returning closes the TCP connection without a close frame.
			})
			c := dial(t, srv.url, transport.DialOptions{})
			_, _, err := c.ReadMessage()
			if err == io.EOF || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ReadMessage error = %v; want one that wraps io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestWebSocketConcurrentWriters(t *testing.T) {
	const writers, messages = 8, 40
	srv := startWSServer(t, func(c *serverConn) {
		next := make([]int, writers)
		for received := 0; received < writers*messages; received++ {
			h, p, err := c.readDataOrClose()
			if err != nil {
				t.Errorf("server: after %d messages: %v", received, err)
				return
			}
			if !h.Fin || h.OpCode != ws.OpText {
				t.Errorf("server: frame %v fin=%v; want whole text messages", h.OpCode, h.Fin)
				return
			}
			var w, m, size int
			if _, err := fmt.Sscanf(string(p), "w%d m%d n%d ", &w, &m, &size); err != nil || len(p) != size {
				t.Errorf("server: corrupt message of %d bytes starting %q", len(p), p[:min(len(p), 30)])
				return
			}
			if m != next[w] {
				t.Errorf("server: writer %d message %d arrived; want %d", w, m, next[w])
			}
			next[w] = m + 1
		}
		c.writeFrame(ws.OpText, true, []byte("done"))
		echo(c)
	})
	c := dial(t, srv.url, transport.DialOptions{})

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for m := range messages {
				size := 40 + (w*7919+m*104729)%50_000
				msg := fmt.Appendf(nil, "w%d m%d n%d ", w, m, size)
				msg = append(msg, bytes.Repeat([]byte{byte('a' + w)}, size-len(msg))...)
				if err := c.WriteMessage(context.Background(), transport.OpcodeText, msg); err != nil {
					t.Errorf("writer %d: WriteMessage: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, got := readMessage(t, c); got != "done" {
		t.Errorf("message = %q; want done", got)
	}
}

func TestWebSocketCloseIdempotent(t *testing.T) {
	serverDone := make(chan struct{})
	srv := startWSServer(t, func(c *serverConn) {
		defer close(serverDone)
		closes := 0
		for {
			h, _, err := c.readFrame()
			if err != nil {
				break
			}
			if h.OpCode == ws.OpClose {
				closes++
			}
		}
		if closes != 1 {
			t.Errorf("server: received %d close frames; want 1", closes)
		}
	})
	c := dial(t, srv.url, transport.DialOptions{})

	if err := c.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := c.ReadMessage(); err != transport.ErrClosed {
		t.Errorf("ReadMessage after Close: error = %v; want ErrClosed", err)
	}
	if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("x")); err != transport.ErrClosed {
		t.Errorf("WriteMessage after Close: error = %v; want ErrClosed", err)
	}
	<-serverDone
}

func TestWebSocketCloseUnblocksRead(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		c.expectClose(ws.StatusNormalClosure)
	})
	c := dial(t, srv.url, transport.DialOptions{})

	result := make(chan error)
	go func() {
		_, _, err := c.ReadMessage()
		result <- err
	}()
	c.Close()
	if err := <-result; !errors.Is(err, transport.ErrClosed) {
		t.Errorf("ReadMessage error = %v; want ErrClosed", err)
	}
}

func TestWebSocketCloseDuringWrites(t *testing.T) {
	srv := startWSServer(t, func(c *serverConn) {
		for {
			h, _, err := c.readFrame()
			if err != nil {
				t.Errorf("server: connection ended without a close frame: %v", err)
				return
			}
			if h.OpCode == ws.OpClose {
				break
			}
		}
		if h, _, err := c.readFrame(); err == nil {
			t.Errorf("server: frame %v after the close frame", h.OpCode)
		}
	})
	c := dial(t, srv.url, transport.DialOptions{})

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				err := c.WriteMessage(context.Background(), transport.OpcodeBinary, make([]byte, 1000))
				if err != nil {
					if !errors.Is(err, transport.ErrClosed) {
						t.Errorf("WriteMessage error = %v; want ErrClosed", err)
					}
					return
				}
			}
		})
	}
	c.Close()
	wg.Wait()
}

// blockingDial returns a NetDial function that shrinks the client socket's
// send buffer, so that a large write blocks soon when the server does not
// read. The returned channel is closed when the first write of a large
// frame starts, at which point WriteMessage holds the write lock.
func blockingDial() (func(ctx context.Context, network, addr string) (net.Conn, error), <-chan struct{}) {
	started := make(chan struct{})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
		return &signalConn{Conn: nc, started: started}, nil
	}
	return dial, started
}

// signalConn closes started when a write of more than 16 KiB begins.
type signalConn struct {
	net.Conn
	once    sync.Once
	started chan struct{}
}

func (c *signalConn) Write(p []byte) (int, error) {
	if len(p) > 16<<10 {
		c.once.Do(func() { close(c.started) })
	}
	return c.Conn.Write(p)
}

// stalledServer accepts connections and reads nothing from them until
// release is called or the test ends. Then it closes the connection.
func stalledServer(t *testing.T) (srv *wsServer, release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	srv = startWSServer(t, func(c *serverConn) {
		c.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		<-ch
	})
	t.Cleanup(release)
	return srv, release
}

// waitFor waits for ch to close, failing the test after testTimeout.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// deadlineContext has a deadline but cannot be canceled, so only the
// socket deadline, not a context timer, can end a write.
type deadlineContext struct {
	context.Context
	deadline time.Time
}

func (c deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }

func TestWebSocketWriteDeadline(t *testing.T) {
	srv, _ := stalledServer(t)
	netDial, _ := blockingDial()
	c := dial(t, srv.url, transport.DialOptions{NetDial: netDial})

	ctx := deadlineContext{Context: context.Background(), deadline: time.Now().Add(100 * time.Millisecond)}
	err := c.WriteMessage(ctx, transport.OpcodeBinary, make([]byte, 64<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WriteMessage error = %v; want context.DeadlineExceeded", err)
	}
	if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("x")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("WriteMessage after the interrupted write: error = %v; want ErrClosed", err)
	}
	if _, _, err := c.ReadMessage(); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("ReadMessage after the interrupted write: error = %v; want ErrClosed", err)
	}
}

func TestWebSocketWriteCancelDuringWrite(t *testing.T) {
	// Canceling a write that has started does not interrupt it: the
	// message goes out whole and the connection stays usable.
	srv := startWSServer(t, echo)
	netDial, started := blockingDial()
	c := dial(t, srv.url, transport.DialOptions{NetDial: netDial})

	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan struct{})
	go func() {
		<-started
		cancel()
		close(canceled)
	}()
	msg := bytes.Repeat([]byte("m"), 1<<20)
	if err := c.WriteMessage(ctx, transport.OpcodeBinary, msg); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	waitFor(t, canceled, "the cancellation")
	if _, got := readMessage(t, c); got != string(msg) {
		t.Errorf("echo of %d bytes; want the %d bytes sent", len(got), len(msg))
	}
	if err := c.WriteMessage(context.Background(), transport.OpcodeText, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMessage(t, c); got != "after" {
		t.Errorf("message = %q; want after", got)
	}
}

func TestWebSocketWriteCancelWaitingForLock(t *testing.T) {
	srv, release := stalledServer(t)
	netDial, started := blockingDial()
	c := dial(t, srv.url, transport.DialOptions{NetDial: netDial})

	stuckDone := make(chan error, 1)
	go func() {
		stuckDone <- c.WriteMessage(context.Background(), transport.OpcodeBinary, make([]byte, 64<<20))
	}()
	waitFor(t, started, "the large write to start")

	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- c.WriteMessage(ctx, transport.OpcodeText, []byte("x")) }()
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting WriteMessage error = %v; want context.Canceled", err)
	}

	release()
	if err := <-stuckDone; err == nil {
		t.Error("stuck WriteMessage succeeded after the server closed; want an error")
	}
}

func TestWebSocketWriteWaitsForLock(t *testing.T) {
	// A write stuck on a stalled server holds the lock. A second writer
	// waiting for the lock gives up when its context ends, and the
	// connection stays as it was.
	srv, release := stalledServer(t)
	netDial, started := blockingDial()
	c := dial(t, srv.url, transport.DialOptions{NetDial: netDial})

	stuckDone := make(chan error, 1)
	go func() {
		stuckDone <- c.WriteMessage(context.Background(), transport.OpcodeBinary, make([]byte, 64<<20))
	}()
	waitFor(t, started, "the large write to start")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WriteMessage(ctx, transport.OpcodeText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting WriteMessage error = %v; want context.DeadlineExceeded", err)
	}

	// The server closes its socket with unread data, which resets the
	// connection and fails the stuck write.
	release()
	if err := <-stuckDone; err == nil {
		t.Error("stuck WriteMessage succeeded after the server closed; want an error")
	}
}

func TestWebSocketWriteCanceledBeforeStart(t *testing.T) {
	srv := startWSServer(t, echo)
	c := dial(t, srv.url, transport.DialOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WriteMessage(ctx, transport.OpcodeText, []byte("dropped")); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteMessage error = %v; want context.Canceled", err)
	}

	// Writes with cancelable contexts that end after the write leave the
	// connection usable.
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		err := c.WriteMessage(ctx, transport.OpcodeText, []byte("kept"))
		cancel()
		if err != nil {
			t.Fatalf("WriteMessage %d: %v", i, err)
		}
		if _, got := readMessage(t, c); got != "kept" {
			t.Fatalf("message %d = %q; want kept", i, got)
		}
	}
}

func TestWebSocketTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		echo(&serverConn{t: t, Conn: nc, br: rw.Reader})
	}))
	// The rejected handshake below would be logged to stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	_, err := transport.DialWebSocket(ctx, srv.URL+"/hub", "t", transport.DialOptions{})
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("dial with default TLS config: error = %v; want x509.UnknownAuthorityError", err)
	}

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := dial(t, srv.URL+"/hub", transport.DialOptions{TLSConfig: &tls.Config{RootCAs: roots}})
	if err := c.WriteMessage(ctx, transport.OpcodeText, []byte("secure")); err != nil {
		t.Fatal(err)
	}
	if _, got := readMessage(t, c); got != "secure" {
		t.Errorf("message = %q; want secure", got)
	}
	c.Close()
}

func TestWebSocketNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()

	srv := startWSServer(t, func(c *serverConn) {
		c.writeFrame(ws.OpPing, true, nil)
		echo(c)
	})
	c := dial(t, srv.url, transport.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	if err := c.WriteMessage(ctx, transport.OpcodeText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	cancel()
	readMessage(t, c)
	c.Close()
	srv.close()

	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the connection closed; want at most %d:\n%s",
			n, before, buf[:runtime.Stack(buf, true)])
	}
}
