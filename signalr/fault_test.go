package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/internal/faultproxy"
	"github.com/hubwire/hubwire/signalr"
)

// scriptedSession runs about 20 messages through c: the handshake, a
// Ping, Echo, Add, a stream of five items, a non-blocking Void, a failing
// call and a client result. It returns the first error that is not a hub
// error; a call cut off by a lost connection returns one.
func scriptedSession(ctx context.Context, c *signalr.Client) error {
	var s string
	if err := c.Invoke(ctx, "Echo", &s, "hello"); err != nil {
		return err
	}
	var sum int
	if err := c.Invoke(ctx, "Add", &sum, 2, 3); err != nil {
		return err
	}
	stream, err := c.Stream(ctx, "Counter", 5, 0)
	if err != nil {
		return err
	}
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if err := c.Send(ctx, "Void"); err != nil {
		return err
	}
	var hubErr *signalr.HubError
	if err := c.Invoke(ctx, "Fail", nil, "boom"); !errors.As(err, &hubErr) {
		return fmt.Errorf("Fail: %v", err)
	}
	var answer int
	if err := c.Invoke(ctx, "CallMe", &answer, "Ask", 41, true); err != nil {
		return err
	}
	return nil
}

// newScriptClient returns a client for the scripted session that connects
// through proxy without negotiating, so that the WebSocket is the only TCP
// connection of each attempt.
func newScriptClient(proxy *faultproxy.Proxy, reconnect signalr.RetryPolicy) *signalr.Client {
	c := signalr.NewClient(proxy.URL("ws")+"/hub", signalr.Config{
		SkipNegotiation:  true,
		HandshakeTimeout: 2 * time.Second,
		ServerTimeout:    2 * time.Second,
		Reconnect:        reconnect,
	})
	c.On("Ask", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var n int
		if err := inv.Decode(&n); err != nil {
			return nil, err
		}
		return n + 1, nil
	})
	return c
}

// TestCutAtEveryOffset cuts the WebSocket of the scripted session after
// every byte, in each direction. Whatever the offset, the session must end
// with an error or succeed after reconnecting, within its timeouts, and
// Stop must return. The package's TestMain checks that no goroutine is
// left behind.
func TestCutAtEveryOffset(t *testing.T) {
	srv, _ := startServer(t, conformance.Options{})
	base := strings.TrimSuffix(strings.TrimPrefix(srv.HubURL(), "http://"), "/hub")

	// Measure the session's bytes in each direction without a fault.
	sizes := map[faultproxy.Direction]int64{}
	{
		proxy, err := faultproxy.New(base)
		if err != nil {
			t.Fatal(err)
		}
		c := newScriptClient(proxy, nil)
		ctx := testContext(t)
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := scriptedSession(ctx, c); err != nil {
			t.Fatalf("session without faults: %v", err)
		}
		conn, err := proxy.WaitConn(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		<-conn.Done()
		for _, d := range []faultproxy.Direction{faultproxy.ClientToServer, faultproxy.ServerToClient} {
			sizes[d] = conn.Forwarded(d)
		}
		proxy.Close()
	}
	t.Logf("session bytes: client to server %d, server to client %d", sizes[faultproxy.ClientToServer], sizes[faultproxy.ServerToClient])

	// A graceful cut (FIN) runs at every offset. An abortive one (RST)
	// costs about 40 ms, the peer's delayed ACK that the proxy waits for
	// to cut exactly, so it runs at every 37th offset.
	step := int64(1)
	if testing.Short() {
		step = 17
	}
	var reconnected, failed int
	for _, d := range []faultproxy.Direction{faultproxy.ClientToServer, faultproxy.ServerToClient} {
		for offset := int64(0); offset <= sizes[d]; offset += step {
			modes := []faultproxy.CloseMode{faultproxy.Graceful}
			if offset%37 == 0 {
				modes = append(modes, faultproxy.Abortive)
			}
			for _, mode := range modes {
				if runCutSession(t, base, d, offset, mode) {
					reconnected++
				} else {
					failed++
				}
			}
		}
	}
	t.Logf("sessions completed after a reconnect or before the cut: %d, ended with an error: %d", reconnected, failed)
}

// runCutSession runs the scripted session with the first WebSocket cut in
// mode at offset bytes in direction d, and reports whether the script
// completed.
func runCutSession(t *testing.T, base string, d faultproxy.Direction, offset int64, mode faultproxy.CloseMode) bool {
	t.Helper()
	proxy, err := faultproxy.New(base)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.OnConn(func(c *faultproxy.Conn) {
		if c.ID() == 1 {
			c.CutAt(d, offset, mode)
		}
	})

	c := newScriptClient(proxy, signalr.DelayRetryPolicy{0, 0})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	completed := false
	if err := c.Start(ctx); err == nil {
		err = scriptedSession(ctx, c)
		if err != nil && c.Err() == nil {
			// The cut interrupted a call. Unless the client has ended, it
			// reconnects, and the script must then run through.
			first := err
			err = scriptedSession(ctx, c)
			if err != nil && c.Err() == nil && !errors.Is(err, signalr.ErrNotConnected) {
				t.Fatalf("direction %v, offset %d, mode %v: the session failed after reconnecting: %v (first error: %v; %d connections)", d, offset, mode, err, first, proxy.Accepted())
			}
		}
		if err != nil && ctx.Err() != nil {
			t.Fatalf("direction %v, offset %d: the session hung until its deadline: %v", d, offset, err)
		}
		completed = err == nil
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("direction %v, offset %d: Stop: %v", d, offset, err)
	}
	if elapsed := time.Since(start); elapsed > 8*time.Second {
		t.Fatalf("direction %v, offset %d: the session took %v", d, offset, elapsed)
	}
	return completed
}
