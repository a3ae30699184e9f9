package signalr

import (
	"context"
	"strconv"
	"sync"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A ClientStream uploads a client-to-server stream. Pass it as an argument
// of Invoke, Send or Stream: it is sent as a stream ID, not among the
// arguments. Then call Send for each item and Close, or CloseWithError, at
// the end. A ClientStream can be used in one call only.
type ClientStream struct {
	items  chan any
	closed chan struct{} // closed by Close or CloseWithError
	stop   chan struct{} // closed when the invocation ended

	once  sync.Once
	err   error // the caller's error, read after closed is closed
	id    uint64
	idStr string
}

// NewClientStream returns a stream to pass as an argument.
func NewClientStream() *ClientStream {
	return &ClientStream{
		items:  make(chan any),
		closed: make(chan struct{}),
		stop:   make(chan struct{}),
	}
}

// Send uploads one item. It waits until the item is being written, ctx ends,
// or the stream was closed, which returns [ErrStreamClosed]. Items of type
// protocol.RawValue are written as they are.
func (s *ClientStream) Send(ctx context.Context, item any) error {
	select {
	case <-s.closed:
		return ErrStreamClosed
	case <-s.stop:
		return ErrStreamClosed
	default:
	}
	select {
	case s.items <- item:
		return nil
	case <-s.closed:
		return ErrStreamClosed
	case <-s.stop:
		return ErrStreamClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the stream normally.
func (s *ClientStream) Close() { s.CloseWithError(nil) }

// CloseWithError ends the stream; a non-nil err is sent to the server as
// the stream's error.
func (s *ClientStream) CloseWithError(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.closed)
	})
}

func (s *ClientStream) idString() string { return s.idStr }

// clientStreams assigns stream IDs to the ClientStream arguments.
func clientStreams(conn *connection, args []any) []*ClientStream {
	var streams []*ClientStream
	for _, a := range args {
		if s, ok := a.(*ClientStream); ok && s != nil {
			s.id = conn.nextID.Add(1)
			s.idStr = strconv.FormatUint(s.id, 10)
			streams = append(streams, s)
		}
	}
	return streams
}

// startUploads starts one goroutine per stream that writes its items as
// StreamItem messages and its end as a Completion.
func startUploads(ctx context.Context, conn *connection, streams []*ClientStream) {
	for _, s := range streams {
		conn.wg.Add(1)
		go conn.upload(s)
	}
}

// stopUploads stops the uploads of an invocation that ended: the server no
// longer reads them.
func stopUploads(streams []*ClientStream) {
	for _, s := range streams {
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
	}
}

func (conn *connection) upload(s *ClientStream) {
	defer conn.wg.Done()
	ctx := context.Background()
	for {
		select {
		case item := <-s.items:
			m := protocol.Message{Type: protocol.TypeStreamItem, InvocationID: s.idStr}
			if raw, ok := item.(protocol.RawValue); ok {
				m.Item = raw
			} else {
				v, err := conn.proto.AppendValue(nil, item)
				if err != nil {
					// An item that cannot be encoded ends the stream with
					// the encoding error, which the server then receives.
					s.CloseWithError(err)
					continue
				}
				m.Item = v
			}
			if err := conn.write(ctx, &m); err != nil {
				return
			}
		case <-s.closed:
			m := protocol.Message{Type: protocol.TypeCompletion, InvocationID: s.idStr}
			if s.err != nil {
				m.Error, m.HasError = s.err.Error(), true
			}
			if err := conn.write(ctx, &m); err != nil {
				conn.client.log.Debug("signalr: ending an upload stream failed", "streamId", s.idStr, "error", err)
			}
			return
		case <-s.stop:
			return
		case <-conn.done:
			return
		}
	}
}
