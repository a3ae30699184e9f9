package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// bufferSize is the size of each half's read buffer, which is the largest
// chunk the proxy forwards at once.
const bufferSize = 32 << 10

// rateSlack is how far a rate-limited half may fall behind its schedule and
// still catch up with a burst. A half further behind restarts its schedule
// at the current time.
const rateSlack = 20 * time.Millisecond

// ratePieces is how many pieces a rate-limited half splits one second of
// data into, so throughput stays smooth over intervals of 1/ratePieces s.
const ratePieces = 50

// A Conn is one proxied connection. Its fault methods apply to this
// connection only and may be called from any goroutine while traffic flows.
type Conn struct {
	id     int
	proxy  *Proxy
	client *net.TCPConn

	dialCtx    context.Context
	cancelDial context.CancelFunc

	closing   chan struct{} // closed when shutdown begins
	closeDone chan struct{} // closed when both sockets are closed
	done      chan struct{} // closed when every goroutine of the connection ended
	abort     chan struct{} // closed by Proxy.Close to skip waiting for unsent bytes
	abortOnce sync.Once

	mu      sync.Mutex // guards the fields below
	server  *net.TCPConn
	started bool // both sockets are open and the halves forward
	closed  bool
	err     error
	changed chan struct{} // closed and replaced when faults change
	halves  [2]half
}

// half is the forwarding state of one direction, guarded by Conn.mu.
type half struct {
	faults    faults
	handled   int64 // bytes forwarded or dropped: the stream offset of the next byte
	forwarded int64
	dropped   int64
	writing   bool // a piece counted in handled is being written
	rateNext  time.Time
}

func newConn(p *Proxy, id int, client *net.TCPConn, defaults [2]faults) *Conn {
	ctx, cancel := context.WithCancel(p.ctx)
	c := &Conn{
		id:         id,
		proxy:      p,
		client:     client,
		dialCtx:    ctx,
		cancelDial: cancel,
		closing:    make(chan struct{}),
		closeDone:  make(chan struct{}),
		done:       make(chan struct{}),
		abort:      make(chan struct{}),
		changed:    make(chan struct{}),
	}
	for i := range c.halves {
		c.halves[i].faults = defaults[i]
	}
	return c
}

// ID returns the connection's number: 1 for the first connection the proxy
// forwarded, 2 for the next, and so on. Rejected connections get no number.
func (c *Conn) ID() int { return c.id }

// ClientAddr returns the client's address.
func (c *Conn) ClientAddr() net.Addr { return c.client.RemoteAddr() }

// Forwarded returns the number of bytes written to the receiving peer in
// direction d so far.
func (c *Conn) Forwarded(d Direction) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, i := range d.halves() {
		n += c.halves[i].forwarded
	}
	return n
}

// Dropped returns the number of bytes in direction d that a truncation
// fault has discarded so far.
func (c *Conn) Dropped(d Direction) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, i := range d.halves() {
		n += c.halves[i].dropped
	}
	return n
}

// Done returns a channel that is closed when the connection has ended and
// both of its sockets are closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended: nil when both peers ended their
// streams, [ErrCut] after a cut, [ErrClosed] after [Proxy.Close], or the
// dial or I/O error. It returns nil while the connection is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Cut closes the connection to both peers in mode now. Bytes the proxy has
// already forwarded still reach the peers: Cut waits until the peers
// acknowledge them, or until a send queue has not shrunk for 50 ms, and
// returns after both sockets are closed.
func (c *Conn) Cut(mode CloseMode) {
	c.shutdown(mode, ErrCut)
}

// CutAt closes the connection in mode once offset bytes have been handled
// in direction d. Handled bytes are those forwarded or dropped by
// truncation. The peer in direction d receives exactly the bytes before the
// offset, however the data arrives in reads. When the connection has
// already handled offset bytes, it is cut as soon as no write is in
// progress in direction d. A negative offset removes the cut.
func (c *Conn) CutAt(d Direction, offset int64, mode CloseMode) {
	c.update(d, func(f *faults) {
		f.cutAt = max(offset, -1)
		f.cutMode = mode
	})
}

// Stall holds the data in direction d until [Conn.Resume]. The proxy keeps
// the chunk it has read, up to 32 KiB, and reads no more in that direction,
// so the sender's writes block once the socket buffers are full. Nothing is
// dropped, and the end of stream is held too.
func (c *Conn) Stall(d Direction) {
	c.update(d, func(f *faults) {
		f.stalled = true
		f.stallUntil = time.Time{}
	})
}

// StallFor holds the data in direction d for duration dur, or until
// [Conn.Resume]. A duration of zero or less resumes at once.
func (c *Conn) StallFor(d Direction, dur time.Duration) {
	until := time.Now().Add(dur)
	c.update(d, func(f *faults) {
		f.stalled = dur > 0
		f.stallUntil = until
	})
}

// Resume ends a stall in direction d and forwards the held data in order.
func (c *Conn) Resume(d Direction) {
	c.update(d, func(f *faults) {
		f.stalled = false
		f.stallUntil = time.Time{}
	})
}

// Slow limits direction d to bytesPerSecond and delays every chunk read in
// that direction by latency before it is forwarded. Because chunks are
// forwarded one at a time, latency also limits the direction to one chunk
// per latency. Zero or less removes the limit or the delay.
func (c *Conn) Slow(d Direction, bytesPerSecond int64, latency time.Duration) {
	c.update(d, func(f *faults) {
		f.rate = max(bytesPerSecond, 0)
		f.latency = max(latency, 0)
	})
}

// Truncate forwards the first n bytes in direction d and then drops every
// later byte, including the end of stream, while the connection stays open.
// A negative n removes the truncation, and later bytes are forwarded again.
func (c *Conn) Truncate(d Direction, n int64) {
	c.update(d, func(f *faults) {
		f.truncateAt = max(n, -1)
	})
}

// Heal removes every fault from both directions: stalls, rate limits,
// latency, truncation and pending cuts.
func (c *Conn) Heal() {
	c.update(Both, func(f *faults) { *f = noFaults() })
}

// update applies mutate to the faults of the halves that d selects, wakes
// waiting halves and cuts the connection when a changed cut offset has
// already been reached.
func (c *Conn) update(d Direction, mutate func(*faults)) {
	halves := d.halves()
	c.mu.Lock()
	cut, mode := false, Graceful
	for _, i := range halves {
		h := &c.halves[i]
		mutate(&h.faults)
		if c.started && !h.writing && h.faults.cutAt >= 0 && h.handled >= h.faults.cutAt {
			cut, mode = true, h.faults.cutMode
		}
	}
	close(c.changed)
	c.changed = make(chan struct{})
	cut = cut && !c.closed
	c.mu.Unlock()

	if cut {
		c.shutdown(mode, ErrCut)
	}
}

// run dials the target and forwards both halves until they end. It is the
// connection's main goroutine.
func (c *Conn) run(addrs []string) {
	defer c.proxy.connEnded(c)
	defer close(c.done)

	server, err := c.dial(addrs)
	if err != nil {
		c.shutdown(Abortive, err)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		// The shutdown that closed the connection ran before the server
		// socket existed.
		server.Close()
		c.shutdown(Graceful, nil)
		return
	}
	c.server = server
	c.started = true
	c.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { c.pump(serverToClient, server, c.client) })
	c.pump(clientToServer, c.client, server)
	wg.Wait()
	c.shutdown(Graceful, nil)
}

// dial connects to the first target address that accepts.
func (c *Conn) dial(addrs []string) (*net.TCPConn, error) {
	var dialer net.Dialer
	var err error
	for _, addr := range addrs {
		var conn net.Conn
		conn, err = dialer.DialContext(c.dialCtx, "tcp", addr)
		if err == nil {
			return conn.(*net.TCPConn), nil
		}
	}
	return nil, fmt.Errorf("faultproxy: dial target: %w", err)
}

// pump forwards half i from src to dst until the stream ends or the
// connection closes.
func (c *Conn) pump(i int, src, dst *net.TCPConn) {
	buf := make([]byte, bufferSize)
	for {
		if mode, due := c.cutDue(i); due {
			c.shutdown(mode, ErrCut)
			return
		}
		n, err := src.Read(buf)
		readAt := time.Now()
		if n > 0 && !c.forward(i, dst, buf[:n], readAt) {
			return
		}
		if err != nil {
			c.endHalf(i, dst, err, readAt)
			return
		}
	}
}

// cutDue reports whether half i has reached its cut offset.
func (c *Conn) cutDue(i int) (CloseMode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &c.halves[i]
	return h.faults.cutMode, h.faults.cutAt >= 0 && h.handled >= h.faults.cutAt
}

// forward writes data to dst as the faults of half i allow. It returns
// false when the connection has closed.
func (c *Conn) forward(i int, dst *net.TCPConn, data []byte, readAt time.Time) bool {
	for len(data) > 0 {
		c.mu.Lock()
		s := c.nextStepLocked(i, len(data), readAt, time.Now())
		c.mu.Unlock()

		switch s.action {
		case actionStop:
			return false
		case actionCut:
			c.shutdown(s.mode, ErrCut)
			return false
		case actionWait:
			if !c.wait(s) {
				return false
			}
		case actionDrop:
			data = data[s.n:]
		case actionWrite:
			n, err := dst.Write(data[:s.n])
			c.mu.Lock()
			c.halves[i].writing = false
			c.halves[i].forwarded += int64(n)
			c.mu.Unlock()
			if err != nil {
				c.shutdown(Abortive, fmt.Errorf("faultproxy: write %s: %w", halfName(i), err))
				return false
			}
			data = data[s.n:]
		}
	}
	return true
}

// endHalf handles the read error that ended half i. At the end of stream it
// forwards the end of stream to dst after any stall or delay, unless the
// half is truncated. Any other error closes the connection, with a reset
// when the sender reset its connection.
func (c *Conn) endHalf(i int, dst *net.TCPConn, err error, readAt time.Time) {
	if !errors.Is(err, io.EOF) {
		mode := Graceful
		if errors.Is(err, syscall.ECONNRESET) {
			mode = Abortive
		}
		c.shutdown(mode, fmt.Errorf("faultproxy: read %s: %w", halfName(i), err))
		return
	}
	for {
		c.mu.Lock()
		s := c.nextStepLocked(i, 0, readAt, time.Now())
		f := c.halves[i].faults
		truncated := f.truncateAt >= 0 && c.halves[i].handled >= f.truncateAt
		c.mu.Unlock()

		switch s.action {
		case actionStop:
			return
		case actionCut:
			c.shutdown(s.mode, ErrCut)
			return
		case actionWait:
			if !c.wait(s) {
				return
			}
		default:
			if !truncated {
				dst.CloseWrite()
			}
			return
		}
	}
}

type action int

const (
	actionWrite action = iota // write the next n bytes
	actionDrop                // discard the next n bytes
	actionWait                // wait for a fault change or until a time
	actionCut                 // cut the connection in mode
	actionStop                // the connection is closed
)

// A step is the next action on the data of a half.
type step struct {
	action  action
	n       int
	mode    CloseMode
	until   time.Time       // for actionWait; zero to wait for a change only
	changed <-chan struct{} // for actionWait
}

// nextStepLocked decides what happens next to the size bytes that half i
// has read at readAt, or to its end of stream when size is 0. For writes
// and drops it counts the bytes as handled. The caller holds c.mu.
func (c *Conn) nextStepLocked(i, size int, readAt, now time.Time) step {
	h := &c.halves[i]
	f := &h.faults
	if c.closed {
		return step{action: actionStop}
	}
	if f.cutAt >= 0 && h.handled >= f.cutAt {
		return step{action: actionCut, mode: f.cutMode}
	}
	if f.stalled {
		if f.stallUntil.IsZero() || now.Before(f.stallUntil) {
			return step{action: actionWait, until: f.stallUntil, changed: c.changed}
		}
		f.stalled = false
		f.stallUntil = time.Time{}
	}
	if due := readAt.Add(f.latency); f.latency > 0 && now.Before(due) {
		return step{action: actionWait, until: due, changed: c.changed}
	}
	if size == 0 {
		return step{action: actionWrite}
	}

	n := int64(size)
	if f.cutAt >= 0 {
		n = min(n, f.cutAt-h.handled)
	}
	if f.truncateAt >= 0 {
		if h.handled >= f.truncateAt {
			h.handled += n
			h.dropped += n
			return step{action: actionDrop, n: int(n)}
		}
		n = min(n, f.truncateAt-h.handled)
	}
	if f.rate > 0 {
		if now.Before(h.rateNext) {
			return step{action: actionWait, until: h.rateNext, changed: c.changed}
		}
		n = min(n, max(f.rate/ratePieces, 1))
		start := h.rateNext
		if start.Before(now.Add(-rateSlack)) {
			start = now
		}
		h.rateNext = start.Add(time.Duration(n) * time.Second / time.Duration(f.rate))
	}
	h.handled += n
	h.writing = true
	return step{action: actionWrite, n: int(n)}
}

// wait blocks until the faults change, s.until passes or the connection
// closes. It returns false when the connection closes.
func (c *Conn) wait(s step) bool {
	var expired <-chan time.Time
	if !s.until.IsZero() {
		timer := time.NewTimer(time.Until(s.until))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-s.changed:
	case <-expired:
	case <-c.closing:
		return false
	}
	return true
}

// shutdown closes the connection to both peers in mode and records reason
// as its error. The first call does the work. Later calls wait until the
// sockets are closed.
//
// Before the sockets close, shutdown stops all writes and waits until the
// peers have acknowledged every byte already written, so that a cut at an
// offset delivers exactly the bytes before it even with a reset. The wait
// ends early when a send queue stops shrinking or the proxy closes.
func (c *Conn) shutdown(mode CloseMode, reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.closeDone
		return
	}
	c.closed = true
	c.err = reason
	close(c.closing)
	sockets := []*net.TCPConn{c.client}
	if c.server != nil {
		sockets = append(sockets, c.server)
	}
	c.mu.Unlock()

	c.cancelDial()
	// A graceful close sends FIN after the queued bytes. Both forms end a
	// write that is blocked in the other half.
	for _, s := range sockets {
		if mode == Graceful {
			s.CloseWrite()
		} else {
			s.SetWriteDeadline(time.Unix(1, 0))
		}
	}
	for _, s := range sockets {
		waitSent(s, c.abort)
	}
	for _, s := range sockets {
		closeTCP(s, mode)
	}
	close(c.closeDone)
}

// abortShutdown makes a running or later shutdown skip waiting for unsent
// bytes.
func (c *Conn) abortShutdown() {
	c.abortOnce.Do(func() { close(c.abort) })
}

// sendStallLimit is how long a send queue may stay the same size before
// shutdown stops waiting for it, because the peer is not reading.
const sendStallLimit = 50 * time.Millisecond

// waitSent waits until conn has no unacknowledged bytes, its send queue
// stays the same size for sendStallLimit, or abort is closed. It returns at
// once where the queue size is unknown.
func waitSent(conn *net.TCPConn, abort <-chan struct{}) {
	last, lastChange := -1, time.Now()
	var ticker *time.Ticker
	for {
		n, ok := unsentBytes(conn)
		if !ok || n == 0 {
			return
		}
		now := time.Now()
		if n != last {
			last, lastChange = n, now
		} else if now.Sub(lastChange) >= sendStallLimit {
			return
		}
		if ticker == nil {
			ticker = time.NewTicker(time.Millisecond)
			defer ticker.Stop()
		}
		select {
		case <-abort:
			return
		case <-ticker.C:
		}
	}
}
