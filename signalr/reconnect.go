package signalr

import (
	"context"
	"errors"
	"sync"
	"time"
)

// A run is the life of a client from a successful Start until it ends for
// good, across the connections that automatic reconnect opens.
type run struct {
	done chan struct{} // closed when the run has ended
	err  error         // the error that ended the run, set before done is closed

	// ready is closed while a connection is open and replaced by an open
	// channel while the client reconnects. Guarded by Client.mu.
	ready        chan struct{}
	reconnecting bool
	stopped      bool               // Stop was called
	cancel       context.CancelFunc // ends a reconnect in progress
	loop         sync.WaitGroup     // the reconnect goroutine

	events eventQueue // callbacks for the events goroutine, in order
}

func newRun() *run {
	r := &run{
		done:  make(chan struct{}),
		ready: make(chan struct{}),
	}
	r.events.wake = make(chan struct{}, 1)
	close(r.ready)
	return r
}

func (r *run) isDone() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// An eventQueue runs callbacks on one goroutine in the order they were
// pushed, so that a slow callback delays neither the connection nor
// reconnecting, and a callback may call any method of the Client.
type eventQueue struct {
	mu     sync.Mutex
	items  []func()
	closed bool
	wake   chan struct{} // capacity 1
}

// push queues f. It does nothing once the queue is closed.
func (q *eventQueue) push(f func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	q.signal()
}

// close lets the goroutine end once it has run what is queued.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run calls the queued callbacks until the queue is closed and empty.
func (q *eventQueue) run() {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, f := range items {
			f()
		}
		switch {
		case len(items) > 0:
		case closed:
			return
		default:
			<-q.wake
		}
	}
}

// connectionEnded is called by a connection that has ended, before it fails
// its pending calls. It decides between reconnecting and ending the run.
// stopped reports an end that Stop caused.
func (c *Client) connectionEnded(conn *connection, err error, stopped bool) {
	c.mu.Lock()
	r := c.run
	if r == nil || c.conn != conn || r.isDone() {
		c.mu.Unlock()
		return
	}
	if stopped || r.stopped || c.config.Reconnect == nil || !reconnectable(err) {
		c.mu.Unlock()
		if stopped || r.stopped {
			err = nil
		}
		c.finishRun(r, err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.reconnecting = true
	r.ready = make(chan struct{})
	r.cancel = cancel
	r.loop.Add(1)
	c.mu.Unlock()

	c.log.Warn("signalr: connection lost; reconnecting", "connectionId", conn.id, "error", err)
	if f := c.config.OnReconnecting; f != nil {
		r.events.push(func() { f(err) })
	}
	go c.reconnect(ctx, r, err)
}

// reconnectable reports whether losing a connection with err may start
// automatic reconnect. A Close from the server allows it only when the
// Close sets allowReconnect.
func reconnectable(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.AllowReconnect
	}
	return true
}

// reconnect opens new connections under the retry policy until one
// succeeds, the policy gives up, or ctx ends because of Stop.
func (c *Client) reconnect(ctx context.Context, r *run, cause error) {
	defer r.loop.Done()
	lost := time.Now()
	reason := cause
	for attempt := 0; ; attempt++ {
		delay, ok := c.config.Reconnect.NextRetryDelay(RetryContext{
			PreviousRetryCount: attempt,
			ElapsedTime:        time.Since(lost),
			RetryReason:        reason,
		})
		if !ok {
			c.log.Warn("signalr: reconnecting gave up", "attempts", attempt, "error", reason)
			c.finishRun(r, &ReconnectError{Attempts: attempt, Err: reason})
			return
		}
		if err := c.sleep(ctx, delay); err != nil {
			c.finishRun(r, nil) // Stop ended the wait
			return
		}

		conn, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.finishRun(r, nil)
				return
			}
			c.log.Info("signalr: reconnect attempt failed", "attempt", attempt+1, "error", err)
			reason = err
			continue
		}

		c.mu.Lock()
		if r.stopped {
			c.mu.Unlock()
			conn.tc.Close()
			c.finishRun(r, nil)
			return
		}
		conn.wg.Add(3)
		c.conn = conn
		r.reconnecting = false
		r.cancel()
		close(r.ready)
		c.mu.Unlock()

		if f := c.config.OnReconnected; f != nil {
			id := conn.id
			r.events.push(func() { f(id) })
		}
		conn.run()
		return
	}
}

// emit queues a call of f with connectionID on the events goroutine of
// the current run, when f is set.
func (c *Client) emit(f func(string), connectionID string) {
	if f == nil {
		return
	}
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r != nil {
		r.events.push(func() { f(connectionID) })
	}
}

// sleep waits for d or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := c.newTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishRun ends r with err, once, and queues OnClosed.
func (c *Client) finishRun(r *run, err error) {
	c.mu.Lock()
	if r.isDone() {
		c.mu.Unlock()
		return
	}
	r.err = err
	if r.cancel != nil {
		r.cancel()
	}
	close(r.done)
	c.mu.Unlock()

	if f := c.config.OnClosed; f != nil {
		r.events.push(func() { f(err) })
	}
	r.events.close()
	if c.ownHTTPClient {
		// The negotiate requests' keep-alive connections would otherwise
		// stay open, each with two goroutines, until they time out.
		c.config.HTTPClient.CloseIdleConnections()
	}
}

// waitConnection returns the open connection. While the client
// reconnects, it waits for the new connection, the end of the client or
// ctx, whichever comes first.
func (c *Client) waitConnection(ctx context.Context) (*connection, error) {
	for {
		c.mu.Lock()
		r, conn := c.run, c.conn
		if r == nil || r.isDone() {
			c.mu.Unlock()
			return nil, ErrNotConnected
		}
		if !r.reconnecting && conn != nil && !conn.isDone() {
			c.mu.Unlock()
			return conn, nil
		}
		ready, done := r.ready, r.done
		c.mu.Unlock()

		select {
		case <-ready:
		case <-done:
			// The client ended while the call waited for a reconnect.
			c.mu.Lock()
			err := r.err
			c.mu.Unlock()
			return nil, &closedError{cause: err}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// A timer is the part of time.Timer the client uses, so that tests can
// replace the clock of retry delays.
type timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

func newRealTimer(d time.Duration) timer { return realTimer{time.NewTimer(d)} }

// A ReconnectError ends a client whose retry policy gave up reconnecting.
type ReconnectError struct {
	// Attempts is the number of connections tried.
	Attempts int

	// Err is the error of the last attempt, or the error that ended the
	// lost connection when no attempt was made.
	Err error
}

func (e *ReconnectError) Error() string {
	if e.Attempts == 0 {
		return "signalr: the retry policy made no reconnect attempt: " + e.Err.Error()
	}
	return "signalr: reconnecting failed after " + countOf(e.Attempts, "attempt") + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *ReconnectError) Unwrap() error { return e.Err }
