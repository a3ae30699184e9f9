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
)

// An outgoing item is one unit of work for the writer goroutine.
type outgoing struct {
	kind    outKind
	msgType protocol.MessageType // type of an outRecord, for the misbehaviors
	data    []byte
	last    *outgoing // of an outFinal
}

// A writeState is owned by the writer goroutine.
type writeState struct {
	bw       *bufio.Writer
	pending  []byte // messages collected since outHold
	holding  bool
	batch    []byte
	strayIDs int // numbers the invocation ids of stray Completions
}

// writeLoop writes the items of c.out to the WebSocket until an outFinal, a
// write error or abort. It is the only goroutine that writes to the network
// connection.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	w := &writeState{bw: bufio.NewWriterSize(c.netConn, 4096)}
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
			err = c.writeFrames(w, ws.OpPong, item.data, false)
		case outHold:
			w.holding = true
		case outRelease:
			w.holding = false
			err = c.flushHeld(w)
		case outHandshake:
			if w.holding {
				w.pending = append(w.pending, item.data...)
			} else {
				err = c.writeFrames(w, c.handshakeOp, item.data, true)
			}
		case outRecord:
			var count int
			w.batch, count = c.expand(w, w.batch[:0], &item)
			if w.holding {
				w.pending = append(w.pending, w.batch...)
				break
			}
			next = c.collectBatch(w, count)
			err = c.writeFrames(w, c.opcode, w.batch, true)
		case outFinal:
			c.writeFinal(w, &item)
			return
		}
		if err != nil {
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
		c.netConn.SetWriteDeadline(time.Now().Add(d))
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
