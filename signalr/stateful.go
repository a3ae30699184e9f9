package signalr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
	"github.com/hubwire/hubwire/signalr/transport"
)

// Stateful reconnect numbers the trackable messages (types 1 to 5) of each
// direction from 1. The sender keeps a copy of each until the receiver
// acknowledges it with an Ack. After the transport is reopened, each side
// sends a Sequence with the ID of the first message it sends again, then
// those messages, and the receiver drops what it has already processed.

// ackDelay is how long a received message may wait for its Ack, as in the
// JavaScript client, which batches Acks once a second. Tests shorten it.
var ackDelay = time.Second

const (
	// ackBytes sends an Ack before ackDelay once this many bytes of
	// trackable messages arrived unacknowledged, a quarter of the official
	// clients' buffer, so that a fast peer is not held up by its buffer.
	ackBytes = DefaultStatefulReconnectBufferSize / 4
)

// A resumableConn is a transport connection that can be reopened for the
// same SignalR connection.
type resumableConn interface {
	transportConn

	// statefulReconnect reports whether the server accepted stateful
	// reconnect for this connection.
	statefulReconnect() bool

	// reopen opens a new transport to the same connection.
	reopen(ctx context.Context) (transportConn, error)
}

// A messageBuffer holds the stateful reconnect state of one connection.
type messageBuffer struct {
	limit int // bytes of sent messages kept before senders wait

	mu sync.Mutex

	// Send side. data holds the framed messages sent and not yet
	// acknowledged, in order; ends[i] is the end of message firstID+i.
	data     []byte
	ends     []int
	firstID  int64
	lastSent int64         // ID of the last trackable message sent
	space    chan struct{} // closed and replaced when an Ack frees space

	// Receive side.
	nextReceived  int64 // ID the next trackable message received gets
	lastProcessed int64
	unacked       int         // bytes received since the last Ack
	ackTimer      *time.Timer // pending Ack, or nil

	detached bool          // the transport is lost and being reopened
	attached chan struct{} // closed while a transport is attached
}

func newMessageBuffer(limit int) *messageBuffer {
	b := &messageBuffer{limit: limit, space: make(chan struct{}), nextReceived: 1, attached: make(chan struct{})}
	close(b.attached)
	return b
}

// waitAttached waits until a transport is attached, ctx ends or done is
// closed.
func (b *messageBuffer) waitAttached(ctx context.Context, done <-chan struct{}) error {
	b.mu.Lock()
	attached := b.attached
	b.mu.Unlock()
	select {
	case <-attached:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrConnectionClosed
	}
}

// waitSpace waits until the buffer has room, ctx ends or done is closed.
func (b *messageBuffer) waitSpace(ctx context.Context, done <-chan struct{}) error {
	for {
		b.mu.Lock()
		full, space := len(b.data) >= b.limit, b.space
		b.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return ErrConnectionClosed
		}
	}
}

// add keeps a copy of a trackable message about to be sent.
func (b *messageBuffer) add(frame []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastSent++
	if len(b.ends) == 0 {
		b.firstID = b.lastSent
	}
	b.data = append(b.data, frame...)
	b.ends = append(b.ends, len(b.data))
}

// ack drops the copies of the messages up to and including id.
func (b *messageBuffer) ack(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int(min(id-b.firstID+1, int64(len(b.ends))))
	if len(b.ends) == 0 || n <= 0 {
		return
	}
	cut := b.ends[n-1]
	b.data = b.data[:copy(b.data, b.data[cut:])]
	b.ends = b.ends[:copy(b.ends, b.ends[n:])]
	for i := range b.ends {
		b.ends[i] -= cut
	}
	b.firstID += int64(n)
	close(b.space)
	b.space = make(chan struct{})
}

// resendFrom returns the ID for the Sequence message after a reattach and
// a copy of the messages to send again.
func (b *messageBuffer) resendFrom() (int64, []byte, []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ends) == 0 {
		return b.lastSent + 1, nil, nil
	}
	return b.firstID, append([]byte(nil), b.data...), append([]int(nil), b.ends...)
}

// received counts an incoming trackable message of size bytes and reports
// whether it is new. A message already processed before the transport was
// reopened is a duplicate.
func (b *messageBuffer) received(size int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextReceived
	b.nextReceived++
	if id <= b.lastProcessed {
		return false
	}
	b.lastProcessed = id
	b.unacked += size
	return true
}

// resetSequence applies a Sequence message from the peer: the next
// message it sends has the ID id.
func (b *messageBuffer) resetSequence(id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The limit is the highest ID processed, plus one, and not the count
	// of messages received since the last Sequence. When a cut interrupts
	// the server's resending, the server may already hold an Ack for
	// messages that the count has not reached again.
	if id > b.lastProcessed+1 {
		return fmt.Errorf("signalr: the server's Sequence message resends from ID %d, but only %d messages were received", id, b.lastProcessed)
	}
	if id < 1 {
		return fmt.Errorf("signalr: the server's Sequence message has the invalid ID %d", id)
	}
	b.nextReceived = id
	return nil
}

func (b *messageBuffer) setDetached(detached bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case detached && !b.detached:
		b.attached = make(chan struct{})
	case !detached && b.detached:
		close(b.attached)
	}
	b.detached = detached
}

func (b *messageBuffer) isDetached() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.detached
}

// scheduleAck arranges an Ack for the messages received so far: at once
// when many bytes are unacknowledged, else after ackDelay.
func (conn *connection) scheduleAck() {
	b := conn.sr
	b.mu.Lock()
	now := b.unacked >= ackBytes
	if !now && b.ackTimer == nil {
		b.ackTimer = time.AfterFunc(ackDelay, conn.sendAck)
	}
	b.mu.Unlock()
	if now {
		conn.sendAck()
	}
}

// sendAck sends an Ack for the last message processed. A lost transport
// drops it, and the messages the server sends again after the reattach
// bring about another.
func (conn *connection) sendAck() {
	b := conn.sr
	b.mu.Lock()
	if b.ackTimer != nil {
		b.ackTimer.Stop()
		b.ackTimer = nil
	}
	id := b.lastProcessed
	b.unacked = 0
	b.mu.Unlock()

	m := protocol.Message{Type: protocol.TypeAck, SequenceID: id}
	ctx, cancel := context.WithTimeout(context.Background(), conn.client.config.HandshakeTimeout)
	defer cancel()
	if err := conn.write(ctx, &m); err != nil {
		conn.client.log.Debug("signalr: sending an Ack failed", "connectionId", conn.id, "error", err)
	}
}

// stopAcks cancels a pending Ack when the connection ends.
func (conn *connection) stopAcks() {
	b := conn.sr
	b.mu.Lock()
	if b.ackTimer != nil {
		b.ackTimer.Stop()
		b.ackTimer = nil
	}
	b.mu.Unlock()
}

// resume reopens the transport after it was lost with cause, sends the
// Sequence message and then every message the server has not
// acknowledged. It runs on the read loop. When the new transport cannot be
// reached or fails at once, resume tries again, with short pauses, until
// Config.HandshakeTimeout has passed, because the server keeps the
// connection for a while. An HTTP error status, such as the 404 of a
// server that has dropped the connection, ends the attempts at once.
// An error means the connection cannot continue.
func (conn *connection) resume(cause error) error {
	c := conn.client
	c.log.Warn("signalr: transport lost; reopening it for stateful reconnect", "connectionId", conn.id, "error", cause)

	// Writers skip the transport from now on; what they send is buffered
	// and sent again below.
	conn.detach()

	ctx, cancel := context.WithTimeout(context.Background(), c.config.HandshakeTimeout)
	defer cancel()
	go func() {
		select {
		case <-conn.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	pause := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := conn.reattach(ctx)
		if err == nil {
			c.emit(c.config.OnReattached, conn.id)
			return nil
		}
		if errors.Is(err, ErrConnectionClosed) {
			return err
		}
		c.log.Info("signalr: reopening the transport failed", "connectionId", conn.id, "attempt", attempt, "error", err)
		var status *transport.StatusError
		if errors.As(err, &status) {
			return fmt.Errorf("%w: the transport was lost (%v), and reopening it failed: %w", ErrStatefulReconnectFailed, cause, err)
		}
		conn.detach()
		select {
		case <-time.After(pause):
			pause = min(2*pause, 500*time.Millisecond)
		case <-ctx.Done():
			return fmt.Errorf("%w: the transport was lost (%v), and reopening it failed until the handshake timeout: %w", ErrStatefulReconnectFailed, cause, err)
		}
	}
}

// detach closes the transport and makes writers buffer instead of writing.
func (conn *connection) detach() {
	conn.tcMu.Lock()
	old := conn.tc
	conn.tcMu.Unlock()
	old.Close()
	conn.wmu <- struct{}{}
	conn.sr.setDetached(true)
	<-conn.wmu
	conn.framer.Reset()
}

// reattach opens a new transport, makes it the connection's, and sends the
// Sequence message and the unacknowledged messages on it.
func (conn *connection) reattach(ctx context.Context) error {
	tc, err := conn.reopen(ctx)
	if err != nil {
		return err
	}

	conn.wmu <- struct{}{}
	defer func() { <-conn.wmu }()
	conn.tcMu.Lock()
	if conn.isDone() {
		conn.tcMu.Unlock()
		tc.Close()
		return ErrConnectionClosed
	}
	conn.tc = tc
	conn.tcMu.Unlock()

	id, data, ends := conn.sr.resendFrom()
	seq := protocol.Message{Type: protocol.TypeSequence, SequenceID: id}
	frame, err := conn.proto.AppendMessage(nil, &seq)
	if err != nil {
		return err
	}
	if err := tc.WriteMessage(ctx, frame); err != nil {
		return fmt.Errorf("sending the Sequence message: %w", err)
	}
	start := 0
	for _, end := range ends {
		if err := tc.WriteMessage(ctx, data[start:end]); err != nil {
			return fmt.Errorf("sending buffered messages again: %w", err)
		}
		start = end
	}
	now := conn.now()
	conn.lastRecv.Store(now)
	conn.lastSent.Store(now)
	conn.sr.setDetached(false)
	conn.client.log.Info("signalr: transport reopened", "connectionId", conn.id, "sequenceId", id, "resent", len(ends))
	return nil
}
