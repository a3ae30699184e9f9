package signalr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A connection is one transport connection of a Client, from the handshake
// to its end.
type connection struct {
	client *Client
	id     string

	// tc is replaced only by the read loop, under tcMu and wmu, when
	// stateful reconnect reopens the transport.
	tcMu sync.Mutex
	tc   transportConn

	// sr is the stateful reconnect state, or nil when the server did not
	// accept stateful reconnect. reopen opens a new transport to the same
	// connection.
	sr     *messageBuffer
	reopen func(ctx context.Context) (transportConn, error)
	lost   atomic.Pointer[error] // the error with which the keep-alive gave up on the transport
	proto  protocol.HubProtocol
	start  time.Time // origin of lastSent and lastRecv

	lastSent atomic.Int64 // nanoseconds since start
	lastRecv atomic.Int64 // nanoseconds since start
	nextID   atomic.Uint64

	// Owned by the read loop:
	framer protocol.Framer
	rmsg   protocol.Message

	// wmu is a one-slot semaphore held while a message is encoded and
	// written, so that writers can wait for it with a context. It guards
	// wbuf, wmsg and argBuf.
	wmu    chan struct{}
	wbuf   []byte
	wmsg   protocol.Message
	argBuf []byte
	argEnd []int
	idBuf  [20]byte

	mu      sync.Mutex // guards calls, err, failing, ended and stopped
	calls   map[uint64]*call
	err     error // cause of the connection's end, or nil after Stop
	failing bool  // fail has been called
	ended   bool  // fail has informed the client and failed the calls
	stopped bool  // Stop was called

	done     chan struct{} // closed when the connection has ended
	handlers *handlerQueue
	wg       sync.WaitGroup // the connection's goroutines
}

func newConnection(c *Client, tc transportConn, id string) *connection {
	conn := &connection{
		client: c,
		tc:     tc,
		id:     id,
		proto:  c.config.Protocol,
		start:  time.Now(),
		wmu:    make(chan struct{}, 1),
		calls:  make(map[uint64]*call),
		done:   make(chan struct{}),
	}
	conn.framer = protocol.Framer{Format: conn.proto.TransferFormat(), MaxMessageSize: c.config.MaxMessageSize}
	conn.handlers = newHandlerQueue(conn, c.config.MaxHandlerQueue)
	return conn
}

func (conn *connection) now() int64 { return nowSince(conn.start) }

// run starts the connection's goroutines after a successful handshake. The
// client counts them in wg when it publishes the connection, so that a Stop
// between publishing and run waits for them.
func (conn *connection) run() {
	go conn.readLoop()
	go conn.keepAlive()
	go conn.handlers.run()

	// The JavaScript client sends a Ping right after the handshake, which
	// lets the server's client timeout start from a message.
	m := protocol.Message{Type: protocol.TypePing}
	ctx, cancel := context.WithTimeout(context.Background(), conn.client.config.HandshakeTimeout)
	defer cancel()
	if err := conn.write(ctx, &m); err != nil {
		conn.fail(err)
	}
}

func (conn *connection) isDone() bool {
	select {
	case <-conn.done:
		return true
	default:
		return false
	}
}

func (conn *connection) endErr() error {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return conn.err
}

// fail ends the connection with err. Only the first call has an effect.
// Calls still waiting fail with an error wrapping ErrConnectionClosed and
// err.
func (conn *connection) fail(err error) {
	conn.mu.Lock()
	if conn.failing {
		conn.mu.Unlock()
		return
	}
	conn.failing = true
	stopped := conn.stopped
	conn.mu.Unlock()

	if err != nil && !stopped {
		conn.client.log.Warn("signalr: connection ended", "connectionId", conn.id, "error", err)
	}
	// The client learns of the end before anyone can see the connection
	// as ended, so that a caller who gets a closed-connection error and
	// calls again waits for the reconnect instead of finding this
	// connection once more.
	conn.client.connectionEnded(conn, err, stopped)

	conn.mu.Lock()
	conn.ended = true
	if !stopped {
		conn.err = err
	}
	calls := conn.calls
	conn.calls = nil
	conn.mu.Unlock()

	if conn.sr != nil {
		conn.stopAcks()
	}
	closeErr := &closedError{cause: err}
	for _, cl := range calls {
		cl.finish(nil, false, closeErr)
	}
	conn.tcMu.Lock()
	conn.tc.Close()
	conn.tcMu.Unlock()
	conn.handlers.close()
	close(conn.done)
}

// stop sends a Close message and ends the connection.
func (conn *connection) stop(ctx context.Context) error {
	conn.mu.Lock()
	alreadyEnded := conn.ended
	conn.stopped = true
	conn.mu.Unlock()
	if !alreadyEnded {
		m := protocol.Message{Type: protocol.TypeClose}
		if err := conn.write(ctx, &m); err != nil {
			conn.client.log.Debug("signalr: sending Close failed", "connectionId", conn.id, "error", err)
		}
		conn.fail(nil)
	}
	waited := make(chan struct{})
	go func() {
		conn.wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readLoop owns all reads. It parses each message and dispatches it.
func (conn *connection) readLoop() {
	defer conn.wg.Done()
	for {
		if err := conn.drainFramer(); err != nil {
			conn.fail(err)
			return
		}
		_, data, err := conn.tc.ReadMessage()
		if err != nil {
			if lost := conn.lost.Swap(nil); lost != nil {
				err = *lost
			}
			if conn.sr != nil && !conn.isStopping() {
				if err = conn.resume(err); err == nil {
					continue
				}
			}
			conn.fail(err)
			return
		}
		conn.lastRecv.Store(conn.now())
		if err := conn.framer.Feed(data); err != nil {
			conn.fail(err)
			return
		}
	}
}

// drainFramer handles every complete message buffered in the framer.
func (conn *connection) drainFramer() error {
	for {
		payload, err := conn.framer.Next()
		if err != nil || payload == nil {
			return err
		}
		if err := conn.proto.ParseMessage(payload, &conn.rmsg); err != nil {
			return err
		}
		if err := conn.dispatch(&conn.rmsg, len(payload)); err != nil {
			return err
		}
	}
}

// dispatch acts on one message from the server. m is valid only during the
// call. size is the length of its encoding.
func (conn *connection) dispatch(m *protocol.Message, size int) error {
	if conn.sr != nil {
		switch {
		case m.Type.IsTrackable():
			// An Ack follows duplicates too: the server sends messages
			// again when it missed the Ack for them, and keeps them until
			// one arrives.
			conn.scheduleAck()
			if !conn.sr.received(size) {
				return nil // sent again after a reattach, and processed before
			}
		case m.Type == protocol.TypeAck:
			conn.sr.ack(m.SequenceID)
			return nil
		case m.Type == protocol.TypeSequence:
			return conn.sr.resetSequence(m.SequenceID)
		}
	}
	switch m.Type {
	case protocol.TypeInvocation:
		return conn.handlers.push(m)
	case protocol.TypeStreamItem:
		if cl := conn.lookup(m.InvocationID, false); cl != nil && cl.stream != nil {
			cl.stream.push(m.Item)
		}
	case protocol.TypeCompletion:
		cl := conn.lookup(m.InvocationID, true)
		if cl == nil {
			conn.client.log.Debug("signalr: ignoring a Completion for an unknown invocation", "invocationId", m.InvocationID)
			return nil
		}
		var err error
		if m.HasError {
			err = &HubError{Message: m.Error}
		}
		cl.finish(m.Result, m.HasResult, err)
	case protocol.TypeClose:
		return &CloseError{Message: m.Error, HasError: m.HasError, AllowReconnect: m.AllowReconnect}
	case protocol.TypeStreamInvocation, protocol.TypeCancelInvocation:
		conn.client.log.Debug("signalr: ignoring a message clients do not expect", "type", m.Type.String())
	}
	// Ping needs no action beyond the receive time the read loop stored.
	// Ack and Sequence matter only with stateful reconnect, handled above,
	// and messages of unknown types are ignored.
	return nil
}

// lookup finds the call of an invocation ID. remove takes it out of the
// pending calls.
func (conn *connection) lookup(id string, remove bool) *call {
	// The client writes IDs in canonical decimal, so another spelling of
	// the same number, such as "01", is an unknown ID.
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || (len(id) > 1 && id[0] == '0') {
		return nil
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	cl := conn.calls[n]
	if cl != nil && remove {
		delete(conn.calls, n)
	}
	return cl
}

// register adds a pending call and returns its invocation ID.
func (conn *connection) register(cl *call) (uint64, error) {
	id := conn.nextID.Add(1)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.ended {
		return 0, &closedError{cause: conn.err}
	}
	conn.calls[id] = cl
	return id, nil
}

// unregister removes a pending call. It reports false when the call was no
// longer pending because it has finished or is finishing.
func (conn *connection) unregister(id uint64) bool {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if _, ok := conn.calls[id]; !ok {
		return false
	}
	delete(conn.calls, id)
	return true
}

// keepAlive sends a Ping when nothing was sent for the keep-alive interval
// and ends the connection when nothing arrived for the server timeout.
func (conn *connection) keepAlive() {
	defer conn.wg.Done()
	cfg := &conn.client.config
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := conn.now()
		next := int64(time.Hour)
		if cfg.ServerTimeout > 0 {
			deadline := conn.lastRecv.Load() + int64(cfg.ServerTimeout)
			if now >= deadline && conn.sr != nil {
				// The read loop reopens the transport once it fails.
				conn.abortTransport(ErrServerTimeout)
				conn.lastRecv.Store(now)
				deadline = now + int64(cfg.ServerTimeout)
			} else if now >= deadline {
				conn.fail(ErrServerTimeout)
				return
			}
			next = min(next, deadline-now)
		}
		if cfg.KeepAliveInterval > 0 {
			due := conn.lastSent.Load() + int64(cfg.KeepAliveInterval)
			if now >= due {
				m := protocol.Message{Type: protocol.TypePing}
				ctx, cancel := context.WithTimeout(context.Background(), cfg.KeepAliveInterval)
				err := conn.write(ctx, &m)
				cancel()
				if err != nil {
					conn.fail(err)
					return
				}
				due = conn.now() + int64(cfg.KeepAliveInterval)
			}
			next = min(next, due-now)
		}
		timer.Reset(time.Duration(max(next, int64(time.Millisecond))))
		select {
		case <-timer.C:
		case <-conn.done:
			return
		}
	}
}

// abortTransport closes the transport so that the read loop fails and,
// with stateful reconnect, reopens it. cause replaces the read error.
func (conn *connection) abortTransport(cause error) {
	conn.lost.Store(&cause)
	conn.tcMu.Lock()
	conn.tc.Close()
	conn.tcMu.Unlock()
}

// isStopping reports whether Stop was called.
func (conn *connection) isStopping() bool {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return conn.stopped || conn.failing
}

// lockWrite acquires wmu unless ctx or the connection ends first.
func (conn *connection) lockWrite(ctx context.Context) error {
	select {
	case conn.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-conn.done:
		return &closedError{cause: conn.endErr()}
	}
	if conn.isDone() {
		<-conn.wmu
		return &closedError{cause: conn.endErr()}
	}
	return nil
}

func (conn *connection) unlockWrite() { <-conn.wmu }

// write encodes and sends m.
func (conn *connection) write(ctx context.Context, m *protocol.Message) error {
	if conn.sr != nil && m.Type.IsTrackable() {
		if err := conn.waitWritable(ctx); err != nil {
			return err
		}
	}
	if err := conn.lockWrite(ctx); err != nil {
		return err
	}
	err := conn.writeLocked(ctx, m)
	conn.unlockWrite()
	return conn.writeResult(ctx, err)
}

// errResendPending reports a trackable message that stateful reconnect
// buffered while the transport was lost. It is sent once the transport is
// back, and lost if reopening fails.
var errResendPending = errors.New("signalr: message waits for the transport to be reopened")

// waitWritable waits, with stateful reconnect, until the transport is
// attached and the buffer has room, so that a new message is neither
// written into a lost transport nor buffered beyond the limit.
func (conn *connection) waitWritable(ctx context.Context) error {
	if err := conn.sr.waitAttached(ctx, conn.done); err != nil {
		return conn.closedOr(err)
	}
	if err := conn.sr.waitSpace(ctx, conn.done); err != nil {
		return conn.closedOr(err)
	}
	return nil
}

// writeResult turns the result of writeLocked into the caller's: a
// message buffered for resending succeeds only once the transport is back.
func (conn *connection) writeResult(ctx context.Context, err error) error {
	if err != errResendPending {
		return err
	}
	return conn.closedOr(conn.sr.waitAttached(ctx, conn.done))
}

// closedOr returns err, with ErrConnectionClosed replaced by a closed
// error that wraps the cause of the connection's end.
func (conn *connection) closedOr(err error) error {
	if err == ErrConnectionClosed {
		return &closedError{cause: conn.endErr()}
	}
	return err
}

// writeLocked encodes and sends m while wmu is held.
func (conn *connection) writeLocked(ctx context.Context, m *protocol.Message) error {
	buf, err := conn.proto.AppendMessage(conn.wbuf[:0], m)
	if err != nil {
		return err
	}
	conn.wbuf = buf
	if conn.sr != nil {
		if err := ctx.Err(); err != nil {
			return err // not sent, so not numbered either
		}
		trackable := m.Type.IsTrackable()
		if trackable {
			conn.sr.add(buf)
		}
		if conn.sr.isDetached() {
			if trackable {
				return errResendPending
			}
			return nil // a Ping or Ack is not needed after the reattach
		}
	}
	if err := conn.tc.WriteMessage(ctx, buf); err != nil {
		if conn.sr != nil {
			// A failed write may leave part of a frame on the wire, so
			// the transport is done for. The message is buffered when it
			// matters, and the read loop reopens the transport and sends
			// it again.
			conn.abortTransport(err)
			if m.Type.IsTrackable() {
				return errResendPending
			}
			return nil
		}
		if ctx.Err() == nil {
			conn.fail(err)
			return &closedError{cause: err}
		}
		return err
	}
	conn.lastSent.Store(conn.now())
	return nil
}

// writeCall encodes and sends an Invocation or StreamInvocation. Arguments
// of type protocol.RawValue are written as they are; others are encoded by
// the hub protocol. Arguments of type *ClientStream become stream IDs.
func (conn *connection) writeCall(ctx context.Context, typ protocol.MessageType, id uint64, target string, args []any, streams []*ClientStream) error {
	if conn.sr != nil {
		if err := conn.waitWritable(ctx); err != nil {
			return err
		}
	}
	if err := conn.lockWrite(ctx); err != nil {
		return err
	}
	err := conn.writeCallLocked(ctx, typ, id, target, args, streams)
	conn.unlockWrite()
	return conn.writeResult(ctx, err)
}

// writeCallLocked encodes and sends the call while wmu is held.
func (conn *connection) writeCallLocked(ctx context.Context, typ protocol.MessageType, id uint64, target string, args []any, streams []*ClientStream) error {
	m := &conn.wmsg
	m.Reset()
	m.Type = typ
	m.Target = target
	if id != 0 {
		m.InvocationID = bytesToString(strconv.AppendUint(conn.idBuf[:0], id, 10))
	}

	// Encoded arguments go into argBuf first and are sliced out only when
	// it no longer grows.
	conn.argBuf = conn.argBuf[:0]
	conn.argEnd = conn.argEnd[:0]
	for _, a := range args {
		switch v := a.(type) {
		case protocol.RawValue:
			conn.argEnd = append(conn.argEnd, -1)
		case *ClientStream:
			continue
		default:
			var err error
			if conn.argBuf, err = conn.proto.AppendValue(conn.argBuf, v); err != nil {
				return fmt.Errorf("signalr: encoding argument %d of %s: %w", len(conn.argEnd), target, err)
			}
			conn.argEnd = append(conn.argEnd, len(conn.argBuf))
		}
	}
	start, i := 0, 0
	for _, a := range args {
		if raw, ok := a.(protocol.RawValue); ok {
			m.Arguments = append(m.Arguments, raw)
			i++
			continue
		}
		if _, ok := a.(*ClientStream); ok {
			continue
		}
		end := conn.argEnd[i]
		m.Arguments = append(m.Arguments, conn.argBuf[start:end:end])
		start = end
		i++
	}
	for _, s := range streams {
		m.StreamIDs = append(m.StreamIDs, s.idString())
	}
	return conn.writeLocked(ctx, m)
}
