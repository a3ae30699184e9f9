package conformance

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A SequenceState is a snapshot of the stateful reconnect state of a
// connection. Sequence ids count trackable messages (types 1 to 5) from 1,
// separately in each direction.
type SequenceState struct {
	// LastSent is the id of the newest message the server has numbered,
	// whether written to a WebSocket or kept while the connection had
	// none.
	LastSent int64

	// LastAcked is the highest id the client has acknowledged with Ack.
	LastAcked int64

	// Buffered is the number of unacknowledged messages the server keeps
	// for resending, and BufferedBytes their size with framing.
	Buffered      int
	BufferedBytes int

	// LastReceived is the id of the newest message from the client that
	// the server processed.
	LastReceived int64

	// Duplicates counts the messages from the client that the server
	// dropped because their id was not above LastReceived.
	Duplicates int64

	// Reattaches counts the WebSockets that reattached to the connection.
	Reattaches int

	// Attached reports whether a WebSocket serves the connection.
	Attached bool
}

// SequenceState returns the stateful reconnect state of the connection, and
// false when the connection does not use stateful reconnect.
func (c *Conn) SequenceState() (SequenceState, bool) {
	s := c.seq.Load()
	if s == nil {
		return SequenceState{}, false
	}
	attached := c.currentTransport() != nil
	s.mu.Lock()
	defer s.mu.Unlock()
	return SequenceState{
		LastSent:      s.lastSent,
		LastAcked:     s.lastAcked,
		Buffered:      len(s.buffer),
		BufferedBytes: s.bufferedBytes,
		LastReceived:  s.lastReceived,
		Duplicates:    s.duplicates,
		Reattaches:    s.reattaches,
		Attached:      attached,
	}, true
}

// A bufferedMessage is a framed trackable message kept until the client
// acknowledges its id.
type bufferedMessage struct {
	id     int64
	record []byte
}

// A sequencer contains the stateful reconnect state of a connection.
type sequencer struct {
	limit int // max bufferedBytes, or none when 0 or less

	// sendSlot orders numbering and queueing, so that the writer takes
	// trackable messages in the order of their ids.
	sendSlot chan struct{}

	// ackWanted signals the Ack goroutine that a message to acknowledge
	// has arrived.
	ackWanted chan struct{}

	mu            sync.Mutex // guards following
	buffer        []bufferedMessage
	bufferedBytes int
	lastSent      int64
	lastAcked     int64
	space         chan struct{} // closed and replaced when an Ack frees space

	nextReceive      int64 // id of the next trackable message from the client
	lastReceived     int64
	duplicates       int64
	awaitingSequence bool  // set from the loss of a WebSocket to the client's Sequence
	lastAckSent      int64 // id of the last Ack queued since the client's Sequence
	reattaches       int
}

func newSequencer(limit int) *sequencer {
	return &sequencer{
		limit:       limit,
		sendSlot:    make(chan struct{}, 1),
		ackWanted:   make(chan struct{}, 1),
		space:       make(chan struct{}),
		nextReceive: 1,
	}
}

// sendRecord passes a framed hub message of type typ to the writer. On a
// stateful connection a trackable message gets the next sequence id and is
// kept until the client acknowledges it. With wait, the sender first waits
// while the kept messages take up the buffer limit. Senders that find space
// at the same moment each add their message, so the buffer can exceed the
// limit by those messages.
func (c *Conn) sendRecord(ctx context.Context, typ protocol.MessageType, record []byte, wait bool) error {
	s := c.seq.Load()
	if s == nil || !typ.IsTrackable() {
		return c.enqueue(ctx, outgoing{kind: outRecord, msgType: typ, data: record})
	}
	if wait {
		if err := c.waitForSpace(ctx, s); err != nil {
			return err
		}
	}
	select {
	case s.sendSlot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		return ErrConnClosed
	}
	defer func() { <-s.sendSlot }()
	if c.isStopped() {
		return ErrConnClosed
	}

	s.mu.Lock()
	s.lastSent++
	id := s.lastSent
	s.buffer = append(s.buffer, bufferedMessage{id: id, record: record})
	s.bufferedBytes += len(record)
	s.mu.Unlock()

	// Once numbered, the message must reach the writer even when ctx is
	// done, or the client's ids would no longer match the server's.
	return c.enqueue(context.Background(), outgoing{kind: outRecord, msgType: typ, data: record, seq: id})
}

// waitForSpace waits until the buffered messages take up less than the
// buffer limit.
func (c *Conn) waitForSpace(ctx context.Context, s *sequencer) error {
	if s.limit <= 0 {
		return nil
	}
	for {
		s.mu.Lock()
		full := s.bufferedBytes >= s.limit
		space := s.space
		s.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stopped:
			return ErrConnClosed
		}
	}
}

// receive handles one hub message from the client: with stateful reconnect
// it drops duplicates and the messages before the client's Sequence, then
// it reports the message to Options.OnMessage and dispatches it.
func (c *Conn) receive(m *protocol.Message) error {
	if s := c.seq.Load(); s != nil && !s.accept(m) {
		return nil
	}
	if c.opts.OnMessage != nil {
		c.opts.OnMessage(c, m)
	}
	return c.dispatch(m)
}

// accept counts a message from the client and reports whether to process
// it. The server processes nothing between the loss of a WebSocket and the
// client's Sequence, as the .NET server does.
func (s *sequencer) accept(m *protocol.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.awaitingSequence {
		return m.Type == protocol.TypeSequence
	}
	if !m.Type.IsTrackable() {
		return true
	}
	id := s.nextReceive
	s.nextReceive++
	if id <= s.lastReceived {
		s.duplicates++
		return false
	}
	s.lastReceived = id
	select {
	case s.ackWanted <- struct{}{}:
	default:
	}
	return true
}

// ack drops the buffered messages the client acknowledged.
func (c *Conn) ack(id int64) error {
	s := c.seq.Load()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id > s.lastSent {
		return &closeError{text: "Connection closed with an error. InvalidDataException: Ack for sequence ID " +
			strconv.FormatInt(id, 10) + ", but the server has sent only " + strconv.FormatInt(s.lastSent, 10) + " messages."}
	}
	n := 0
	for n < len(s.buffer) && s.buffer[n].id <= id {
		s.bufferedBytes -= len(s.buffer[n].record)
		s.buffer[n] = bufferedMessage{}
		n++
	}
	s.buffer = s.buffer[n:]
	s.lastAcked = max(s.lastAcked, id)
	if n > 0 {
		close(s.space)
		s.space = make(chan struct{})
	}
	return nil
}

// resetSequence handles the client's Sequence: the next message from the
// client has the id it names. After a reattach it also resumes processing
// and makes the server acknowledge again what it has processed.
func (c *Conn) resetSequence(id int64) error {
	s := c.seq.Load()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The limit is the highest id processed, plus one, and not the count
	// of messages received since the last Sequence. When a cut interrupts
	// the client's resending, the client may already have an Ack for
	// messages that the count has not reached again.
	if id > s.lastReceived+1 {
		return &closeError{text: "Connection closed with an error. InvalidOperationException: Sequence ID greater than amount of messages we've received."}
	}
	s.nextReceive = id
	if s.awaitingSequence {
		s.awaitingSequence = false
		// An Ack queued before the loss may never have arrived.
		s.lastAckSent = 0
		if s.lastReceived > 0 {
			select {
			case s.ackWanted <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// ackLoop sends an Ack with the highest processed id AckInterval after a
// message arrived, until the connection ends. It sends none while the
// connection waits for a reattach or the client's Sequence.
func (c *Conn) ackLoop(s *sequencer) {
	defer c.workers.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-s.ackWanted:
		case <-c.ctx.Done():
			return
		}
		timer.Reset(c.opts.AckInterval)
		select {
		case <-timer.C:
		case <-c.ctx.Done():
			timer.Stop()
			return
		}

		s.mu.Lock()
		id := s.lastReceived
		send := !s.awaitingSequence && id > s.lastAckSent
		if send {
			s.lastAckSent = id
		}
		s.mu.Unlock()
		if !send {
			continue
		}
		record, err := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.TypeAck, SequenceID: id})
		if err != nil {
			c.logger.Error("encoding Ack failed", "error", err)
			return
		}
		if c.enqueue(c.ctx, outgoing{kind: outRecord, msgType: protocol.TypeAck, data: record}) != nil {
			return
		}
	}
}

// detach reports whether the connection outlives the loss of t, its
// WebSocket: it must use stateful reconnect and be neither closing nor
// aborted. Then the connection has no WebSocket until a reattach.
func (c *Conn) detach(t *transport) bool {
	s := c.seq.Load()
	if s == nil || !c.isOpen() || c.isAborted() || c.opts.ReconnectWindow <= 0 {
		return false
	}
	t.close()
	c.tmu.Lock()
	if c.attached == t {
		c.attached = nil
	}
	c.tmu.Unlock()
	s.mu.Lock()
	s.awaitingSequence = true
	s.mu.Unlock()
	return true
}

// awaitReattach waits up to ReconnectWindow for a WebSocket to reattach
// and returns it, or nil when the window passes or the connection ends.
func (c *Conn) awaitReattach() *transport {
	timer := time.NewTimer(c.opts.ReconnectWindow)
	defer timer.Stop()
	for {
		if t := c.takeOffered(); t != nil {
			return t
		}
		select {
		case <-c.offerSignal:
		case <-timer.C:
			c.logger.Info("reconnect window elapsed without a reattach", "window", c.opts.ReconnectWindow)
			return nil
		case <-c.aborted:
			return nil
		case <-c.stopped:
			return nil
		}
	}
}

// takeOffered attaches the WebSocket offered for a reattach, if any.
func (c *Conn) takeOffered() *transport {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	t := c.offered
	if t != nil && c.attached == nil {
		c.offered = nil
		c.attached = t
		return t
	}
	return nil
}

// offer hands a new WebSocket for the connection's token to the connection.
// A WebSocket still attached is closed, so that the new one replaces it. It
// reports false when the connection has ended or cannot reattach.
func (c *Conn) offer(t *transport) bool {
	c.tmu.Lock()
	if c.transportsClosed || c.seq.Load() == nil || !c.isOpen() {
		c.tmu.Unlock()
		return false
	}
	previous, attached := c.offered, c.attached
	c.offered = t
	c.tmu.Unlock()

	if previous != nil {
		previous.close()
	}
	if attached != nil {
		c.logger.Info("a new WebSocket replaces the attached one")
		attached.close()
	}
	select {
	case c.offerSignal <- struct{}{}:
	default:
	}
	return true
}

// runReattached makes the writer resend over t and reads t until it ends.
func (c *Conn) runReattached(t *transport) error {
	s := c.seq.Load()
	s.mu.Lock()
	s.reattaches++
	s.mu.Unlock()
	c.logger.Info("WebSocket reattached")
	c.touchRead()

	t.framer.Format = c.proto.TransferFormat()
	attached := make(chan struct{})
	if err := c.enqueue(context.Background(), outgoing{kind: outAttach, transport: t, done: attached}); err != nil {
		return err
	}
	select {
	case <-attached:
	case <-c.writerDone:
		return ErrConnClosed
	}
	return c.readLoop(t)
}

// resend writes Sequence with the id of the first message it resends, or
// of the next message when none is buffered, and then every buffered
// message in order.
func (c *Conn) resend(w *writeState) error {
	s := c.seq.Load()
	s.mu.Lock()
	first := s.lastSent + 1
	if len(s.buffer) > 0 {
		first = s.buffer[0].id
	}
	buffered := append([]bufferedMessage(nil), s.buffer...)
	s.mu.Unlock()

	record, err := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.TypeSequence, SequenceID: first})
	if err != nil {
		return err
	}
	if err := c.writeFrames(w, c.opcode, record, true); err != nil {
		return err
	}
	for _, m := range buffered {
		if err := c.writeFrames(w, c.opcode, m.record, true); err != nil {
			return err
		}
		w.lastSeq = max(w.lastSeq, m.id)
	}
	return nil
}
