package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubwire/hubwire/internal/faultproxy"
	"github.com/hubwire/hubwire/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m)
}

// testTimeout bounds every wait in these tests. Reaching it means a hang.
const testTimeout = 10 * time.Second

// server is a TCP server on 127.0.0.1 that runs handle for each connection.
type server struct {
	ln     net.Listener
	handle func(*net.TCPConn)
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// startServer starts a server and closes it when the test ends.
func startServer(t *testing.T, handle func(*net.TCPConn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln, handle: handle}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		s.wg.Go(func() {
			defer conn.Close()
			s.handle(conn.(*net.TCPConn))
		})
	}
}

func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, conn := range s.conns {
		conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo writes back everything it reads and then ends its stream.
func echo(conn *net.TCPConn) {
	io.Copy(conn, conn)
	conn.CloseWrite()
}

// result is what a server or client read from a connection until it ended.
type result struct {
	data []byte
	err  error
}

// sink returns a handler that reads each connection until it ends and
// sends what it read on the returned channel.
func sink() (func(*net.TCPConn), <-chan result) {
	results := make(chan result, 16)
	return func(conn *net.TCPConn) {
		data, err := io.ReadAll(conn)
		results <- result{data, err}
	}, results
}

// source returns a handler that waits for one byte from the client, writes
// payload in one Write and then reads until the connection ends. Waiting
// for the client makes sure its connect has completed before any cut.
func source(payload []byte) func(*net.TCPConn) {
	return func(conn *net.TCPConn) {
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			return
		}
		conn.Write(payload)
		io.Copy(io.Discard, conn)
	}
}

// startProxy starts a proxy to target and closes it when the test ends.
func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatalf("New(%q): %v", target, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// dial connects to the proxy and closes the connection when the test ends.
func dial(t *testing.T, p *faultproxy.Proxy) *net.TCPConn {
	t.Helper()
	conn, err := dialOrReset(t, p)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	return conn
}

// dialOrReset is dial for a connection that the proxy may reset at once. A
// reset can arrive before the client's connect completes, and then the dial
// fails with it; dialOrReset returns that error.
func dialOrReset(t *testing.T, p *faultproxy.Proxy) (*net.TCPConn, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.Addr(), testTimeout)
	if isReset(err) {
		return nil, err
	}
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*net.TCPConn), nil
}

// readAllOrReset reads conn until it ends, or returns dialErr when the dial
// already failed with a reset.
func readAllOrReset(t *testing.T, conn net.Conn, dialErr error) result {
	t.Helper()
	if dialErr != nil {
		return result{err: dialErr}
	}
	return readAll(t, conn)
}

// readAll reads conn until it ends, failing the test when that takes longer
// than testTimeout.
func readAll(t *testing.T, conn net.Conn) result {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	data, err := io.ReadAll(conn)
	if isTimeout(err) {
		t.Fatalf("read: %v after %d bytes", err, len(data))
	}
	return result{data, err}
}

// receive returns the next result from results, failing the test after
// testTimeout.
func receive(t *testing.T, results <-chan result) result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the server's result")
		return result{}
	}
}

func waitConn(t *testing.T, p *faultproxy.Proxy, n int) *faultproxy.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := p.WaitConn(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitDone(t *testing.T, c *faultproxy.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatalf("connection %d did not end", c.ID())
	}
}

// waitUntil polls cond until it returns true, for values that have no
// channel to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkGoroutines fails the test when goroutines started during the test
// are still running after its other cleanups. Call it first in a test, so
// that its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(testTimeout)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before the test, %d after:\n%s",
					before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// payload returns n bytes with no short period, so that a shifted or
// repeated range never compares equal.
func payload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// firstDiff returns the index of the first byte where got and want differ,
// for failure messages.
func firstDiff(got, want []byte) int {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return i
		}
	}
	return min(len(got), len(want))
}

// describe summarizes an error for failure messages.
func describe(err error) string {
	if err == nil {
		return "end of stream"
	}
	return strings.TrimSpace(err.Error())
}
