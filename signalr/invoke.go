package signalr

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// Invoke calls the hub method target with args and waits for its
// Completion. It decodes the result into result, a pointer, unless result is
// nil; a *protocol.RawValue receives the raw result and reuses its capacity.
// When the hub method returns nothing, result is left unchanged, except that
// a *protocol.RawValue is emptied. A hub error is returned as a [*HubError].
//
// Arguments of type protocol.RawValue are written as they are; others are
// encoded by the hub protocol. An argument of type *ClientStream uploads a
// client-to-server stream. When ctx ends first, Invoke returns ctx.Err()
// and ignores the Completion if it arrives later.
//
// While automatic reconnect is opening a new connection, Invoke, Send and
// Stream wait for it, for the client to end, or for ctx. Calls still
// waiting for a result when a connection is lost fail with an error
// wrapping [ErrConnectionClosed]; unless stateful reconnect preserves the
// connection, the hub may or may not have run them.
func (c *Client) Invoke(ctx context.Context, target string, result any, args ...any) error {
	if err := checkResultPointer(result); err != nil {
		return err
	}
	conn, err := c.waitConnection(ctx)
	if err != nil {
		return err
	}
	streams := clientStreams(conn, args)
	cl := getCall()
	id, err := conn.register(cl)
	if err != nil {
		putCall(cl)
		return err
	}
	if err := conn.writeCall(ctx, protocol.TypeInvocation, id, target, args, streams); err != nil {
		if !conn.unregister(id) {
			<-cl.done
		}
		putCall(cl)
		return err
	}
	startUploads(ctx, conn, streams)

	select {
	case <-cl.done:
	case <-ctx.Done():
		if conn.unregister(id) {
			putCall(cl)
			stopUploads(streams)
			return ctx.Err()
		}
		<-cl.done // finished at the same moment
	}
	stopUploads(streams)
	err = cl.err
	if err == nil && result != nil {
		if err = decodeResult(conn.proto, cl.result, cl.hasResult, result); err != nil {
			err = fmt.Errorf("signalr: decoding the result of %s into %T: %w", target, result, err)
		}
	}
	putCall(cl)
	return err
}

// checkResultPointer rejects a result destination that Invoke could not
// decode into, before the hub runs the call.
func checkResultPointer(result any) error {
	if result == nil {
		return nil
	}
	if v := reflect.ValueOf(result); v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("signalr: the result of Invoke must be nil or a non-nil pointer, not %T", result)
	}
	return nil
}

// decodeResult decodes a Completion's result into dst.
func decodeResult(proto protocol.HubProtocol, raw []byte, hasResult bool, dst any) error {
	if p, ok := dst.(*protocol.RawValue); ok {
		*p = append((*p)[:0], raw...)
		return nil
	}
	if !hasResult {
		return nil
	}
	return proto.Unmarshal(raw, dst)
}

// Send calls the hub method target with args without waiting for a result:
// the Invocation has no invocation ID, so the server sends nothing back.
// Send returns once the message is written. Arguments are handled as by
// [Client.Invoke].
func (c *Client) Send(ctx context.Context, target string, args ...any) error {
	conn, err := c.waitConnection(ctx)
	if err != nil {
		return err
	}
	streams := clientStreams(conn, args)
	if err := conn.writeCall(ctx, protocol.TypeInvocation, 0, target, args, streams); err != nil {
		return err
	}
	startUploads(context.Background(), conn, streams)
	return nil
}

// A Stream is the result of a server-to-client stream. Read it like
// sql.Rows: call Next until it returns false, then check Err.
type Stream struct {
	conn   *connection
	id     uint64
	cancel func() bool // stops the context.AfterFunc that cancels the stream

	mu     sync.Mutex // guards items, ended and err
	items  [][]byte
	ended  bool
	err    error
	notify chan struct{}

	current protocol.RawValue
}

// Stream calls the streaming hub method target with args. Items arrive in
// order through [Stream.Next]. When ctx ends, or Close is called, the client
// sends CancelInvocation at once and ignores items and the Completion that
// arrive later.
func (c *Client) Stream(ctx context.Context, target string, args ...any) (*Stream, error) {
	conn, err := c.waitConnection(ctx)
	if err != nil {
		return nil, err
	}
	streams := clientStreams(conn, args)
	s := &Stream{conn: conn, notify: make(chan struct{}, 1)}
	// A stream's call finishes through the stream, so it needs no done
	// channel.
	cl := &call{stream: s}
	id, err := conn.register(cl)
	if err != nil {
		return nil, err
	}
	s.id = id
	if err := conn.writeCall(ctx, protocol.TypeStreamInvocation, id, target, args, streams); err != nil {
		conn.unregister(id)
		return nil, err
	}
	startUploads(ctx, conn, streams)
	s.cancel = context.AfterFunc(ctx, func() { s.abort(ctx.Err()) })
	return s, nil
}

// push queues an item. The read loop calls it; item is copied.
func (s *Stream) push(item protocol.RawValue) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	// NOTE: items wait here without bound while the caller does not read
	// them; a reader that stops reading makes the queue grow.
	s.items = append(s.items, append([]byte(nil), item...))
	s.mu.Unlock()
	s.signal()
}

// end finishes the stream with err, or nil for a normal end.
func (s *Stream) end(err error) {
	s.mu.Lock()
	if !s.ended {
		s.ended, s.err = true, err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Stream) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// abort ends the stream with err, drops queued items and sends
// CancelInvocation unless the stream already ended.
func (s *Stream) abort(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err, s.items = true, err, nil
	s.mu.Unlock()
	s.signal()
	if !s.conn.unregister(s.id) {
		return // the Completion arrived meanwhile
	}
	m := protocol.Message{Type: protocol.TypeCancelInvocation, InvocationID: strconv.FormatUint(s.id, 10)}
	ctx, cancel := context.WithTimeout(context.Background(), s.conn.client.config.HandshakeTimeout)
	defer cancel()
	if werr := s.conn.write(ctx, &m); werr != nil {
		s.conn.client.log.Debug("signalr: sending CancelInvocation failed", "invocationId", m.InvocationID, "error", werr)
	}
}

// Next waits for the next item and reports whether there is one. It returns
// false when the stream ended, and Err then returns the reason.
func (s *Stream) Next() bool {
	for {
		s.mu.Lock()
		if len(s.items) > 0 {
			s.current = s.items[0]
			s.items[0] = nil
			s.items = s.items[1:]
			s.mu.Unlock()
			return true
		}
		if s.ended {
			s.current = nil
			s.mu.Unlock()
			if s.cancel != nil {
				s.cancel()
			}
			return false
		}
		s.mu.Unlock()
		<-s.notify
	}
}

// Item returns the current item's raw value. It is valid until the next call
// to Next.
func (s *Stream) Item() protocol.RawValue { return s.current }

// Decode decodes the current item into v.
func (s *Stream) Decode(v any) error {
	if err := s.conn.proto.Unmarshal(s.current, v); err != nil {
		return fmt.Errorf("signalr: decoding a stream item into %T: %w", v, err)
	}
	return nil
}

// Err returns why the stream ended: nil after a normal end, a [*HubError],
// the ctx error after cancellation, or an error wrapping
// [ErrConnectionClosed].
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close cancels the stream if it has not ended: it sends CancelInvocation
// and drops the items not yet read. It returns nil.
func (s *Stream) Close() error {
	s.abort(context.Canceled)
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}
