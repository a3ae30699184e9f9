package signalr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// fakeTimer is a timer that fires only when the test fires it.
type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool          { return true }
func (t *fakeTimer) fire()               { t.c <- time.Time{} }

// useFakeClock makes c's retry delays wait for fakeTimers, which the test
// receives from the returned channel.
func useFakeClock(c *Client) <-chan *fakeTimer {
	timers := make(chan *fakeTimer, 16)
	c.newTimer = func(d time.Duration) timer {
		t := &fakeTimer{d: d, c: make(chan time.Time, 1)}
		timers <- t
		return t
	}
	return timers
}

// eventLog records the reconnect events of a client in order.
type eventLog struct {
	mu     sync.Mutex
	events []string
	closed chan error
}

func newEventLog(cfg *Config) *eventLog {
	l := &eventLog{closed: make(chan error, 1)}
	cfg.OnReconnecting = func(err error) { l.add(fmt.Sprintf("reconnecting: %v", err)) }
	cfg.OnReconnected = func(id string) { l.add("reconnected: " + id) }
	cfg.OnClosed = func(err error) {
		l.add(fmt.Sprintf("closed: %v", err))
		l.closed <- err
	}
	return l
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *eventLog) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if events := l.list(); len(events) >= n {
			return events
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("got events %q; want at least %d", l.list(), n)
	return nil
}

func TestDefaultRetryPolicyWithFakeClock(t *testing.T) {
	cfg := Config{Reconnect: DefaultRetryPolicy(), KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	c, p := startTestClient(t, cfg)
	timers := useFakeClock(c)

	var mu sync.Mutex
	attempts := 0
	c.dial = func(ctx context.Context) (transportConn, string, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		return nil, "", fmt.Errorf("attempt %d: %w", attempts, errTest)
	}
	p.conn.Close() // the transport is lost

	// The first attempt follows at once; the next ones wait 2, 10 and 30 s.
	for _, want := range []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second} {
		select {
		case timer := <-timers:
			if timer.d != want {
				t.Fatalf("retry delay %v; want %v", timer.d, want)
			}
			timer.fire()
		case <-time.After(5 * time.Second):
			t.Fatalf("no retry timer for the %v delay", want)
		}
	}

	var err error
	select {
	case err = <-events.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not close after the policy gave up")
	}
	var re *ReconnectError
	if !errors.As(err, &re) || re.Attempts != 4 || !errors.Is(err, errTest) {
		t.Fatalf("OnClosed error = %v; want a *ReconnectError after 4 attempts wrapping the last attempt's error", err)
	}
	if got := c.Err(); got != err {
		t.Errorf("Err() = %v; want the OnClosed error %v", got, err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done() is open after the client closed")
	}
	got := events.list()
	if len(got) != 2 || got[0] != "reconnecting: "+io.EOF.Error() || got[1] != "closed: "+err.Error() {
		t.Errorf("events = %q; want reconnecting with the transport error, then closed", got)
	}
	if err := c.Send(context.Background(), "X"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send after the client closed: %v; want ErrNotConnected", err)
	}
}

func TestReconnectRestoresHandlersAndCalls(t *testing.T) {
	cfg := Config{Reconnect: DelayRetryPolicy{0}, KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	c, p := startTestClient(t, cfg)
	got := make(chan string, 4)
	c.On("Notify", func(ctx context.Context, inv *Invocation) (any, error) {
		var s string
		err := inv.Decode(&s)
		got <- s
		return nil, err
	})

	second := newFakeConn()
	dialed := make(chan struct{})
	c.dial = func(ctx context.Context) (transportConn, string, error) {
		close(dialed)
		return second, "conn-2", nil
	}
	p.conn.Close()
	<-dialed
	p2 := &peer{t: t, conn: second}
	if req := p2.acceptHandshake("{}\x1e"); req.Protocol != "json" {
		t.Fatalf("handshake on the new connection asked for %q", req.Protocol)
	}
	if e := events.waitFor(t, 2); e[1] != "reconnected: conn-2" {
		t.Fatalf("events = %q; want reconnected: conn-2 second", e)
	}
	if id := c.ConnectionID(); id != "conn-2" {
		t.Errorf("ConnectionID() = %q; want conn-2", id)
	}

	// The handler registered before the loss still runs.
	p2.sendMessage(&protocol.Message{Type: protocol.TypeInvocation, Target: "notify", Arguments: []protocol.RawValue{protocol.RawValue(`"after"`)}})
	select {
	case s := <-got:
		if s != "after" {
			t.Errorf("handler got %q; want after", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not run on the new connection")
	}

	// Calls go to the new connection.
	errc := make(chan error, 1)
	go func() { errc <- c.Send(context.Background(), "Echo", "x") }()
	if m := p2.next(false); m.Type != protocol.TypeInvocation || m.Target != "Echo" {
		t.Errorf("new connection got %v %s; want the Invocation of Echo", m.Type, m.Target)
	}
	if err := <-errc; err != nil {
		t.Errorf("Send after reconnecting: %v", err)
	}
}

func TestCallsWaitWhileReconnecting(t *testing.T) {
	cfg := Config{Reconnect: DelayRetryPolicy{time.Hour}, KeepAliveInterval: -1, ServerTimeout: -1}
	c, p := startTestClient(t, cfg)
	timers := useFakeClock(c)
	second := newFakeConn()
	c.dial = func(ctx context.Context) (transportConn, string, error) { return second, "conn-2", nil }

	// A call on the lost connection fails with ErrConnectionClosed.
	pending := make(chan error, 1)
	go func() { pending <- c.Invoke(context.Background(), "Slow", nil) }()
	p.next(false)
	p.conn.Close()
	if err := <-pending; !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("pending Invoke: %v; want an error wrapping ErrConnectionClosed", err)
	}
	timer := <-timers

	// A call with a short ctx gives up while the client waits to retry.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, "Echo"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send during reconnect with a short ctx: %v; want context.DeadlineExceeded", err)
	}

	// A call without a deadline waits for the new connection.
	waiting := make(chan error, 1)
	go func() { waiting <- c.Send(context.Background(), "Echo") }()
	select {
	case err := <-waiting:
		t.Fatalf("Send returned %v while the client was reconnecting", err)
	case <-time.After(20 * time.Millisecond):
	}
	timer.fire()
	p2 := &peer{t: t, conn: second}
	p2.acceptHandshake("{}\x1e")
	if m := p2.next(false); m.Target != "Echo" {
		t.Errorf("new connection got %v %q; want the Invocation of Echo", m.Type, m.Target)
	}
	if err := <-waiting; err != nil {
		t.Errorf("Send that waited for the reconnect: %v", err)
	}
}

func TestStopEndsReconnect(t *testing.T) {
	cfg := Config{Reconnect: DelayRetryPolicy{time.Hour}, KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	c, p := startTestClient(t, cfg)
	timers := useFakeClock(c)
	p.conn.Close()
	<-timers // the client waits an hour before its attempt

	waiting := make(chan error, 1)
	go func() { waiting <- c.Send(context.Background(), "Echo") }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop during reconnect: %v", err)
	}
	// A Send that was waiting fails with ErrConnectionClosed, and one that
	// started after Stop with ErrNotConnected.
	if err := <-waiting; !errors.Is(err, ErrConnectionClosed) && !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send waiting for the reconnect: %v; want ErrConnectionClosed after Stop", err)
	}
	if err := <-events.closed; err != nil {
		t.Errorf("OnClosed after Stop: %v; want nil", err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() after Stop = %v; want nil", err)
	}
}

func TestCloseWithoutAllowReconnectEndsClient(t *testing.T) {
	cfg := Config{Reconnect: DelayRetryPolicy{0}, KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	_, p := startTestClient(t, cfg)
	p.send(`{"type":7,"error":"bye"}` + "\x1e")
	err := <-events.closed
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Message != "bye" {
		t.Fatalf("OnClosed: %v; want the server's *CloseError", err)
	}
	if got := events.list(); len(got) != 1 {
		t.Errorf("events = %q; want only closed", got)
	}
}

func TestCloseWithAllowReconnectReconnects(t *testing.T) {
	cfg := Config{Reconnect: DelayRetryPolicy{0}, KeepAliveInterval: -1, ServerTimeout: -1}
	events := newEventLog(&cfg)
	c, p := startTestClient(t, cfg)
	second := newFakeConn()
	c.dial = func(ctx context.Context) (transportConn, string, error) { return second, "conn-2", nil }
	p.send(`{"type":7,"error":"restarting","allowReconnect":true}` + "\x1e")
	(&peer{t: t, conn: second}).acceptHandshake("{}\x1e")
	got := events.waitFor(t, 2)
	want := []string{`reconnecting: signalr: server closed the connection with error "restarting" (reconnect allowed)`, "reconnected: conn-2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %q; want %q", got, want)
	}
}
