package conformance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// ErrConnClosed is returned by the send methods of a [Conn] that has ended
// or is ending.
var ErrConnClosed = errors.New("conformance: connection closed")

// closeTimeout is how long the server waits for the client's WebSocket close
// frame after sending its own, as the .NET WebSocket transport does
// (WebSocketOptions.CloseTimeout).
const closeTimeout = 5 * time.Second

// maxHubProtocolVersion is the highest handshake version accepted for every
// protocol, as in the .NET JSON and MessagePack hub protocols.
const maxHubProtocolVersion = 2

// outQueueSize is the number of outgoing items that can wait for the writer
// before senders block.
const outQueueSize = 64

// Connection states.
const (
	stateHandshake int32 = iota // waiting for the handshake request
	stateOpen                   // handshake done, messages flow
	stateClosing                // finish was called
)

// A Conn is one client connection of a [Server], from the WebSocket upgrade
// to its end. Hub methods reach their caller's Conn through [Call.Conn], and
// tests through [Server.Conns] or [Options.OnConnected]. Its methods are safe
// for concurrent use.
//
// # Stateful reconnect
//
// With [Options.StatefulReconnect], a client that negotiated
// useStatefulReconnect and sent a handshake of version 2 or later gets a
// connection that outlives its WebSocket:
//
//   - The server numbers the trackable messages it sends (types 1 to 5)
//     from 1 and keeps a copy of each until the client acknowledges it with
//     Ack. Sends wait while the copies take up
//     [Options.StatefulReconnectBufferSize] bytes or more.
//   - It counts the trackable messages it receives, drops those whose number
//     it has already processed, and acknowledges the highest processed
//     number [Options.AckInterval] after a message arrived. An Ack for a
//     number it never sent closes the connection with an error, a check
//     that the MessageBuffer of the .NET server leaves as a TODO.
//   - When the WebSocket ends without a Close message or a WebSocket close
//     frame, the connection, with its running invocations and streams, waits
//     up to [Options.ReconnectWindow] for a new WebSocket request with the
//     same id. Messages sent meanwhile are numbered and kept.
//   - A reattached WebSocket has no handshake. The server sends Sequence
//     with the number of the first message it resends, then the
//     unacknowledged messages in order, and ignores everything from the
//     client until the client's Sequence arrives. A Sequence number greater
//     than the next one expected closes the connection with an error.
//   - A new WebSocket for a connection whose WebSocket is still open
//     replaces it: the server closes the old one and reattaches the new
//     one, as the ASP.NET Core server does.
//
// [Conn.SequenceState] reports the numbers.
type Conn struct {
	srv    *Server
	opts   *Options
	logger *slog.Logger
	id     string
	header http.Header     // of the request that created the connection
	ctx    context.Context // done when the connection ends
	cancel context.CancelFunc

	// Set by the read goroutine during the handshake, before the
	// goroutines that use them start.
	proto       protocol.HubProtocol
	opcode      ws.OpCode // of hub messages
	handshakeOp ws.OpCode // of a successful handshake response

	// statefulNegotiated is set when negotiate accepted stateful reconnect.
	// seq is set by a handshake that turns it on.
	statefulNegotiated bool
	seq                atomic.Pointer[sequencer]

	state      atomic.Int32
	handshaken atomic.Bool // set once the handshake has succeeded
	out        chan outgoing
	stopped    chan struct{} // closed once the connection accepts no more messages
	aborted    chan struct{} // closed by abort
	writerDone chan struct{}
	finishOnce sync.Once
	abortOnce  sync.Once

	lastRead  atomic.Int64 // time of the last frame received, in Unix nanoseconds
	lastWrite atomic.Int64 // time of the last message written, in Unix nanoseconds

	tmu              sync.Mutex // guards following
	attached         *transport // the WebSocket serving the connection, nil while detached
	offered          *transport // a WebSocket waiting to reattach
	transportsClosed bool       // set when the connection has ended
	offerSignal      chan struct{}

	// Owned by the read goroutine.
	rt       *transport // the transport being read
	message  protocol.Message
	readBuf  []byte
	deferred recordList // records of the current WebSocket message while recording
	wholeBuf []byte     // the current WebSocket message while recording

	mu               sync.Mutex                        // guards following
	invocations      map[string]*Call                  // running invocations by invocation id
	streams          map[string]*ClientStream          // open client-to-server streams by stream id
	pending          map[string]chan *protocol.Message // Invoke calls waiting for a Completion
	lastInvocationID int64

	calls   chan *Call     // Invocations waiting for a worker
	workers sync.WaitGroup // hub methods, invocation workers, keep-alive and Acks

	rec *recorder // nil unless the server records sessions
}

func newConn(srv *Server, id string, statefulNegotiated bool, r *http.Request) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		srv:                srv,
		opts:               &srv.opts,
		logger:             srv.opts.Logger.With("connectionId", id),
		id:                 id,
		header:             r.Header.Clone(),
		ctx:                ctx,
		cancel:             cancel,
		statefulNegotiated: statefulNegotiated,
		opcode:             ws.OpText,
		handshakeOp:        ws.OpText,
		out:                make(chan outgoing, outQueueSize),
		stopped:            make(chan struct{}),
		aborted:            make(chan struct{}),
		writerDone:         make(chan struct{}),
		offerSignal:        make(chan struct{}, 1),
		readBuf:            make([]byte, 4096),
		invocations:        make(map[string]*Call),
		streams:            make(map[string]*ClientStream),
		pending:            make(map[string]chan *protocol.Message),
		calls:              make(chan *Call, outQueueSize),
	}
	if srv.opts.Record != nil || srv.opts.RecordDir != "" {
		c.rec = newRecorder(srv.opts.Scenario(r), clientName(r))
	}
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	return c
}

// ID returns the connectionId of the connection. For a connection made
// without negotiate it is an id the server made up.
func (c *Conn) ID() string { return c.id }

// Header returns a copy of the header of the WebSocket upgrade request
// that created the connection, so that a hub can tell which client a
// connection belongs to, such as by its Authorization header. A WebSocket
// that reattaches with stateful reconnect does not change it.
func (c *Conn) Header() http.Header { return c.header.Clone() }

// Protocol returns the hub protocol selected in the handshake.
func (c *Conn) Protocol() protocol.HubProtocol { return c.proto }

// Context returns a context that is done when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

func (c *Conn) isOpen() bool { return c.state.Load() == stateOpen }

func (c *Conn) isStopped() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}

// serve runs the connection on the goroutine of the upgrade request, first
// over t and then over each WebSocket that reattaches, and returns when the
// connection has ended and all its goroutines have returned.
func (c *Conn) serve(t *transport) {
	c.logger.Debug("connection started")
	c.tmu.Lock()
	c.attached = t
	c.tmu.Unlock()
	go c.writeLoop(t)

	err := c.readLoop(t)
	for errors.Is(err, errTransportLost) {
		next := c.awaitReattach()
		if next == nil {
			break
		}
		err = c.runReattached(next)
	}

	c.finish(nil)
	<-c.writerDone
	c.closeTransports()
	c.cancel()
	c.workers.Wait()

	c.logger.Debug("connection ended", "error", err)
	if c.rec != nil {
		c.srv.deliverCapture(c.rec.result())
	}
}

// abort ends the connection at once, without a Close message.
func (c *Conn) abort() {
	c.abortOnce.Do(func() {
		close(c.aborted)
		c.tmu.Lock()
		attached, offered := c.attached, c.offered
		c.tmu.Unlock()
		if attached != nil {
			attached.close()
		}
		if offered != nil {
			offered.close()
		}
	})
}

func (c *Conn) isAborted() bool {
	select {
	case <-c.aborted:
		return true
	default:
		return false
	}
}

// closeTransports closes the connection's WebSockets once it has ended,
// and makes later reattach attempts fail.
func (c *Conn) closeTransports() {
	c.tmu.Lock()
	attached, offered := c.attached, c.offered
	c.attached, c.offered = nil, nil
	c.transportsClosed = true
	c.tmu.Unlock()
	if attached != nil {
		attached.close()
	}
	if offered != nil {
		offered.close()
	}
	if c.rt != nil {
		c.rt.close()
	}
}

// currentTransport returns the attached WebSocket, or nil while the
// connection waits for a reattach.
func (c *Conn) currentTransport() *transport {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.attached
}

// Drop closes the TCP connection of the connection's WebSocket at once,
// without a Close message or a WebSocket close frame, as a network failure
// would. Messages still queued are not sent. A stateful connection then
// waits for the client to reattach, and any other connection ends. Drop does
// nothing while a stateful connection has no WebSocket.
func (c *Conn) Drop() {
	if t := c.currentTransport(); t != nil {
		c.logger.Debug("dropping the WebSocket")
		t.close()
	}
}

// dropAfterQueued drops the connection's WebSocket once the messages queued
// before now have been written and then delay has passed. Unlike Drop, it
// lets a hub method reply before its WebSocket goes away.
func (c *Conn) dropAfterQueued(delay time.Duration) {
	t := c.currentTransport()
	if t == nil {
		return
	}
	if delay <= 0 {
		c.enqueue(c.ctx, outgoing{kind: outDrop, transport: t})
		return
	}
	written := make(chan struct{})
	if c.enqueue(c.ctx, outgoing{kind: outNotify, done: written}) != nil {
		return
	}
	c.workers.Add(1)
	go func() {
		defer c.workers.Done()
		select {
		case <-written:
		case <-c.ctx.Done():
			return
		}
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			c.Drop()
		case <-c.ctx.Done():
		}
	}()
}

// finish ends the connection: the writer sends last, if not nil, and a
// WebSocket close frame with closeBody, and then stops. Messages sent after
// finish are dropped. The read goroutine keeps reading until the client's
// close frame arrives or closeTimeout passes. Only the first call has an
// effect.
func (c *Conn) finish(last *outgoing, closeBody ...byte) {
	c.finishOnce.Do(func() {
		c.state.Store(stateClosing)
		select {
		case c.out <- outgoing{kind: outFinal, last: last, data: closeBody}:
		case <-c.writerDone:
		}
		close(c.stopped)
		c.cancel()
		if t := c.currentTransport(); t != nil {
			t.netConn.SetReadDeadline(time.Now().Add(closeTimeout))
		}
	})
}

// closeWith ends the connection with a Close message.
func (c *Conn) closeWith(errText string, hasError, allowReconnect bool) {
	m := protocol.Message{Type: protocol.TypeClose, Error: errText, HasError: hasError, AllowReconnect: allowReconnect}
	record, err := c.encoder().AppendMessage(nil, &m)
	if err != nil {
		c.logger.Error("encoding Close failed", "error", err)
		c.finish(nil)
		return
	}
	c.logger.Debug("closing connection", "closeError", errText, "allowReconnect", allowReconnect)
	c.finish(&outgoing{kind: outRecord, msgType: protocol.TypeClose, data: record})
}

// encoder returns the connection's protocol, or JSON before the handshake.
func (c *Conn) encoder() protocol.HubProtocol {
	if c.proto == nil {
		return protocol.JSON{}
	}
	return c.proto
}

// A closeError ends the connection with a Close message carrying text.
type closeError struct{ text string }

func (e *closeError) Error() string { return e.text }

// errHandshakeFailed stops reading after a handshake error response.
var errHandshakeFailed = errors.New("conformance: handshake failed")

// errTransportLost ends the read loop of a stateful connection whose
// WebSocket ended without a Close message, so that a new one can reattach.
var errTransportLost = errors.New("conformance: WebSocket lost")

// A wsClosedError reports the client's WebSocket close frame.
type wsClosedError struct{ body []byte }

func (e *wsClosedError) Error() string { return "conformance: client closed the WebSocket" }

// readLoop reads and handles the messages of t until t or the connection
// ends, and returns the reason. It returns errTransportLost when a stateful
// connection may wait for a reattach.
func (c *Conn) readLoop(t *transport) error {
	c.rt = t
	if d := c.opts.HandshakeTimeout; d > 0 && c.state.Load() == stateHandshake {
		t.netConn.SetReadDeadline(time.Now().Add(d))
	}
	for {
		err := c.readMessage()
		if err == nil {
			continue
		}

		var closed *wsClosedError
		var closeErr *closeError
		var wsErr ws.ProtocolError
		switch {
		case errors.As(err, &closed):
			// Echo the status code, as RFC 6455 section 5.5.1 suggests.
			body := closed.body
			if len(body) > 2 {
				body = body[:2]
			}
			c.finish(nil, body...)
			return err
		case c.state.Load() == stateHandshake && errors.Is(err, os.ErrDeadlineExceeded):
			c.failHandshake("Handshake was canceled.")
		case errors.As(err, &closeErr):
			c.logger.Info("closing connection after invalid input", "error", err)
			c.closeWith(closeErr.text, true, false)
		case errors.Is(err, protocol.ErrMessageTooLarge):
			c.logger.Info("closing connection after a message too large", "error", err)
			c.closeWith("Connection closed with an error. InvalidDataException: The maximum message size of "+
				strconv.Itoa(c.opts.MaxReceiveMessageSize)+"B was exceeded. The message size can be configured in AddHubOptions.", true, false)
		case errors.Is(err, protocol.ErrInvalidFraming):
			c.logger.Info("closing connection after an invalid length prefix", "error", err)
			c.closeWith("Connection closed with an error. InvalidDataException: "+err.Error(), true, false)
		case errors.As(err, &wsErr):
			c.logger.Info("closing connection after a WebSocket protocol error", "error", err)
			c.finish(nil, ws.NewCloseFrameBody(ws.StatusProtocolError, "")...)
		case errors.Is(err, errClientClose):
			c.finish(nil)
		case errors.Is(err, errHandshakeFailed):
		default:
			// The client went away, or the connection was dropped or
			// aborted.
			if c.detach(t) {
				c.logger.Info("WebSocket lost; waiting for the client to reattach", "error", err)
				return errTransportLost
			}
			c.finish(nil)
			return err
		}
		c.drain()
		return err
	}
}

// drain discards what the client sends after the server has finished,
// until the client's close frame, an error or the read deadline set by
// finish.
func (c *Conn) drain() {
	if err := c.rt.reader.Discard(); err != nil {
		return
	}
	for {
		hdr, err := c.rt.reader.NextFrame()
		if err != nil || hdr.OpCode == ws.OpClose {
			return
		}
		if err := c.rt.reader.Discard(); err != nil {
			return
		}
	}
}

// readMessage reads one WebSocket data message and handles the hub
// messages in it. Control frames before and inside it are handled as they
// arrive.
func (c *Conn) readMessage() error {
	hdr, err := c.nextDataFrame()
	if err != nil {
		return err
	}
	var whole []byte
	if c.rec != nil {
		whole = c.wholeBuf[:0]
		defer func() { c.wholeBuf = whole[:0] }()
		c.deferred.reset()
	}
	for {
		n, err := c.rt.reader.Read(c.readBuf)
		if n > 0 {
			c.touchRead()
			chunk := c.readBuf[:n]
			if c.rec != nil {
				whole = append(whole, chunk...)
				if ferr := c.feed(chunk, c.deferred.add); ferr != nil {
					c.rec.add(ClientToServer, formatOf(hdr.OpCode), whole)
					return ferr
				}
			} else if ferr := c.feed(chunk, c.handleRecord); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if c.rec != nil && len(whole) > 0 {
				c.rec.add(ClientToServer, formatOf(hdr.OpCode), whole)
			}
			return err
		}
	}
	if c.rec == nil {
		return nil
	}

	// While recording, the hub messages are handled only after the whole
	// WebSocket message has been recorded, so that the capture shows the
	// client's message before the server's responses.
	// NOTE: so while recording, a WebSocket message made of many small hub
	// messages is buffered whole, without a bound on its total size.
	c.rec.add(ClientToServer, formatOf(hdr.OpCode), whole)
	for i := range c.deferred.len() {
		if err := c.handleRecord(c.deferred.at(i)); err != nil {
			return err
		}
	}
	return nil
}

// nextDataFrame reads frames until the first frame of a data message and
// handles the control frames before it.
func (c *Conn) nextDataFrame() (ws.Header, error) {
	for {
		hdr, err := c.rt.reader.NextFrame()
		if err != nil {
			return hdr, err
		}
		c.touchRead()
		if !hdr.OpCode.IsControl() {
			return hdr, nil
		}
		if err := c.handleControl(hdr, c.rt.reader); err != nil {
			return hdr, err
		}
	}
}

// handleControl replies to a WebSocket Ping with a Pong and reports a close
// frame as a *wsClosedError.
func (c *Conn) handleControl(hdr ws.Header, payload io.Reader) error {
	c.touchRead()
	body, err := io.ReadAll(io.LimitReader(payload, ws.MaxControlFramePayloadSize))
	if err != nil {
		return err
	}
	switch hdr.OpCode {
	case ws.OpPing:
		c.enqueue(c.ctx, outgoing{kind: outPong, data: body})
	case ws.OpClose:
		return &wsClosedError{body: body}
	}
	return nil
}

// feed passes a chunk of a WebSocket message to the framer and each
// complete record to handle.
func (c *Conn) feed(chunk []byte, handle func(record []byte) error) error {
	if err := c.rt.framer.Feed(chunk); err != nil {
		return err
	}
	for {
		record, err := c.rt.framer.Next()
		if err != nil {
			return err
		}
		if record == nil {
			return nil
		}
		if err := handle(record); err != nil {
			return err
		}
	}
}

// handleRecord handles one record: the handshake request first, hub
// messages after it. Records that arrive after finish are ignored.
func (c *Conn) handleRecord(record []byte) error {
	switch c.state.Load() {
	case stateHandshake:
		return c.handshake(record)
	case stateOpen:
		if err := c.proto.ParseMessage(record, &c.message); err != nil {
			return &closeError{text: "Connection closed with an error. InvalidDataException: " + err.Error()}
		}
		return c.receive(&c.message)
	}
	return nil
}

func (c *Conn) touchRead() { c.lastRead.Store(time.Now().UnixNano()) }

// enqueue passes an item to the writer. It fails when the connection has
// finished or ctx is done first.
func (c *Conn) enqueue(ctx context.Context, item outgoing) error {
	if c.isStopped() {
		return ErrConnClosed
	}
	select {
	case c.out <- item:
		return nil
	case <-c.stopped:
		return ErrConnClosed
	case <-c.writerDone:
		return ErrConnClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keepAlive sends a Ping whenever nothing was written for
// KeepAliveInterval, and ends the connection when nothing was received for
// ClientTimeout. It returns when the connection ends.
func (c *Conn) keepAlive() {
	defer c.workers.Done()
	interval, timeout := c.opts.KeepAliveInterval, c.opts.ClientTimeout
	misbehave := c.opts.Misbehave
	pings := interval > 0 && !misbehave.DropPings
	if !pings && timeout <= 0 {
		return
	}

	ping, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.TypePing})
	var lastPing int64 // when the last Ping was queued, in Unix nanoseconds
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		if c.currentTransport() == nil {
			// A stateful connection waiting for a reattach has no client to
			// ping or to time out. The reattach resets lastRead.
			timer.Reset(detachedCheckInterval(interval, timeout))
			select {
			case <-c.ctx.Done():
				return
			case <-timer.C:
			}
			continue
		}
		var next time.Time
		if timeout > 0 {
			deadline := time.Unix(0, c.lastRead.Load()).Add(timeout)
			if !now.Before(deadline) {
				c.logger.Info("client timeout elapsed", "timeout", timeout)
				c.closeWith("Connection closed with an error. Client timeout ("+strconv.FormatInt(timeout.Milliseconds(), 10)+
					"ms) elapsed without receiving a message from the client.", true, true)
				return
			}
			next = deadline
		}
		if pings {
			due := time.Unix(0, max(c.lastWrite.Load(), lastPing)).Add(interval + misbehave.PingDelay)
			if !now.Before(due) {
				if c.enqueue(c.ctx, outgoing{kind: outRecord, msgType: protocol.TypePing, data: ping}) != nil {
					return
				}
				lastPing = now.UnixNano()
				due = now.Add(interval + misbehave.PingDelay)
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		timer.Reset(next.Sub(now))
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// detachedCheckInterval returns how often keepAlive looks for a reattach:
// the shorter of the enabled intervals, and at most a second.
func detachedCheckInterval(interval, timeout time.Duration) time.Duration {
	d := time.Second
	if interval > 0 {
		d = min(d, interval)
	}
	if timeout > 0 {
		d = min(d, timeout)
	}
	return d
}

func formatOf(op ws.OpCode) protocol.TransferFormat {
	if op == ws.OpBinary {
		return protocol.TransferFormatBinary
	}
	return protocol.TransferFormatText
}

func opcodeOf(f protocol.TransferFormat) ws.OpCode {
	if f == protocol.TransferFormatBinary {
		return ws.OpBinary
	}
	return ws.OpText
}

// clientName names the client of a request for captures: the
// X-SignalR-User-Agent header the official clients send, or else the
// User-Agent.
func clientName(r *http.Request) string {
	if ua := r.Header.Get("X-SignalR-User-Agent"); ua != "" {
		return ua
	}
	return r.Header.Get("User-Agent")
}

// A recordList holds copies of records in one arena.
type recordList struct {
	arena []byte
	ends  []int
}

func (l *recordList) reset() {
	l.arena = l.arena[:0]
	l.ends = l.ends[:0]
}

func (l *recordList) add(record []byte) error {
	l.arena = append(l.arena, record...)
	l.ends = append(l.ends, len(l.arena))
	return nil
}

func (l *recordList) len() int { return len(l.ends) }

func (l *recordList) at(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.arena[start:l.ends[i]]
}
