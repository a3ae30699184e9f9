package faultproxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hubwire/hubwire/internal/faultproxy"
)

func TestNewRejectsNonLoopbackTarget(t *testing.T) {
	targets := []string{
		"10.0.0.1:80",
		"192.168.1.1:443",
		"8.8.8.8:53",
		"0.0.0.0:80",
		"[::]:80",
		"[2001:db8::1]:80",
		"[::ffff:10.0.0.1]:80",
		"example.com:80",
		"localhost.example.com:80",
	}
	for _, target := range targets {
		p, err := faultproxy.New(target)
		if err == nil {
			p.Close()
			t.Errorf("New(%q) succeeded; want an error", target)
			continue
		}
		if !errors.Is(err, faultproxy.ErrNotLoopback) {
			t.Errorf("New(%q) error = %v; want ErrNotLoopback", target, err)
		}
	}
}

func TestNewRejectsInvalidTarget(t *testing.T) {
	targets := []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "[::1"}
	for _, target := range targets {
		p, err := faultproxy.New(target)
		if err == nil {
			p.Close()
			t.Errorf("New(%q) succeeded; want an error", target)
		}
	}
}

func TestNewAcceptsLoopbackTarget(t *testing.T) {
	checkGoroutines(t)
	targets := []string{"127.0.0.1:1", "127.200.3.4:9", "[::1]:1", "[::ffff:127.0.0.1]:1", "localhost:1", "LOCALHOST:1"}
	for _, target := range targets {
		p, err := faultproxy.New(target)
		if err != nil {
			t.Errorf("New(%q): %v", target, err)
			continue
		}
		if got := p.Target(); got != target {
			t.Errorf("Target() = %q; want %q", got, target)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestProxyAddrIsLoopback(t *testing.T) {
	checkGoroutines(t)
	p := startProxy(t, "127.0.0.1:1")
	host, _, err := net.SplitHostPort(p.Addr())
	if err != nil {
		t.Fatalf("Addr() = %q: %v", p.Addr(), err)
	}
	if host != "127.0.0.1" {
		t.Errorf("Addr() host = %q; want 127.0.0.1", host)
	}
	if got, want := p.URL("http"), "http://"+p.Addr(); got != want {
		t.Errorf("URL(http) = %q; want %q", got, want)
	}
}

func TestForwardEchoBothDirections(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	want := payload(1 << 20)

	go func() {
		conn.Write(want)
		conn.CloseWrite()
	}()
	got := readAll(t, conn)

	if got.err != nil {
		t.Fatalf("read: %v", got.err)
	}
	if !bytes.Equal(got.data, want) {
		t.Fatalf("echo differs at byte %d; got %d bytes, want %d", firstDiff(got.data, want), len(got.data), len(want))
	}
	c := waitConn(t, p, 1)
	waitDone(t, c)
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v; want nil after both streams ended", err)
	}
	for _, d := range []faultproxy.Direction{faultproxy.ClientToServer, faultproxy.ServerToClient} {
		if n := c.Forwarded(d); n != int64(len(want)) {
			t.Errorf("Forwarded(%v) = %d; want %d", d, n, len(want))
		}
	}
	if n := c.Forwarded(faultproxy.Both); n != 2*int64(len(want)) {
		t.Errorf("Forwarded(Both) = %d; want %d", n, 2*len(want))
	}
	if n := p.Accepted(); n != 1 {
		t.Errorf("Accepted() = %d; want 1", n)
	}
	if c.ID() != 1 {
		t.Errorf("ID() = %d; want 1", c.ID())
	}
	if c.ClientAddr().String() != conn.LocalAddr().String() {
		t.Errorf("ClientAddr() = %v; want %v", c.ClientAddr(), conn.LocalAddr())
	}
}

// checkCutResult checks what a peer read from a connection cut at offset
// in mode.
func checkCutResult(t *testing.T, got result, want []byte, mode faultproxy.CloseMode) {
	t.Helper()
	if !bytes.Equal(got.data, want) {
		t.Errorf("read %d bytes, differing at byte %d; want the first %d bytes", len(got.data), firstDiff(got.data, want), len(want))
	}
	switch mode {
	case faultproxy.Graceful:
		if got.err != nil {
			t.Errorf("graceful cut: read ended with %v; want end of stream", got.err)
		}
	case faultproxy.Abortive:
		if !isReset(got.err) {
			t.Errorf("abortive cut: read ended with %s; want connection reset", describe(got.err))
		}
	}
}

func TestCutAtClientToServer(t *testing.T) {
	const size = 1 << 20
	data := payload(size)
	// 300_001 falls inside a read of the single 1 MiB write, whichever
	// chunk sizes the kernel produces.
	offsets := []int64{0, 1, 1000, 300_001, size}
	for _, mode := range []faultproxy.CloseMode{faultproxy.Graceful, faultproxy.Abortive} {
		for _, offset := range offsets {
			t.Run(fmt.Sprintf("%v/offset=%d", mode, offset), func(t *testing.T) {
				checkGoroutines(t)
				handle, results := sink()
				srv := startServer(t, handle)
				p := startProxy(t, srv.addr())
				p.CutAt(faultproxy.ClientToServer, offset, mode)
				// At offset 0 the cut can reset the connection before
				// the client's connect completes.
				if conn, err := dialOrReset(t, p); err == nil {
					go conn.Write(data)
				}
				got := receive(t, results)

				checkCutResult(t, got, data[:offset], mode)
				c := waitConn(t, p, 1)
				waitDone(t, c)
				if !errors.Is(c.Err(), faultproxy.ErrCut) {
					t.Errorf("Err() = %v; want ErrCut", c.Err())
				}
				if n := c.Forwarded(faultproxy.ClientToServer); n != offset {
					t.Errorf("Forwarded(ClientToServer) = %d; want %d", n, offset)
				}
			})
		}
	}
}

func TestCutAtServerToClient(t *testing.T) {
	const size = 1 << 20
	data := payload(size)
	offsets := []int64{0, 1, 1000, 300_001, size}
	for _, mode := range []faultproxy.CloseMode{faultproxy.Graceful, faultproxy.Abortive} {
		for _, offset := range offsets {
			t.Run(fmt.Sprintf("%v/offset=%d", mode, offset), func(t *testing.T) {
				checkGoroutines(t)
				srv := startServer(t, source(data))
				p := startProxy(t, srv.addr())
				p.OnConn(func(c *faultproxy.Conn) {
					c.CutAt(faultproxy.ServerToClient, offset, mode)
				})
				conn, err := dialOrReset(t, p)
				if err == nil {
					conn.Write([]byte{'g'})
				}
				got := readAllOrReset(t, conn, err)

				checkCutResult(t, got, data[:offset], mode)
				c := waitConn(t, p, 1)
				waitDone(t, c)
				if n := c.Forwarded(faultproxy.ServerToClient); n != offset {
					t.Errorf("Forwarded(ServerToClient) = %d; want %d", n, offset)
				}
			})
		}
	}
}

func TestCutAtSetWhileFlowing(t *testing.T) {
	checkGoroutines(t)
	handle, results := sink()
	srv := startServer(t, handle)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	// The client repeats chunk until the cut, at most 64 times, so data is
	// still flowing when the cut is set.
	chunk := payload(1 << 20)
	const repeats = 64
	go func() {
		for range repeats {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	c := waitConn(t, p, 1)
	waitUntil(t, "256 KiB are forwarded", func() bool { return c.Forwarded(faultproxy.ClientToServer) >= 256<<10 })

	// After Stall returns at most one piece of at most 32 KiB is still in
	// flight, so an offset 100 KiB past the count is not reached yet.
	c.Stall(faultproxy.ClientToServer)
	offset := c.Forwarded(faultproxy.ClientToServer) + 100<<10
	c.CutAt(faultproxy.ClientToServer, offset, faultproxy.Graceful)
	c.Resume(faultproxy.ClientToServer)
	got := receive(t, results)

	if offset > repeats*int64(len(chunk)) {
		t.Fatalf("offset %d is past the %d bytes the client sends", offset, repeats*len(chunk))
	}
	want := bytes.Repeat(chunk, int(offset)/len(chunk)+1)[:offset]
	checkCutResult(t, got, want, faultproxy.Graceful)
}

func TestCutAtPassedOffsetCutsAtOnce(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatalf("read echo: %v", err)
	}

	p.CutAt(faultproxy.ServerToClient, 3, faultproxy.Abortive)

	c := waitConn(t, p, 1)
	waitDone(t, c)
	if _, err := conn.Read(buf); !isReset(err) {
		t.Errorf("read after cut: %s; want connection reset", describe(err))
	}
}

func TestCutNow(t *testing.T) {
	for _, mode := range []faultproxy.CloseMode{faultproxy.Graceful, faultproxy.Abortive} {
		t.Run(mode.String(), func(t *testing.T) {
			checkGoroutines(t)
			srv := startServer(t, echo)
			p := startProxy(t, srv.addr())
			conn := dial(t, p)
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			conn.SetReadDeadline(time.Now().Add(testTimeout))
			if _, err := io.ReadFull(conn, buf); err != nil {
				t.Fatalf("read echo: %v", err)
			}

			p.Cut(mode)

			c := waitConn(t, p, 1)
			waitDone(t, c)
			got := readAll(t, conn)
			checkCutResult(t, got, nil, mode)
			if !errors.Is(c.Err(), faultproxy.ErrCut) {
				t.Errorf("Err() = %v; want ErrCut", c.Err())
			}
		})
	}
}

func TestReconnectAfterCut(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	p.OnConn(func(c *faultproxy.Conn) {
		if c.ID() == 1 {
			c.CutAt(faultproxy.ServerToClient, 2, faultproxy.Graceful)
		}
	})

	first := dial(t, p)
	first.Write([]byte("abcdef"))
	if got := readAll(t, first); string(got.data) != "ab" {
		t.Errorf("first connection read %q; want %q", got.data, "ab")
	}

	second := dial(t, p)
	c := waitConn(t, p, 2)
	second.Write([]byte("abcdef"))
	second.CloseWrite()
	if got := readAll(t, second); string(got.data) != "abcdef" || got.err != nil {
		t.Errorf("second connection read %q, %s; want %q, end of stream", got.data, describe(got.err), "abcdef")
	}
	if c.ID() != 2 {
		t.Errorf("WaitConn(2).ID() = %d; want 2", c.ID())
	}
	if conns := p.Conns(); len(conns) != 2 || conns[1] != c {
		t.Errorf("Conns() = %v; want 2 connections ending with WaitConn(2)", conns)
	}
}

func TestStallThenResume(t *testing.T) {
	for _, d := range []faultproxy.Direction{faultproxy.ClientToServer, faultproxy.ServerToClient, faultproxy.Both} {
		t.Run(d.String(), func(t *testing.T) {
			checkGoroutines(t)
			srv := startServer(t, echo)
			p := startProxy(t, srv.addr())
			p.Stall(d)
			conn := dial(t, p)
			want := payload(256 << 10)
			go func() {
				conn.Write(want)
				conn.CloseWrite()
			}()

			c := waitConn(t, p, 1)
			// Holding for a while shows that nothing passes the stall.
			time.Sleep(20 * time.Millisecond)
			var stalledHalf faultproxy.Direction = faultproxy.ClientToServer
			if d == faultproxy.ServerToClient {
				stalledHalf = faultproxy.ServerToClient
			}
			if n := c.Forwarded(stalledHalf); n != 0 {
				t.Errorf("Forwarded(%v) = %d during the stall; want 0", stalledHalf, n)
			}
			p.Resume(d)
			got := readAll(t, conn)

			if got.err != nil || !bytes.Equal(got.data, want) {
				t.Errorf("read %d bytes (differing at %d), %s; want the %d bytes sent, end of stream",
					len(got.data), firstDiff(got.data, want), describe(got.err), len(want))
			}
		})
	}
}

func TestStallForResumesAfterDuration(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	c := waitConn(t, p, 1)

	const stall = 50 * time.Millisecond
	start := time.Now()
	c.StallFor(faultproxy.ClientToServer, stall)
	conn.Write([]byte("ping"))
	conn.CloseWrite()
	got := readAll(t, conn)
	elapsed := time.Since(start)

	if string(got.data) != "ping" || got.err != nil {
		t.Errorf("read %q, %s; want %q, end of stream", got.data, describe(got.err), "ping")
	}
	if elapsed < stall {
		t.Errorf("echo arrived after %v; want at least the stall of %v", elapsed, stall)
	}
}

func TestStallEndOfStreamIsHeld(t *testing.T) {
	checkGoroutines(t)
	handle, results := sink()
	srv := startServer(t, handle)
	p := startProxy(t, srv.addr())
	p.Stall(faultproxy.ClientToServer)
	conn := dial(t, p)
	conn.Write([]byte("data"))
	conn.CloseWrite()

	select {
	case r := <-results:
		t.Fatalf("server read %q, %s during the stall; want nothing", r.data, describe(r.err))
	case <-time.After(20 * time.Millisecond):
	}
	p.Resume(faultproxy.ClientToServer)
	got := receive(t, results)

	if string(got.data) != "data" || got.err != nil {
		t.Errorf("server read %q, %s; want %q, end of stream", got.data, describe(got.err), "data")
	}
}

func TestSlowLimitsRate(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	const rate = 1 << 20 // bytes per second
	p.Slow(faultproxy.ClientToServer, rate, 0)
	conn := dial(t, p)
	want := payload(200 << 10)

	start := time.Now()
	go func() {
		conn.Write(want)
		conn.CloseWrite()
	}()
	got := readAll(t, conn)
	elapsed := time.Since(start)

	if got.err != nil || !bytes.Equal(got.data, want) {
		t.Fatalf("read %d bytes (differing at %d), %s; want the %d bytes sent", len(got.data), firstDiff(got.data, want), describe(got.err), len(want))
	}
	// 200 KiB at 1 MiB/s take about 195 ms. The first 20 ms of data may
	// go out at once.
	if minElapsed := 150 * time.Millisecond; elapsed < minElapsed {
		t.Errorf("transfer took %v; want at least %v at %d B/s", elapsed, minElapsed, rate)
	}
}

func TestSlowAddsLatency(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	c := waitConn(t, p, 1)
	const latency = 30 * time.Millisecond
	c.Slow(faultproxy.ServerToClient, 0, latency)

	buf := make([]byte, 4)
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	for _, msg := range []string{"one!", "two!"} {
		start := time.Now()
		conn.Write([]byte(msg))
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatalf("read echo of %q: %v", msg, err)
		}
		elapsed := time.Since(start)
		if string(buf) != msg {
			t.Errorf("echo = %q; want %q", buf, msg)
		}
		if elapsed < latency {
			t.Errorf("echo of %q took %v; want at least the latency of %v", msg, elapsed, latency)
		}
	}

	c.Slow(faultproxy.ServerToClient, 0, 0)
	conn.Write([]byte("done"))
	conn.CloseWrite()
	if got := readAll(t, conn); string(got.data) != "done" || got.err != nil {
		t.Errorf("read %q, %s after removing the latency; want %q, end of stream", got.data, describe(got.err), "done")
	}
}

func TestTruncateServerToClient(t *testing.T) {
	checkGoroutines(t)
	const size, keep = 5000, 1000
	data := payload(size)
	fromClient := make(chan []byte, 1)
	srv := startServer(t, func(conn *net.TCPConn) {
		conn.Write(data)
		buf := make([]byte, 4)
		n, _ := io.ReadFull(conn, buf)
		fromClient <- buf[:n]
		conn.CloseWrite()
		io.Copy(io.Discard, conn)
	})
	p := startProxy(t, srv.addr())
	p.Truncate(faultproxy.ServerToClient, keep)
	conn := dial(t, p)
	c := waitConn(t, p, 1)

	got := make([]byte, keep)
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read the first %d bytes: %v", keep, err)
	}
	if !bytes.Equal(got, data[:keep]) {
		t.Errorf("first %d bytes differ at byte %d", keep, firstDiff(got, data[:keep]))
	}
	waitUntil(t, "the rest is dropped", func() bool { return c.Dropped(faultproxy.ServerToClient) == size-keep })

	// The client's direction still works while the other one drops.
	conn.Write([]byte("ping"))
	select {
	case b := <-fromClient:
		if string(b) != "ping" {
			t.Errorf("server read %q; want %q", b, "ping")
		}
	case <-time.After(testTimeout):
		t.Fatal("server did not receive the client's bytes")
	}

	// The server's end of stream is dropped too: the client reads nothing.
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := conn.Read(got); !isTimeout(err) {
		t.Errorf("read after truncation = %d bytes, %s; want a timeout", n, describe(err))
	}
	select {
	case <-c.Done():
		t.Errorf("connection ended with %v; want it open", c.Err())
	default:
	}
	if n := c.Forwarded(faultproxy.ServerToClient); n != keep {
		t.Errorf("Forwarded(ServerToClient) = %d; want %d", n, keep)
	}
}

func TestTruncateClientToServerAtZero(t *testing.T) {
	checkGoroutines(t)
	handle, results := sink()
	srv := startServer(t, handle)
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	c := waitConn(t, p, 1)
	c.Truncate(faultproxy.ClientToServer, 0)
	conn.Write(payload(100 << 10))
	waitUntil(t, "100 KiB are dropped", func() bool { return c.Dropped(faultproxy.ClientToServer) == 100<<10 })

	c.Cut(faultproxy.Graceful)
	got := receive(t, results)

	if len(got.data) != 0 || got.err != nil {
		t.Errorf("server read %d bytes, %s; want 0 bytes, end of stream", len(got.data), describe(got.err))
	}
}

func TestHealRemovesFaults(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	p.Stall(faultproxy.Both)
	p.Truncate(faultproxy.ServerToClient, 0)
	p.CutAt(faultproxy.ClientToServer, 1, faultproxy.Abortive)
	p.Slow(faultproxy.Both, 1, time.Hour)
	conn := dial(t, p)
	waitConn(t, p, 1)

	p.Heal()
	conn.Write([]byte("healed"))
	conn.CloseWrite()
	if got := readAll(t, conn); string(got.data) != "healed" || got.err != nil {
		t.Errorf("read %q, %s; want %q, end of stream", got.data, describe(got.err), "healed")
	}
}

func TestRejectThenAllow(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	p.Reject(faultproxy.Graceful)
	if got := readAll(t, dial(t, p)); len(got.data) != 0 || got.err != nil {
		t.Errorf("graceful reject: read %q, %s; want end of stream", got.data, describe(got.err))
	}
	p.Reject(faultproxy.Abortive)
	conn, err := dialOrReset(t, p)
	if got := readAllOrReset(t, conn, err); len(got.data) != 0 || !isReset(got.err) {
		t.Errorf("abortive reject: read %q, %s; want connection reset", got.data, describe(got.err))
	}
	if err := p.WaitAccepted(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if conns := p.Conns(); len(conns) != 0 {
		t.Errorf("Conns() has %d connections after rejects; want 0", len(conns))
	}

	p.Allow()
	conn = dial(t, p)
	conn.Write([]byte("back"))
	conn.CloseWrite()
	if got := readAll(t, conn); string(got.data) != "back" || got.err != nil {
		t.Errorf("after Allow: read %q, %s; want %q, end of stream", got.data, describe(got.err), "back")
	}
	if n := p.Accepted(); n != 3 {
		t.Errorf("Accepted() = %d; want 3", n)
	}
	if c := waitConn(t, p, 1); c.ID() != 1 {
		t.Errorf("first forwarded connection has ID %d; want 1", c.ID())
	}
}

func TestHoldThenAllow(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	p.Hold()

	// Each connection after the first finds the proxy not accepting at all.
	conns := []*net.TCPConn{dial(t, p), dial(t, p)}
	for _, conn := range conns {
		conn.Write([]byte("held"))
		conn.CloseWrite()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if c, err := p.WaitConn(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConn during Hold = %v, %v; want a deadline error", c, err)
	}
	if n := p.Accepted(); n != 0 {
		t.Errorf("Accepted() = %d during Hold; want 0", n)
	}

	p.Allow()
	for i, conn := range conns {
		if got := readAll(t, conn); string(got.data) != "held" || got.err != nil {
			t.Errorf("connection %d: read %q, %s; want %q, end of stream", i, got.data, describe(got.err), "held")
		}
	}
	if n := p.Accepted(); n != 2 {
		t.Errorf("Accepted() = %d; want 2", n)
	}
}

func TestCloseEndsHeldConnection(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	p.Hold()
	conn := dial(t, p)

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// The kernel completed the handshake, so closing the listener resets
	// the connection or, when it was accepted, ends it.
	if got := readAll(t, conn); len(got.data) != 0 {
		t.Errorf("read %q after Close; want nothing", got.data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := p.WaitConn(ctx, 1); !errors.Is(err, faultproxy.ErrClosed) {
		t.Errorf("WaitConn after Close = %v; want ErrClosed", err)
	}
}

func TestCloseWithTrafficInFlight(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, echo)
	p := startProxy(t, srv.addr())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// Each client streams until the proxy closes its connection.
	const clients = 6
	clientsDone := make(chan struct{}, clients)
	for range clients {
		conn := dial(t, p)
		go func() {
			defer func() { clientsDone <- struct{}{} }()
			go io.Copy(io.Discard, conn)
			chunk := payload(16 << 10)
			for ctx.Err() == nil {
				if _, err := conn.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	for i := range clients {
		waitConn(t, p, i+1)
	}
	conns := p.Conns()
	conns[0].Stall(faultproxy.Both)
	conns[1].Slow(faultproxy.ClientToServer, 1, 0)
	conns[2].Slow(faultproxy.ServerToClient, 0, time.Hour)
	conns[3].StallFor(faultproxy.Both, time.Hour)
	conns[4].Truncate(faultproxy.ServerToClient, 0)
	waitUntil(t, "traffic flows", func() bool { return conns[5].Forwarded(faultproxy.Both) > 0 })

	start := time.Now()
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	elapsed := time.Since(start)

	// The bound only detects a hang: Close waits for nothing that the
	// faults above delay.
	if elapsed > 5*time.Second {
		t.Errorf("Close took %v", elapsed)
	}
	for _, c := range conns {
		select {
		case <-c.Done():
		default:
			t.Errorf("connection %d still open after Close", c.ID())
		}
		if err := c.Err(); !errors.Is(err, faultproxy.ErrClosed) {
			t.Errorf("connection %d: Err() = %v; want ErrClosed", c.ID(), err)
		}
	}
	for range clients {
		select {
		case <-clientsDone:
		case <-time.After(testTimeout):
			t.Fatal("a client kept writing after Close")
		}
	}
}

func TestDialFailureEndsClient(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p := startProxy(t, target)
	conn, err := dialOrReset(t, p)

	got := readAllOrReset(t, conn, err)
	c := waitConn(t, p, 1)
	waitDone(t, c)
	if !isReset(got.err) {
		t.Errorf("client read ended with %s; want connection reset", describe(got.err))
	}
	if c.Err() == nil {
		t.Error("Err() = nil; want the dial error")
	}
}

func TestServerResetReachesClient(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, func(conn *net.TCPConn) {
		buf := make([]byte, 4)
		io.ReadFull(conn, buf)
		conn.Write([]byte("bye"))
		conn.SetLinger(0)
		conn.Close()
	})
	p := startProxy(t, srv.addr())
	conn := dial(t, p)
	conn.Write([]byte("ping"))

	got := readAll(t, conn)
	if string(got.data) != "bye" || !isReset(got.err) {
		t.Errorf("read %q, %s; want %q, connection reset", got.data, describe(got.err), "bye")
	}
}

func TestInvalidDirectionPanics(t *testing.T) {
	checkGoroutines(t)
	p := startProxy(t, "127.0.0.1:1")
	defer func() {
		if recover() == nil {
			t.Error("Stall(Direction(0)) did not panic")
		}
	}()
	p.Stall(faultproxy.Direction(0))
}

func TestWaitConnRejectsInvalidNumber(t *testing.T) {
	checkGoroutines(t)
	p := startProxy(t, "127.0.0.1:1")
	if _, err := p.WaitConn(context.Background(), 0); err == nil {
		t.Error("WaitConn(0) succeeded; want an error")
	}
}
