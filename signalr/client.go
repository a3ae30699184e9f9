package signalr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A transportConn carries the hub protocol's framed messages over one
// transport connection.
type transportConn interface {
	// ReadMessage returns the next transport message. It is valid until
	// the next call.
	ReadMessage() (protocol.TransferFormat, []byte, error)

	// WriteMessage sends one transport message. It is safe for concurrent
	// use.
	WriteMessage(ctx context.Context, p []byte) error

	// Close closes the connection. It unblocks ReadMessage.
	Close() error
}

// dialFunc negotiates and opens a transport connection. It returns the
// connection ID, which is empty when negotiation was skipped.
type dialFunc func(ctx context.Context) (transportConn, string, error)

// A Client is a connection to one SignalR hub. Create it with [NewClient],
// register handlers with [Client.On], then call [Client.Start].
type Client struct {
	url    string
	config Config
	log    *slog.Logger
	dial   dialFunc

	handlersMu sync.RWMutex // guards handlers and fallback
	handlers   map[string][]Handler
	fallback   Handler

	mu       sync.Mutex // guards the fields below
	conn     *connection
	run      *run // since the last successful Start
	starting bool

	newTimer func(time.Duration) timer // the clock of retry delays

	// ownHTTPClient is set when Config.HTTPClient was nil, so that the
	// client closes the idle connections of the one it made when it ends.
	ownHTTPClient bool
}

// NewClient returns a client for the hub at url, an http or https URL. A ws
// or wss URL works only with Config.SkipNegotiation, since negotiate is an
// HTTP request. NewClient does not connect; call [Client.Start].
func NewClient(url string, config Config) *Client {
	c := &Client{
		url:      url,
		config:   config.withDefaults(),
		handlers: make(map[string][]Handler),
	}
	c.log = c.config.Logger
	c.dial = c.dialTransport
	c.newTimer = newRealTimer
	c.ownHTTPClient = config.HTTPClient == nil
	return c
}

// Start negotiates, opens the transport and completes the handshake. ctx
// bounds the whole start; the handshake is bounded also by
// Config.HandshakeTimeout. When Start returns an error, the client is not
// connected and Start may be called again; automatic reconnect does not
// retry a failed Start. Start may also be called again once the client has
// ended.
func (c *Client) Start(ctx context.Context) error {
	if c.config.StatefulReconnect && c.config.SkipNegotiation {
		return errors.New("signalr: StatefulReconnect needs negotiation, so it cannot be combined with SkipNegotiation")
	}
	c.mu.Lock()
	if c.starting || (c.run != nil && !c.run.isDone()) {
		c.mu.Unlock()
		return ErrAlreadyStarted
	}
	c.starting = true
	c.mu.Unlock()

	conn, err := c.connect(ctx)

	c.mu.Lock()
	c.starting = false
	if err != nil {
		c.mu.Unlock()
		return err
	}
	r := newRun()
	c.run = r
	conn.wg.Add(3)
	c.conn = conn
	c.mu.Unlock()

	go r.events.run()
	conn.run()
	return nil
}

// connect dials and completes the handshake.
func (c *Client) connect(ctx context.Context) (*connection, error) {
	tc, connectionID, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	resumable, _ := tc.(resumableConn)
	tc = c.traced(tc)
	conn := newConnection(c, tc, connectionID)
	if resumable != nil && resumable.statefulReconnect() {
		conn.sr = newMessageBuffer(c.config.StatefulReconnectBufferSize)
		conn.reopen = func(ctx context.Context) (transportConn, error) {
			tc, err := resumable.reopen(ctx)
			if err != nil {
				return nil, err
			}
			return c.traced(tc), nil
		}
	}
	if err := conn.handshake(ctx); err != nil {
		tc.Close()
		return nil, err
	}
	c.log.Info("signalr: connected", "url", redactURL(c.url), "connectionId", connectionID, "protocol", c.config.Protocol.Name())
	return conn, nil
}

// Stop sends a Close message, closes the connection and waits until the
// connection's goroutines have ended or ctx is done; when ctx ends first,
// Stop returns its error, but the client is stopped all the same. Calls
// still waiting, for a result or for a reconnect, fail with an error that
// wraps [ErrConnectionClosed]. Stop also ends a reconnect in progress.
// Config.OnClosed may still be running when Stop returns, so that Stop may
// be called from an event callback. Stop on a client that is not connected
// returns nil.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	r, conn := c.run, c.conn
	if r == nil {
		c.mu.Unlock()
		return nil
	}
	r.stopped = true
	reconnecting := r.reconnecting
	c.mu.Unlock()

	if reconnecting {
		r.cancel()
		waited := make(chan struct{})
		go func() {
			r.loop.Wait()
			close(waited)
		}()
		select {
		case <-waited:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.finishRun(r, nil)
	}
	return conn.stop(ctx)
}

// ConnectionID returns the ID of the current connection, or "" when the
// client is not connected or skipped negotiation.
func (c *Client) ConnectionID() string {
	if conn := c.current(); conn != nil {
		return conn.id
	}
	return ""
}

// Connected reports whether the client has an open connection: it was
// started, has not ended, and is not reconnecting.
func (c *Client) Connected() bool { return c.current() != nil }

// StatefulReconnect reports whether the current connection uses stateful
// reconnect: Config.StatefulReconnect asked for it and the server agreed.
func (c *Client) StatefulReconnect() bool {
	conn := c.current()
	return conn != nil && conn.sr != nil
}

// Done returns a channel that is closed when the client has ended: after
// Stop, or when the connection ended and automatic reconnect is off or gave
// up. It is nil when the client was never started, and a later Start makes
// a new channel, so call Done after Start.
func (c *Client) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		return nil
	}
	return c.run.done
}

// Err returns the error that ended the client. It is nil while the client
// is connected or reconnecting, and after Stop. Otherwise it is a
// [*CloseError] when the server closed the connection, a [*ReconnectError]
// when automatic reconnect gave up, or the transport or protocol error
// that ended the connection.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil || !c.run.isDone() {
		return nil
	}
	return c.run.err
}

// current returns the open connection, or nil, also while the client
// reconnects.
func (c *Client) current() *connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.conn.isDone() || (c.run != nil && c.run.reconnecting) {
		return nil
	}
	return c.conn
}

// On registers handler for server invocations of target. Targets match
// case-insensitively, like the official clients. Several handlers may share
// a target; all of them run, in registration order. Case is ignored for
// ASCII letters only. Handlers may be
// registered before or after Start.
func (c *Client) On(target string, handler Handler) {
	key := string(appendLower(nil, target))
	c.handlersMu.Lock()
	c.handlers[key] = append(c.handlers[key], handler)
	c.handlersMu.Unlock()
}

// OnFallback registers handler for server invocations of targets that have
// no handler of their own, replacing any earlier fallback. Nil removes it.
func (c *Client) OnFallback(handler Handler) {
	c.handlersMu.Lock()
	c.fallback = handler
	c.handlersMu.Unlock()
}

// Off removes every handler of target.
func (c *Client) Off(target string) {
	c.handlersMu.Lock()
	delete(c.handlers, string(appendLower(nil, target)))
	c.handlersMu.Unlock()
}

// handshake sends the handshake request and reads the response. Bytes that
// arrive after the response are kept as hub data.
func (conn *connection) handshake(ctx context.Context) error {
	c := conn.client
	ctx, cancel := context.WithTimeoutCause(ctx, c.config.HandshakeTimeout, ErrHandshakeTimeout)
	defer cancel()
	stopClose := context.AfterFunc(ctx, func() { conn.tc.Close() })
	defer stopClose()

	// Like the JavaScript client, ask for version 2 of the hub protocol,
	// the one with Ack and Sequence, only with stateful reconnect.
	version := c.config.Protocol.Version()
	if conn.sr != nil {
		version = max(version, 2)
	}
	req := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{
		Protocol: c.config.Protocol.Name(),
		Version:  version,
	})
	if err := conn.tc.WriteMessage(ctx, req); err != nil {
		return handshakeFailure(ctx, err)
	}
	var pending []byte
	for {
		_, data, err := conn.tc.ReadMessage()
		if err != nil {
			return handshakeFailure(ctx, err)
		}
		pending = append(pending, data...)
		record, rest, ok := protocol.SplitRecord(pending)
		if !ok {
			if max := maxMessageSize(c.config.MaxMessageSize); max > 0 && len(pending) > max {
				return fmt.Errorf("signalr: handshake response exceeds %d bytes: %w", max, protocol.ErrMessageTooLarge)
			}
			continue
		}
		resp, err := protocol.ParseHandshakeResponse(record)
		if err != nil {
			return err
		}
		if resp.Error != "" {
			return &HandshakeError{Message: resp.Error}
		}
		if !stopClose() {
			// The timeout fired and closed the transport just as the
			// response arrived.
			return handshakeFailure(ctx, errors.New("transport closed"))
		}
		now := conn.now()
		conn.lastRecv.Store(now)
		conn.lastSent.Store(now)
		if len(rest) > 0 {
			if err := conn.framer.Feed(rest); err != nil {
				return err
			}
		}
		return nil
	}
}

func handshakeFailure(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "?[query redacted]"
	}
	return s
}

// traced wraps tc so that it reports to Config.Trace, when set.
func (c *Client) traced(tc transportConn) transportConn {
	if c.config.Trace == nil {
		return tc
	}
	return &tracingConn{transportConn: tc, trace: c.config.Trace, format: c.config.Protocol.TransferFormat()}
}

// tracingConn passes every message to Config.Trace.
type tracingConn struct {
	transportConn
	trace  func(Direction, protocol.TransferFormat, []byte)
	format protocol.TransferFormat // of the messages the client sends
}

func (t *tracingConn) ReadMessage() (protocol.TransferFormat, []byte, error) {
	f, p, err := t.transportConn.ReadMessage()
	if err == nil {
		t.trace(Received, f, p)
	}
	return f, p, err
}

func (t *tracingConn) WriteMessage(ctx context.Context, p []byte) error {
	t.trace(Sent, t.format, p)
	return t.transportConn.WriteMessage(ctx, p)
}

// maxMessageSize returns the effective limit of Config.MaxMessageSize: the
// default for 0, and 0 for no limit.
func maxMessageSize(configured int) int {
	switch {
	case configured == 0:
		return protocol.DefaultMaxMessageSize
	case configured < 0:
		return 0
	}
	return configured
}

// nowSince returns the nanoseconds since start on the monotonic clock.
func nowSince(start time.Time) int64 { return int64(time.Since(start)) }
