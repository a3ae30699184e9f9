package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// readTimeout bounds every wait of the raw client, so that a test that
// expects a message the server never sends fails instead of hanging.
const readTimeout = 5 * time.Second

// startServer starts a server on a loopback port and closes it when the test
// ends.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	srv := NewServer(opts)
	if _, err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// httpClient returns an HTTP client whose idle connections are closed when
// the test ends, so that they do not count as leaked goroutines.
func httpClient(t testing.TB) *http.Client {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: readTimeout}
}

// negotiate posts to url and returns the status and the body.
func negotiate(t testing.TB, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the negotiate response: %v", err)
	}
	return resp.StatusCode, string(body)
}

// wsURL turns an http URL into a ws URL.
func wsURL(httpURL string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http")
}

// A rawClient is a minimal SignalR client over gobwas/ws that exposes the
// frames the server sends.
type rawClient struct {
	t      testing.TB
	conn   net.Conn
	src    io.Reader
	buf    []byte     // text of the last message not yet split into records
	frames []rawFrame // frames of the last message read
	closed bool       // the server sent a WebSocket close frame
}

// A rawFrame is one WebSocket frame from the server.
type rawFrame struct {
	op      ws.OpCode
	fin     bool
	payload []byte
}

// dialRaw connects to the hub URL (http form) and fails the test on error.
func dialRaw(t testing.TB, hubURL string, header http.Header) *rawClient {
	t.Helper()
	c, err := tryDialRaw(t, hubURL, header)
	if err != nil {
		t.Fatalf("dialing %s: %v", hubURL, err)
	}
	return c
}

// tryDialRaw connects to the hub URL and returns the dial error.
func tryDialRaw(t testing.TB, hubURL string, header http.Header) (*rawClient, error) {
	dialer := ws.Dialer{Timeout: readTimeout}
	if header != nil {
		dialer.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := dialer.Dial(context.Background(), wsURL(hubURL))
	if err != nil {
		return nil, err
	}
	c := &rawClient{t: t, conn: conn, src: conn}
	if br != nil {
		c.src = br
	}
	t.Cleanup(func() { conn.Close() })
	return c, nil
}

// sendFrame sends one masked frame.
func (c *rawClient) sendFrame(op ws.OpCode, fin bool, payload []byte) {
	c.t.Helper()
	frame := ws.MaskFrame(ws.NewFrame(op, fin, payload))
	c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := ws.WriteFrame(c.conn, frame); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

// send sends s as one Text message.
func (c *rawClient) send(s string) {
	c.t.Helper()
	c.sendFrame(ws.OpText, true, []byte(s))
}

// sendRecord sends s followed by the record separator.
func (c *rawClient) sendRecord(s string) {
	c.t.Helper()
	c.send(s + "\x1e")
}

// handshake sends the JSON handshake and expects success.
func (c *rawClient) handshake() {
	c.t.Helper()
	c.sendRecord(`{"protocol":"json","version":1}`)
	if got := c.readRecord(); got != "{}" {
		c.t.Fatalf("handshake response = %q; want %q", got, "{}")
	}
}

// readFrame reads one frame. It replies to a WebSocket Ping and to a close
// frame, and returns both like any other frame.
func (c *rawClient) readFrame() (rawFrame, error) {
	c.conn.SetReadDeadline(time.Now().Add(readTimeout))
	hdr, err := ws.ReadHeader(c.src)
	if err != nil {
		return rawFrame{}, err
	}
	payload := make([]byte, hdr.Length)
	if _, err := io.ReadFull(c.src, payload); err != nil {
		return rawFrame{}, err
	}
	if hdr.Masked {
		ws.Cipher(payload, hdr.Mask, 0)
	}
	f := rawFrame{op: hdr.OpCode, fin: hdr.Fin, payload: payload}
	switch hdr.OpCode {
	case ws.OpPing:
		c.sendFrame(ws.OpPong, true, payload)
	case ws.OpClose:
		if !c.closed {
			// The reply is best effort: the server may already have
			// closed the TCP connection.
			c.closed = true
			c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
			ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewCloseFrame(payload)))
		}
	}
	return f, nil
}

// readMessage reads the next data message and returns its frame type, its
// payload and its frames. Control frames are handled and skipped.
func (c *rawClient) readMessage() (ws.OpCode, []byte, error) {
	c.frames = c.frames[:0]
	var op ws.OpCode
	var payload []byte
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		if f.op == ws.OpClose {
			return 0, nil, errServerClosedWebSocket
		}
		if f.op.IsControl() {
			continue
		}
		c.frames = append(c.frames, f)
		if f.op != ws.OpContinuation {
			op = f.op
		}
		payload = append(payload, f.payload...)
		if f.fin {
			return op, payload, nil
		}
	}
}

var errServerClosedWebSocket = errors.New("server closed the WebSocket")

// readRecord returns the next record without its separator, reading
// messages as needed.
func (c *rawClient) readRecord() string {
	c.t.Helper()
	record, err := c.tryReadRecord()
	if err != nil {
		c.t.Fatalf("reading a record: %v", err)
	}
	return record
}

func (c *rawClient) tryReadRecord() (string, error) {
	for {
		if i := bytes.IndexByte(c.buf, 0x1e); i >= 0 {
			record := string(c.buf[:i])
			c.buf = c.buf[i+1:]
			return record, nil
		}
		_, payload, err := c.readMessage()
		if err != nil {
			return "", err
		}
		c.buf = append(c.buf, payload...)
	}
}

// readHubMessage returns the next record that is not a Ping, decoded.
func (c *rawClient) readHubMessage() map[string]any {
	c.t.Helper()
	for {
		record := c.readRecord()
		var m map[string]any
		if err := json.Unmarshal([]byte(record), &m); err != nil {
			c.t.Fatalf("record %q is not a JSON object: %v", record, err)
		}
		if m["type"] == float64(6) {
			continue
		}
		return m
	}
}

// expectRecord reads the next record that is not a Ping and compares it
// with want.
func (c *rawClient) expectRecord(want string) {
	c.t.Helper()
	for {
		got := c.readRecord()
		if got == `{"type":6}` && want != got {
			continue
		}
		if got != want {
			c.t.Fatalf("record = %s; want %s", got, want)
		}
		return
	}
}

// expectClosed reads until the server closes the WebSocket and fails the
// test when a record other than a Ping arrives first.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	for {
		record, err := c.tryReadRecord()
		if errors.Is(err, errServerClosedWebSocket) || errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.t.Fatalf("waiting for the server to close: %v", err)
		}
		if record != `{"type":6}` {
			c.t.Fatalf("record %s arrived where the server should close", record)
		}
	}
}

// waitFor polls cond until it holds, and fails the test after readTimeout.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within the timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
