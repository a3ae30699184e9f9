package conformance

import (
	"bufio"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// outKind is the kind of an item for the writer goroutine.
type outKind uint8

const (
	outRecord    outKind = iota // one framed hub message
	outHandshake                // the handshake response
	outHold                     // collect the following messages into one WebSocket message
	outRelease                  // send what was collected since outHold
	outPong                     // a WebSocket Pong with data as its payload
	outFinal                    // send last, then a WebSocket close frame with data as its body, and stop
	outAttach                   // switch to a reattached transport and resend
	outDrop                     // close transport once the items before it are written
	outNotify                   // close done once the items before it are written
)

// An outgoing item is one unit of work for the writer goroutine.
type outgoing struct {
	kind    outKind
	msgType protocol.MessageType // type of an outRecord, for the misbehaviors
	data    []byte
	last    *outgoing // of an outFinal

	// seq is the sequence id of a trackable outRecord on a stateful
	// connection, and 0 otherwise.
	seq int64

	// transport is the WebSocket of an outAttach or outDrop.
	transport *transport

	// done is closed by the writer when it takes an outNotify, and when it
	// has switched to the transport of an outAttach, so that the reader of
	// the new transport starts after the writer.
	done chan struct{}
}

// A writeState is owned by the writer goroutine.
type writeState struct {
	t        *transport
	bw       *bufio.Writer
	pending  []byte // messages collected since outHold
	holding  bool
	batch    []byte
	strayIDs int   // numbers the invocation ids of stray Completions
	lastSeq  int64 // the highest sequence id written, resent ones included
}

// use makes t the transport the writer writes to and discards what was
// collected for the previous one.
func (w *writeState) use(t *transport) {
	w.t = t
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(t.netConn, 4096)
	} else {
		w.bw.Reset(t.netConn)
	}
	w.pending = w.pending[:0]
	w.holding = false
}

// skip reports whether the writer must not write item: its transport is
// lost, or a stateful connection has already resent it.
func (w *writeState) skip(item *outgoing) bool {
	if w.t.isLost() {
		return true
	}
	if item.seq == 0 {
		return false
	}
	if item.seq <= w.lastSeq {
		return true
	}
	w.lastSeq = item.seq
	return false
}

// writeLoop writes the items of c.out to the connection's WebSocket, first
// t and then each reattached one, until an outFinal or abort. It is the
// only goroutine that writes to the network connections. While a stateful
// connection has no WebSocket, the writer discards what it takes, because
// the sequencer keeps the trackable messages for resending.
func (c *Conn) writeLoop(t *transport) {
	defer close(c.writerDone)
	w := &writeState{}
	w.use(t)
	var next *outgoing // an item taken from c.out while batching
	for {
		var item outgoing
		if next != nil {
			item, next = *next, nil
		} else {
			select {
			case item = <-c.out:
			case <-c.aborted:
				return
			}
		}

		var err error
		switch item.kind {
		case outPong:
			if !w.t.isLost() {
				err = c.writeFrames(w, ws.OpPong, item.data, false)
			}
		case outHold:
			w.holding = true
		case outRelease:
			w.holding = false
			if !w.t.isLost() {
				err = c.flushHeld(w)
			}
		case outHandshake:
			switch {
			case w.t.isLost():
			case w.holding:
				w.pending = append(w.pending, item.data...)
			default:
				err = c.writeFrames(w, c.handshakeOp, item.data, true)
			}
		case outRecord:
			if w.skip(&item) {
				break
			}
			var count int
			w.batch, count = c.expand(w, w.batch[:0], &item)
			if w.holding {
				w.pending = append(w.pending, w.batch...)
				break
			}
			next = c.collectBatch(w, count)
			err = c.writeFrames(w, c.opcode, w.batch, true)
		case outAttach:
			w.use(item.transport)
			if c.rec != nil {
				c.rec.markReattach()
			}
			close(item.done)
			err = c.resend(w)
		case outDrop:
			c.logger.Debug("dropping the WebSocket after the messages before it")
			item.transport.close()
		case outNotify:
			close(item.done)
		case outFinal:
			if !w.t.isLost() {
				c.writeFinal(w, &item)
			}
			return
		}
		if err != nil {
			if c.seq.Load() != nil && c.isOpen() {
				// The client may reattach, so only this WebSocket ends.
				c.logger.Debug("write failed; closing the WebSocket", "error", err)
				w.t.close()
				continue
			}
			c.logger.Debug("write failed", "error", err)
			c.abort()
			return
		}
	}
}

// collectBatch adds further hub messages to w.batch, which holds count of
// them, until it holds Misbehavior.BatchMessages or BatchDelay passes
// without a new one. It returns an item it took that is not a hub message,
// or nil.
func (c *Conn) collectBatch(w *writeState, count int) *outgoing {
	want := c.opts.Misbehave.BatchMessages
	if want <= 1 {
		return nil
	}
	delay := c.opts.Misbehave.BatchDelay
	if delay <= 0 {
		delay = DefaultBatchDelay
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for count < want {
		select {
		case item := <-c.out:
			if item.kind != outRecord {
				return &item
			}
			if w.skip(&item) {
				continue
			}
			var n int
			w.batch, n = c.expand(w, w.batch, &item)
			count += n
			timer.Reset(delay)
		case <-timer.C:
			return nil
		case <-c.aborted:
			return nil
		}
	}
	return nil
}

// flushHeld sends the messages collected since outHold as one WebSocket
// message.
func (c *Conn) flushHeld(w *writeState) error {
	if len(w.pending) == 0 {
		return nil
	}
	err := c.writeFrames(w, c.opcode, w.pending, true)
	w.pending = w.pending[:0]
	return err
}

// writeFinal sends the pending messages, the last message and the WebSocket close
// frame. Errors are not reported because the connection ends anyway.
func (c *Conn) writeFinal(w *writeState, item *outgoing) {
	if last := item.last; last != nil {
		switch last.kind {
		case outHandshake:
			w.pending = append(w.pending, last.data...)
		case outRecord:
			w.batch, _ = c.expand(w, w.batch[:0], last)
			w.pending = append(w.pending, w.batch...)
		}
	}
	if err := c.flushHeld(w); err != nil {
		return
	}
	c.writeFrames(w, ws.OpClose, item.data, false)
}

// writeFrames writes payload as one WebSocket message and flushes. A data
// message is split into Misbehavior.SplitFrames frames and recorded.
func (c *Conn) writeFrames(w *writeState, op ws.OpCode, payload []byte, data bool) error {
	if d := c.opts.WriteTimeout; d > 0 {
		w.t.netConn.SetWriteDeadline(time.Now().Add(d))
	}
	frames := 1
	if data {
		frames = max(1, min(c.opts.Misbehave.SplitFrames, len(payload)))
		// The message is recorded before it is written: once written, the
		// client may reply before this goroutine could record it.
		if c.rec != nil {
			c.rec.add(ServerToClient, formatOf(op), payload)
		}
	}
	for i := range frames {
		chunk := payload[i*len(payload)/frames : (i+1)*len(payload)/frames]
		hdr := ws.Header{Fin: i == frames-1, OpCode: op, Length: int64(len(chunk))}
		if i > 0 {
			hdr.OpCode = ws.OpContinuation
		}
		if err := ws.WriteHeader(w.bw, hdr); err != nil {
			return err
		}
		if _, err := w.bw.Write(chunk); err != nil {
			return err
		}
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if data {
		c.lastWrite.Store(time.Now().UnixNano())
	}
	return nil
}
