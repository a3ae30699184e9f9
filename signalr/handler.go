package signalr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// A Handler handles a server invocation registered with [Client.On]. When
// the server invoked with an invocation ID it waits for a result: the
// handler's result or error is sent back in a Completion. Otherwise both
// are ignored, apart from logging the error.
//
// ctx is canceled when the connection ends. inv is valid only until the
// handler returns.
type Handler func(ctx context.Context, inv *Invocation) (result any, err error)

// An Invocation is a server invocation of a client method.
type Invocation struct {
	// Target is the method name as the server sent it.
	Target string

	// InvocationID is set when the server waits for a result.
	InvocationID string

	// Arguments are the raw arguments, encoded in the hub protocol.
	Arguments []protocol.RawValue

	// Headers are the message headers, if any.
	Headers []protocol.Header

	proto protocol.HubProtocol
}

// Decode decodes the arguments into dst, one pointer per argument. It fails
// when the number of arguments differs from len(dst), as a binding failure
// does in the official clients.
func (inv *Invocation) Decode(dst ...any) error {
	if len(dst) != len(inv.Arguments) {
		return fmt.Errorf("signalr: invocation of %s provides %s; the handler decodes %d", inv.Target, countOf(len(inv.Arguments), "argument"), len(dst))
	}
	for i, d := range dst {
		if err := inv.proto.Unmarshal(inv.Arguments[i], d); err != nil {
			return fmt.Errorf("signalr: argument %d of %s: %w", i, inv.Target, err)
		}
	}
	return nil
}

// Error texts the official clients send for client results.
const (
	noResultText        = "Client didn't provide a result."
	multipleResultsText = "Client provided multiple results."
)

// A handlerQueue passes server invocations from the read loop to the
// handler goroutine in arrival order. It never blocks the read loop: when
// the queue is full, push fails and the connection ends.
type handlerQueue struct {
	conn *connection
	max  int

	mu     sync.Mutex // guards queue, head, free and closed
	queue  []*protocol.Message
	head   int // index of the oldest message in queue
	free   []*protocol.Message
	closed bool
	notify chan struct{}

	ctx    context.Context
	cancel context.CancelFunc

	// Owned by the handler goroutine:
	inv      Invocation
	lowerBuf []byte
	fallback [1]Handler
}

func newHandlerQueue(conn *connection, max int) *handlerQueue {
	ctx, cancel := context.WithCancel(context.Background())
	return &handlerQueue{
		conn:   conn,
		max:    max,
		notify: make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
	}
}

// push queues a copy of m.
func (q *handlerQueue) push(m *protocol.Message) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	if len(q.queue)-q.head >= q.max {
		q.mu.Unlock()
		return ErrHandlerQueueFull
	}
	var c *protocol.Message
	if n := len(q.free); n > 0 {
		c = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		c = new(protocol.Message)
	}
	m.CopyTo(c)
	q.queue = append(q.queue, c)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

func (q *handlerQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// run is the handler goroutine.
func (q *handlerQueue) run() {
	defer q.conn.wg.Done()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return
		}
		if q.head == len(q.queue) {
			q.queue, q.head = q.queue[:0], 0
			q.mu.Unlock()
			<-q.notify
			continue
		}
		m := q.queue[q.head]
		q.queue[q.head] = nil
		q.head++
		q.mu.Unlock()

		q.handle(m)

		q.mu.Lock()
		q.free = append(q.free, m)
		q.mu.Unlock()
	}
}

// handle runs the handlers of one invocation and sends the Completion when
// the server waits for a result.
func (q *handlerQueue) handle(m *protocol.Message) {
	c := q.conn.client
	q.lowerBuf = appendLower(q.lowerBuf[:0], m.Target)
	c.handlersMu.RLock()
	handlers := c.handlers[string(q.lowerBuf)]
	if len(handlers) == 0 && c.fallback != nil {
		q.fallback[0] = c.fallback
		handlers = q.fallback[:]
	}
	c.handlersMu.RUnlock()

	q.inv = Invocation{
		Target:       m.Target,
		InvocationID: m.InvocationID,
		Arguments:    m.Arguments,
		Headers:      m.Headers,
		proto:        q.conn.proto,
	}
	var (
		result    any
		hasResult bool
		err       error
	)
	for _, h := range handlers {
		r, herr := q.call(h)
		if herr != nil {
			c.log.Warn("signalr: handler failed", "target", m.Target, "invocationId", m.InvocationID, "error", herr)
			if err == nil {
				err = herr
			}
			continue
		}
		if r != nil {
			if hasResult {
				err = errors.New(multipleResultsText)
			}
			result, hasResult = r, true
		}
	}
	if len(handlers) == 0 {
		c.log.Debug("signalr: no handler for a server invocation", "target", m.Target)
	}
	if m.InvocationID == "" {
		return
	}

	reply := protocol.Message{Type: protocol.TypeCompletion, InvocationID: m.InvocationID}
	switch {
	case len(handlers) == 0:
		reply.Error, reply.HasError = noResultText, true
	case err != nil:
		reply.Error, reply.HasError = err.Error(), true
	case hasResult:
		raw, ok := result.(protocol.RawValue)
		if !ok {
			var encErr error
			raw, encErr = q.conn.proto.AppendValue(nil, result)
			if encErr != nil {
				reply.Error, reply.HasError = "Client failed to encode its result: "+encErr.Error(), true
				break
			}
		}
		reply.Result, reply.HasResult = raw, true
	default:
		// As in the JavaScript client, a nil result means the handler
		// provided none. A handler replies with a null result by returning
		// protocol.RawValue("null") over JSON or protocol.RawValue{0xc0}
		// over MessagePack.
		reply.Error, reply.HasError = noResultText, true
	}
	if werr := q.conn.write(q.ctx, &reply); werr != nil {
		c.log.Debug("signalr: sending a client result failed", "invocationId", m.InvocationID, "error", werr)
	}
}

// call runs one handler and turns a panic into an error, so that a faulty
// handler cannot take the connection down.
func (q *handlerQueue) call(h Handler) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(q.ctx, &q.inv)
}

// appendLower appends s in lower case for ASCII letters; handler names are
// matched without regard to ASCII case.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// countOf returns n and noun, in the plural unless n is 1.
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
