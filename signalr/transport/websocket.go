package transport

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// An Opcode is the WebSocket opcode of a data message (RFC 6455, section
// 5.2).
type Opcode byte

// The opcodes of data messages.
const (
	OpcodeText   Opcode = 0x1
	OpcodeBinary Opcode = 0x2
)

// String returns "Text", "Binary" or the number of an invalid opcode.
func (op Opcode) String() string {
	switch op {
	case OpcodeText:
		return "Text"
	case OpcodeBinary:
		return "Binary"
	}
	return fmt.Sprintf("Opcode(%#x)", byte(op))
}

// OpcodeFor returns the opcode of the messages that carry a hub protocol
// with the given transfer format: Binary for [protocol.TransferFormatBinary]
// (MessagePack), Text for anything else (JSON).
func OpcodeFor(format protocol.TransferFormat) Opcode {
	if format == protocol.TransferFormatBinary {
		return OpcodeBinary
	}
	return OpcodeText
}

// DefaultMaxMessageSize is the default maximum size in bytes of a received
// WebSocket message, the same default the hub protocol framing uses.
const DefaultMaxMessageSize = protocol.DefaultMaxMessageSize

const (
	// closeTimeout bounds how long Close waits for a write in progress
	// before it sends the close frame, and how long that frame may take.
	// The .NET client's CloseTimeout, which bounds its whole close, also
	// defaults to 5 seconds.
	closeTimeout = 5 * time.Second

	// readBufferSize is the size of the bufio.Reader over the socket.
	readBufferSize = 4 << 10

	// minMessageBuffer is the first capacity of the message buffer.
	minMessageBuffer = 4 << 10

	// maxRetainedMessageBuffer is the largest message buffer kept for the
	// next message. A larger one, grown for a large message, is dropped.
	maxRetainedMessageBuffer = 1 << 20

	// writeChunkSize is the maximum number of frame bytes masked and
	// written with one call to the socket. Larger frames are written in
	// pieces, so the write buffer never grows beyond it.
	writeChunkSize = 32 << 10
)

// DialOptions configures [DialWebSocket]. The zero value is ready to use.
type DialOptions struct {
	// Header holds extra headers for the handshake request. Nil adds none.
	// A Host entry replaces the Host header. Headers that the handshake
	// sets itself (Upgrade, Connection and Sec-WebSocket-*) are rejected
	// with ErrInvalidHeader. An Authorization header here takes precedence
	// over AccessTokenProvider.
	Header http.Header

	// AccessTokenProvider supplies the bearer token for the handshake
	// request. Nil sends none. After Negotiate, pass
	// NegotiateResult.AccessTokenProvider.
	AccessTokenProvider TokenProvider

	// TLSConfig configures TLS for wss URLs. Nil means the default
	// configuration, which verifies the server certificate. A config with
	// an empty ServerName is cloned and given the host of the URL.
	TLSConfig *tls.Config

	// NetDial opens the TCP connection. Nil means a net.Dialer with no
	// options. Tests use it to wrap or tune the socket.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// MaxMessageSize is the maximum size in bytes of a received message,
	// summed over all its frames. Zero means DefaultMaxMessageSize. A
	// negative value removes the limit, which lets the server make the
	// client buffer any amount of data.
	MaxMessageSize int64
}

// reservedHeaders are the handshake headers the WebSocket library writes
// itself, in canonical form. A second copy would break the handshake.
var reservedHeaders = []string{
	"Upgrade",
	"Connection",
	"Sec-Websocket-Key",
	"Sec-Websocket-Version",
	"Sec-Websocket-Extensions",
	"Sec-Websocket-Protocol",
	"Sec-Websocket-Accept",
}

// WebSocketURL returns the URL the WebSocket transport connects to. It
// changes the scheme http to ws and https to wss (ws and wss stay), keeps
// the query, and adds "id=<connectionToken>", URL-encoded, unless
// connectionToken is empty, which it is when negotiation was skipped. The
// fragment is dropped.
func WebSocketURL(hubURL, connectionToken string) (string, error) {
	u, err := parseHubURL(hubURL, "http", "https", "ws", "wss")
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	if connectionToken != "" {
		u.RawQuery = appendQuery(u.RawQuery, "id="+url.QueryEscape(connectionToken))
	}
	return u.String(), nil
}

// DialWebSocket opens the WebSocket transport to the hub at hubURL, an
// http, https, ws or wss URL. connectionToken is the ConnectionToken of the
// negotiate response, or empty when negotiation was skipped.
//
// The handshake carries the headers of opts and, unless they include
// Authorization, "Authorization: Bearer <token>" with a token from
// opts.AccessTokenProvider. ctx bounds the connect and the handshake; it
// does not affect the returned Conn. A handshake response with a status
// other than 101 fails with a [*StatusError].
//
// NOTE: the dial ignores HTTP proxy settings such as HTTPS_PROXY and
// connects straight to the host, unlike net/http's default transport.
func DialWebSocket(ctx context.Context, hubURL, connectionToken string, opts DialOptions) (*Conn, error) {
	wsURL, err := WebSocketURL(hubURL, connectionToken)
	if err != nil {
		return nil, err
	}
	header := make(http.Header, len(opts.Header)+1)
	copyHeader(header, opts.Header)
	for _, key := range reservedHeaders {
		if _, ok := header[key]; ok {
			return nil, fmt.Errorf("%w: %s", ErrInvalidHeader, key)
		}
	}
	host := header.Get("Host")
	header.Del("Host")
	if _, err := authorize(ctx, header, opts.AccessTokenProvider); err != nil {
		return nil, err
	}

	dialer := ws.Dialer{
		ReadBufferSize: readBufferSize,
		Header:         ws.HandshakeHeaderHTTP(header),
		Host:           host,
		TLSConfig:      opts.TLSConfig,
		NetDial:        opts.NetDial,
	}
	nc, br, _, err := dialer.Dial(ctx, wsURL)
	if err != nil {
		var status ws.StatusError
		if errors.As(err, &status) {
			u, _ := url.Parse(wsURL)
			return nil, &StatusError{Op: opHandshake, URL: redactURL(u), StatusCode: int(status)}
		}
		return nil, fmt.Errorf("signalr/transport: WebSocket dial: %w", err)
	}

	maxSize := opts.MaxMessageSize
	switch {
	case maxSize == 0:
		maxSize = DefaultMaxMessageSize
	case maxSize < 0:
		maxSize = 0 // no limit in wsutil.Reader
	}
	return newConn(nc, br, maxSize), nil
}

// A Conn is a client WebSocket connection that carries whole messages.
//
// ReadMessage must be called from one goroutine at a time, normally a
// single read loop. WriteMessage and Close are safe for concurrent use by
// several goroutines and with ReadMessage: writes are serialized by one
// write lock, held for a whole message, so messages never interleave.
//
// A read or write error closes the connection and is sticky: later calls
// of the same kind return it again, and calls of the other kind return
// [ErrClosed].
type Conn struct {
	nc net.Conn

	// Owned by ReadMessage:
	rd          wsutil.Reader
	msgBuf      []byte                              // message buffer, reused
	ctrlBuf     [ws.MaxControlFramePayloadSize]byte // control frame payload
	readErr     error                               // sticky error of ReadMessage
	closeResult error                               // io.EOF or *CloseError once the server closed

	// wmu is a one-slot semaphore: a goroutine holds the write lock while
	// its value sits in the channel. Being a channel, it can be waited on
	// together with a context. It guards the fields below and every write
	// to nc.
	wmu         chan struct{}
	wbuf        []byte                 // frame being written, reused
	headerBuf   [ws.MaxHeaderSize]byte // scratch for ws.WriteHeaderBuffer
	maskSource  *rand.ChaCha8          // masking keys, seeded from crypto/rand
	writeErr    error                  // sticky; the Conn is closed once set
	deadlineSet bool                   // nc has a write deadline

	closeOnce  sync.Once
	closing    chan struct{} // closed when the Conn starts closing
	closeCause error         // error that closed the Conn, nil after Close; set before closing is closed
}

func newConn(nc net.Conn, br *bufio.Reader, maxMessageSize int64) *Conn {
	if br == nil {
		br = bufio.NewReaderSize(nc, readBufferSize)
	}
	var seed [32]byte
	// Since Go 1.24, crypto/rand.Read crashes the program rather than
	// return an error.
	_, _ = crand.Read(seed[:])
	c := &Conn{
		nc:         nc,
		wmu:        make(chan struct{}, 1),
		wbuf:       make([]byte, 0, 4<<10),
		maskSource: rand.NewChaCha8(seed),
		closing:    make(chan struct{}),
	}
	// Bytes that arrived together with the 101 response sit in br, which
	// the reader reads before the socket.
	c.rd = wsutil.Reader{
		Source:         br,
		State:          ws.StateClientSide,
		CheckUTF8:      true,
		MaxMessageSize: maxMessageSize,
		OnIntermediate: c.handleControl,
	}
	return c
}

// errPeerClosed reports, inside the read path, that a close frame arrived;
// ReadMessage replaces it with c.closeResult.
var errPeerClosed = errors.New("close frame received")

// ReadMessage reads the next data message. It reassembles fragmented
// messages, replies to pings with pongs, and skips pongs. A pong waits for
// the write lock, so a slow WriteMessage delays ReadMessage too.
//
// The returned bytes are valid until the next call to ReadMessage, which
// reuses the buffer.
//
// When the server closes the connection with status 1000, ReadMessage
// returns io.EOF; any other status gives a [*CloseError]. A message larger
// than the maximum message size fails with [ErrMessageTooLarge], a frame
// that breaks RFC 6455 with [ErrProtocol]; both close the connection. After
// Close, ReadMessage returns [ErrClosed]. ReadMessage blocks until a message
// arrives or the connection fails or is closed; call Close to stop it.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	if c.isClosing() {
		c.readErr = c.closedError()
		return 0, nil, c.readErr
	}
	if cap(c.msgBuf) > maxRetainedMessageBuffer {
		c.msgBuf = nil
	}

	for {
		hdr, err := c.rd.NextFrame()
		if err != nil {
			return 0, nil, c.failRead(err)
		}
		if hdr.OpCode.IsControl() {
			if err := c.handleControl(hdr, &c.rd); err != nil {
				return 0, nil, c.failRead(err)
			}
			continue
		}
		data, err := c.readData()
		if err != nil {
			return 0, nil, c.failRead(err)
		}
		return Opcode(hdr.OpCode), data, nil
	}
}

// readData reads the rest of the message whose first frame header
// NextFrame has just returned. The buffer grows as bytes arrive, never by
// the length the server declared.
func (c *Conn) readData() ([]byte, error) {
	buf := c.msgBuf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), minMessageBuffer))
		}
		n, err := c.rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			c.msgBuf = buf
			return buf, nil
		}
		if err != nil {
			c.msgBuf = buf
			return nil, err
		}
	}
}

// handleControl reads the payload of a control frame from r and acts on
// it. It runs on the read path, both for control frames between messages
// and, as the OnIntermediate hook, between the frames of a fragmented
// message.
func (c *Conn) handleControl(hdr ws.Header, r io.Reader) error {
	// CheckHeader has limited control payloads to 125 bytes, so the frame
	// ends, and r returns io.EOF, by the time the buffer is full.
	payload := c.ctrlBuf[:0]
	for {
		n, err := r.Read(c.ctrlBuf[len(payload):])
		payload = c.ctrlBuf[:len(payload)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n == 0 && len(payload) == len(c.ctrlBuf) {
			return ws.ErrProtocolControlPayloadOverflow
		}
	}

	switch hdr.OpCode {
	case ws.OpPing:
		return c.writeControl(ws.OpPong, payload)
	case ws.OpClose:
		return c.handleClose(payload)
	}
	return nil // a pong, or an unsolicited pong
}

// handleClose validates a close frame payload, replies with a close frame
// and closes the connection. It records the result ReadMessage returns.
func (c *Conn) handleClose(payload []byte) error {
	if len(payload) == 1 {
		return fmt.Errorf("%w: close frame payload of 1 byte", ws.ErrProtocolStatusCodeUnknown)
	}
	code, reason := ws.ParseCloseFrameData(payload)
	if code.Empty() {
		// No status code: the close code is 1005, and the reply is a close
		// frame without a body.
		code = ws.StatusNoStatusRcvd
	} else if err := ws.CheckCloseFrameData(code, reason); err != nil {
		return err
	}
	if code == ws.StatusNormalClosure {
		c.closeResult = io.EOF
		c.shutdown(code, nil)
	} else {
		c.closeResult = &CloseError{Code: int(code), Reason: reason}
		c.shutdown(code, c.closeResult)
	}
	return errPeerClosed
}

// failRead turns an error of the read path into the sticky error of
// ReadMessage, closing the connection with the fitting status code.
func (c *Conn) failRead(err error) error {
	var protocolErr ws.ProtocolError
	switch {
	case errors.Is(err, errPeerClosed):
		c.readErr = c.closeResult
	case c.isClosing():
		c.readErr = c.closedError()
	case errors.Is(err, wsutil.ErrMessageTooLarge):
		c.readErr = fmt.Errorf("%w: the limit is %d bytes", ErrMessageTooLarge, c.rd.MaxMessageSize)
		c.shutdown(ws.StatusMessageTooBig, c.readErr)
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		c.readErr = fmt.Errorf("%w: %w", ErrProtocol, err)
		c.shutdown(ws.StatusInvalidFramePayloadData, c.readErr)
	case errors.As(err, &protocolErr),
		errors.Is(err, ws.ErrHeaderLengthMSB),
		errors.Is(err, ws.ErrHeaderLengthUnexpected):
		c.readErr = fmt.Errorf("%w: %w", ErrProtocol, err)
		c.shutdown(ws.StatusProtocolError, c.readErr)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.readErr = fmt.Errorf("signalr/transport: the server closed the connection without a close frame: %w",
			io.ErrUnexpectedEOF)
		c.shutdown(0, c.readErr)
	default:
		c.readErr = fmt.Errorf("signalr/transport: WebSocket read: %w", err)
		c.shutdown(0, c.readErr)
	}
	return c.readErr
}

// WriteMessage sends payload as one WebSocket message of type op, masked as
// RFC 6455 requires of clients. payload is not modified.
//
// WriteMessage is safe for concurrent use. It waits for the write lock, and
// returns ctx.Err() if ctx ends before the write starts. Once the first
// byte is out, only the deadline of ctx can interrupt the write, because an
// interrupted message leaves a partial frame that breaks the connection for
// every caller. A write that fails or runs past the deadline closes the
// connection, and all later writes fail with [ErrClosed].
func (c *Conn) WriteMessage(ctx context.Context, op Opcode, payload []byte) error {
	if op != OpcodeText && op != OpcodeBinary {
		return fmt.Errorf("signalr/transport: WriteMessage: %v is not a data opcode", op)
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	defer c.unlockWrite()
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.writeLocked(ctx, ws.OpCode(op), payload)
}

// writeControl sends a control frame from the read path. It waits for the
// write lock without a time limit, because the read path has nothing else
// to do until the frame is out; Close ends the wait.
func (c *Conn) writeControl(op ws.OpCode, payload []byte) error {
	if err := c.lockWrite(context.Background()); err != nil {
		return err
	}
	defer c.unlockWrite()
	return c.writeLocked(context.Background(), op, payload)
}

// lockWrite acquires the write lock, giving up when ctx ends or the Conn
// starts closing. It reports ErrClosed, or the write error that closed the
// Conn, when the lock is acquired after closing began.
func (c *Conn) lockWrite(ctx context.Context) error {
	select {
	case c.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return c.closedError()
	}
	if c.writeErr != nil || c.isClosing() {
		err := c.writeErr
		if err == nil {
			err = c.closedError()
		}
		c.unlockWrite()
		return err
	}
	return nil
}

func (c *Conn) unlockWrite() { <-c.wmu }

// writeLocked writes one frame with the write lock held, applying the
// deadline of ctx. On failure it records the sticky write error and closes
// the connection.
func (c *Conn) writeLocked(ctx context.Context, op ws.OpCode, payload []byte) error {
	if deadline, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(deadline)
		c.deadlineSet = true
	} else if c.deadlineSet {
		c.nc.SetWriteDeadline(time.Time{})
		c.deadlineSet = false
	}
	err := c.writeFrame(op, payload)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket deadline is the deadline of ctx, which may fire
		// before the context's own timer.
		err = context.DeadlineExceeded
	}
	err = fmt.Errorf("signalr/transport: WebSocket write: %w", err)
	c.writeErr = fmt.Errorf("%w: an earlier write failed: %w", ErrClosed, err)
	// A partial frame may be on the wire, so no close frame can follow.
	c.markClosing(err)
	c.nc.Close()
	return err
}

// frameBuffer lets ws.WriteHeaderBuffer append a header to a byte slice.
type frameBuffer []byte

func (b *frameBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// writeFrame masks and writes one final frame. The caller holds the write
// lock. Frames up to writeChunkSize go out in one call to nc.Write.
func (c *Conn) writeFrame(op ws.OpCode, payload []byte) error {
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], uint32(c.maskSource.Uint64()))
	hdr := ws.Header{
		Fin:    true,
		OpCode: op,
		Masked: true,
		Mask:   mask,
		Length: int64(len(payload)),
	}
	c.wbuf = c.wbuf[:0]
	if err := ws.WriteHeaderBuffer((*frameBuffer)(&c.wbuf), hdr, c.headerBuf[:]); err != nil {
		return err
	}

	for offset := 0; ; {
		n := min(len(payload)-offset, writeChunkSize-len(c.wbuf))
		start := len(c.wbuf)
		c.wbuf = append(c.wbuf, payload[offset:offset+n]...)
		ws.Cipher(c.wbuf[start:], mask, offset)
		offset += n
		if _, err := c.nc.Write(c.wbuf); err != nil {
			return err
		}
		c.wbuf = c.wbuf[:0]
		if offset == len(payload) {
			return nil
		}
	}
}

// Close sends a close frame with status 1000 (normal closure) and closes
// the socket, which makes a blocked ReadMessage return ErrClosed. It waits
// at most 5 seconds for a write in progress before it gives up on the close
// frame. Close is idempotent: only the first call has an effect, and later
// calls return nil.
func (c *Conn) Close() error {
	return c.shutdown(ws.StatusNormalClosure, nil)
}

// shutdown closes the Conn unless it is already closing: it sends a close
// frame with code unless code is 0, closes the socket and returns the
// socket's close error. cause is the error that made the Conn close, or nil
// for a normal close.
func (c *Conn) shutdown(code ws.StatusCode, cause error) error {
	if !c.markClosing(cause) {
		return nil
	}
	if code != 0 {
		c.sendClose(code)
	}
	return c.nc.Close()
}

// markClosing records cause and marks the Conn as closing. It reports
// whether this call did so, which is true for the first call only. It does
// no I/O, so it may be called with the write lock held.
func (c *Conn) markClosing(cause error) bool {
	first := false
	c.closeOnce.Do(func() {
		c.closeCause = cause
		close(c.closing)
		first = true
	})
	return first
}

// sendClose writes a close frame with code, giving up after closeTimeout.
// Code 1005, which RFC 6455 forbids on the wire, sends a frame without a
// body.
func (c *Conn) sendClose(code ws.StatusCode) {
	timer := time.NewTimer(closeTimeout)
	defer timer.Stop()
	select {
	case c.wmu <- struct{}{}:
	case <-timer.C:
		return
	}
	defer c.unlockWrite()
	if c.writeErr != nil {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
	var body [2]byte
	binary.BigEndian.PutUint16(body[:], uint16(code))
	payload := body[:]
	if code == ws.StatusNoStatusRcvd {
		payload = nil
	}
	_ = c.writeFrame(ws.OpClose, payload)
}

func (c *Conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// closedError returns ErrClosed, wrapped with the cause when the Conn
// closed because of an error. It is valid once closing is closed.
func (c *Conn) closedError() error {
	if c.closeCause == nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.closeCause)
}
