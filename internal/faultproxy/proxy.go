package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// ErrClosed is returned by the wait methods of a closed [Proxy] and is the
// [Conn.Err] of connections that [Proxy.Close] ended.
var ErrClosed = errors.New("faultproxy: proxy closed")

// acceptRetryDelay is the pause after an accept error other than a closed
// listener, such as running out of file descriptors.
const acceptRetryDelay = 10 * time.Millisecond

// An admission is the proxy's policy for new connections.
type admission int

const (
	admitForward admission = iota
	admitReject
	admitHold
)

// A Proxy forwards TCP connections from a listener on 127.0.0.1 to a target
// on the loopback network and injects faults into them. Its methods may be
// called from any goroutine.
type Proxy struct {
	ln     *net.TCPListener
	target string
	addrs  []string // resolved target addresses in dial order

	ctx     context.Context // canceled by Close to end dials
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close
	wg      sync.WaitGroup

	mu         sync.Mutex // guards the fields below
	closed     bool
	changed    chan struct{} // closed and replaced on every change below
	admission  admission
	rejectMode CloseMode
	defaults   [2]faults // copied into each new connection
	onConn     func(*Conn)
	accepted   int
	lastID     int
	conns      []*Conn // forwarded connections in order of arrival
	live       map[*Conn]struct{}
}

// New starts a proxy that listens on 127.0.0.1 on a free port and forwards
// each connection to target. The target is host:port. Its host must be an
// address in 127.0.0.0/8, ::1, or localhost resolving only to loopback
// addresses, and any other host gets an error wrapping [ErrNotLoopback].
// New does not dial the target, so the target may start later.
func New(target string) (*Proxy, error) {
	addrs, err := resolveTarget(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:       ln,
		target:   target,
		addrs:    addrs,
		ctx:      ctx,
		cancel:   cancel,
		closing:  make(chan struct{}),
		changed:  make(chan struct{}),
		defaults: [2]faults{noFaults(), noFaults()},
		live:     make(map[*Conn]struct{}),
	}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the address the proxy listens on, as host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns scheme://host:port for the proxy's address, such as
// "http://127.0.0.1:41234" for scheme "http".
func (p *Proxy) URL(scheme string) string { return scheme + "://" + p.Addr() }

// Target returns the target address given to [New].
func (p *Proxy) Target() string { return p.target }

// Close closes the listener and every connection, and returns after all
// goroutines of the proxy have ended. Connections waiting in [Proxy.Hold]
// are closed unforwarded. It returns the error of closing the listener, and
// nil on later calls.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.broadcastLocked()
	conns := p.liveLocked()
	p.mu.Unlock()

	err := p.ln.Close()
	// Shutting the connections down before canceling p.ctx gives each the
	// error ErrClosed rather than that of a canceled dial.
	for _, c := range conns {
		c.abortShutdown()
		c.shutdown(Graceful, ErrClosed)
	}
	p.cancel()
	p.wg.Wait()
	return err
}

// Reject makes the proxy accept each new connection and close it at once in
// mode, as a server that is going down would. Connections already forwarded
// stay open. [Proxy.Allow] ends the rejection.
func (p *Proxy) Reject(mode CloseMode) {
	p.setAdmission(admitReject, mode)
}

// Hold makes the proxy stop accepting connections. The kernel still
// completes their handshakes up to the listen backlog, so clients connect
// but get no data until [Proxy.Allow] forwards the waiting connections or
// [Proxy.Close] closes them. A connection whose accept was already in
// progress is held unforwarded the same way.
func (p *Proxy) Hold() {
	p.setAdmission(admitHold, Graceful)
}

// Allow makes the proxy accept and forward new connections again, after
// [Proxy.Reject] or [Proxy.Hold].
func (p *Proxy) Allow() {
	p.setAdmission(admitForward, Graceful)
}

func (p *Proxy) setAdmission(a admission, mode CloseMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.admission = a
	p.rejectMode = mode
	p.broadcastLocked()
}

// OnConn sets fn to be called with each new connection before it forwards
// any byte, so fn can set per-connection faults. fn runs on the goroutine
// that accepts connections: it must not block and must not call
// [Proxy.Close]. A nil fn removes the callback.
func (p *Proxy) OnConn(fn func(*Conn)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onConn = fn
}

// Accepted returns the number of connections accepted so far, forwarded or
// rejected. A connection held by [Proxy.Hold] counts once it is forwarded or
// rejected.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Conns returns the connections forwarded so far, open or ended, in order
// of arrival. Conns()[i].ID() is i+1.
func (p *Proxy) Conns() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.conns)
}

// WaitConn waits until the proxy has forwarded n connections and returns
// the n-th, counting from 1. It returns at once when that connection has
// already arrived. It returns an error wrapping ctx.Err() when ctx ends
// first, and one wrapping [ErrClosed] when the proxy closes first.
func (p *Proxy) WaitConn(ctx context.Context, n int) (*Conn, error) {
	if n < 1 {
		return nil, fmt.Errorf("faultproxy: WaitConn: invalid connection number %d (the first is 1)", n)
	}
	var got int
	err := p.waitFor(ctx, func() bool {
		got = len(p.conns)
		return got >= n
	})
	if err != nil {
		return nil, fmt.Errorf("faultproxy: waiting for connection %d after %d arrived: %w", n, got, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[n-1], nil
}

// WaitAccepted waits until [Proxy.Accepted] is at least n. It returns an
// error wrapping ctx.Err() when ctx ends first, and one wrapping
// [ErrClosed] when the proxy closes first.
func (p *Proxy) WaitAccepted(ctx context.Context, n int) error {
	var got int
	err := p.waitFor(ctx, func() bool {
		got = p.accepted
		return got >= n
	})
	if err != nil {
		return fmt.Errorf("faultproxy: waiting for %d accepted connections after %d: %w", n, got, err)
	}
	return nil
}

// waitFor waits until cond, called with p.mu held, returns true.
func (p *Proxy) waitFor(ctx context.Context, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, closed, changed := cond(), p.closed, p.changed
		p.mu.Unlock()
		switch {
		case ok:
			return nil
		case closed:
			return ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Cut closes every open connection in mode now, as [Conn.Cut] does.
// Connections accepted later are not affected.
func (p *Proxy) Cut(mode CloseMode) {
	p.mu.Lock()
	conns := p.liveLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.Cut(mode)
	}
}

// CutAt sets [Conn.CutAt] on every current and future connection. The
// offset counts from the start of each connection, so an open connection
// that has already passed it is cut at once.
func (p *Proxy) CutAt(d Direction, offset int64, mode CloseMode) {
	p.update(d, func(f *faults) {
		f.cutAt = max(offset, -1)
		f.cutMode = mode
	})
}

// Stall sets [Conn.Stall] on every current and future connection.
func (p *Proxy) Stall(d Direction) {
	p.update(d, func(f *faults) {
		f.stalled = true
		f.stallUntil = time.Time{}
	})
}

// StallFor sets [Conn.StallFor] on every current and future connection. All
// of them resume at the same time, dur after the call.
func (p *Proxy) StallFor(d Direction, dur time.Duration) {
	until := time.Now().Add(dur)
	p.update(d, func(f *faults) {
		f.stalled = dur > 0
		f.stallUntil = until
	})
}

// Resume ends the stall in direction d on every current and future
// connection, including stalls set on a single [Conn].
func (p *Proxy) Resume(d Direction) {
	p.update(d, func(f *faults) {
		f.stalled = false
		f.stallUntil = time.Time{}
	})
}

// Slow sets [Conn.Slow] on every current and future connection. The rate
// limit applies to each connection separately.
func (p *Proxy) Slow(d Direction, bytesPerSecond int64, latency time.Duration) {
	p.update(d, func(f *faults) {
		f.rate = max(bytesPerSecond, 0)
		f.latency = max(latency, 0)
	})
}

// Truncate sets [Conn.Truncate] on every current and future connection,
// counting n from the start of each connection.
func (p *Proxy) Truncate(d Direction, n int64) {
	p.update(d, func(f *faults) {
		f.truncateAt = max(n, -1)
	})
}

// Heal removes every fault from every current and future connection, as
// [Conn.Heal] does. It does not end [Proxy.Reject] or [Proxy.Hold].
func (p *Proxy) Heal() {
	p.update(Both, func(f *faults) { *f = noFaults() })
}

// update applies mutate to the defaults for new connections and to every
// open connection. A connection accepted concurrently gets mutate either
// through the defaults or directly, so mutate must be idempotent.
func (p *Proxy) update(d Direction, mutate func(*faults)) {
	halves := d.halves()
	p.mu.Lock()
	for _, i := range halves {
		mutate(&p.defaults[i])
	}
	conns := p.liveLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.update(d, mutate)
	}
}

// acceptLoop accepts connections until the listener closes.
func (p *Proxy) acceptLoop() {
	for {
		if !p.waitWhileHeld() {
			return
		}
		client, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			timer := time.NewTimer(acceptRetryDelay)
			select {
			case <-p.closing:
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		p.admit(client)
	}
}

// waitWhileHeld waits until the proxy is not in Hold. It returns false when
// the proxy closes.
func (p *Proxy) waitWhileHeld() bool {
	for {
		p.mu.Lock()
		onHold, closed, changed := p.admission == admitHold, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed:
			return false
		case !onHold:
			return true
		}
		select {
		case <-changed:
		case <-p.closing:
			return false
		}
	}
}

// admit forwards, rejects or holds a newly accepted connection.
func (p *Proxy) admit(client *net.TCPConn) {
	p.mu.Lock()
	for p.admission == admitHold && !p.closed {
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.closing:
		}
		p.mu.Lock()
	}
	if p.closed {
		p.mu.Unlock()
		client.Close()
		return
	}
	p.accepted++
	p.broadcastLocked()
	if p.admission == admitReject {
		mode := p.rejectMode
		p.mu.Unlock()
		closeTCP(client, mode)
		return
	}

	p.lastID++
	c := newConn(p, p.lastID, client, p.defaults)
	p.live[c] = struct{}{}
	onConn := p.onConn
	p.wg.Add(1)
	p.mu.Unlock()

	if onConn != nil {
		onConn(c)
	}
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.broadcastLocked()
	p.mu.Unlock()
	go c.run(p.addrs)
}

// connEnded removes c from the open connections after its goroutines end.
func (p *Proxy) connEnded(c *Conn) {
	p.mu.Lock()
	delete(p.live, c)
	p.mu.Unlock()
	p.wg.Done()
}

// liveLocked returns the open connections. The caller holds p.mu.
func (p *Proxy) liveLocked() []*Conn {
	conns := make([]*Conn, 0, len(p.live))
	for c := range p.live {
		conns = append(conns, c)
	}
	return conns
}

// broadcastLocked wakes every waiter on p.changed. The caller holds p.mu.
func (p *Proxy) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}
