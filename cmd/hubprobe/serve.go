package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr/protocol"
)

var serveDescription = `Starts the reference test hub of the conformance package, with the JSON
and MessagePack hub protocols, and serves it until Ctrl-C or SIGTERM. The
first line on stdout is the hub URL, so that a script can read it; the list
of hub methods, example commands and the log of connections go to stderr.

The hub listens only on a loopback address, because it is a test tool
without authentication that must not be reachable from other machines.
--addr chooses the port, and 127.0.0.1, [::1] or localhost as the host.

With --push TARGET the hub invokes TARGET on every connected client at each
--push-interval, without waiting for a result, with two arguments: a
counter that starts at 1 for each connection, and the time of the push as
an RFC 3339 string in UTC. 'hubprobe listen URL TARGET' prints them.

With --stateful-reconnect the hub offers stateful reconnect to clients that
request it in negotiate, such as 'hubprobe listen --stateful-reconnect': a
connection whose WebSocket is lost waits up to ` + conformance.DefaultReconnectWindow.String() + ` for the client to open a
new one, keeps its --push counter, and resends what the client missed.
--drop-every closes the TCP connection of every client's WebSocket at each
interval, without a Close message, as a network failure would, so that
clients reconnect: try 'hubprobe listen --reconnect URL Tick' together with
--push Tick, or --stateful-reconnect on both sides.

On Ctrl-C or SIGTERM the hub stops accepting connections, sends Close to
every client, and exits with status 0. A second Ctrl-C ends it at once.`

// serveMethods lists the methods of conformance.NewTestHub for the
// introduction serve prints. TestServeMethodsExist checks that the hub
// has each of them.
var serveMethods = []struct{ signature, description string }{
	{"Echo(value)", "returns its argument unchanged"},
	{"Add(a, b)", "returns the sum of two integers"},
	{"Fail(message)", "fails with message as the hub error"},
	{"Void()", "completes without a result"},
	{"Counter(n, delayMs)", "streams 0 to n-1, one item every delayMs milliseconds; call it with --stream"},
	{"Sum()", "returns the sum of a client-to-server stream of integers, which hubprobe cannot send"},
	{"CallMe(target, arg, withResult)", "invokes target(arg) on the caller, and with withResult returns the caller's result"},
	{"CloseMe(error, allowReconnect)", "sends Close with the error text and ends the connection"},
	{"Big(size)", fmt.Sprintf("returns a string of size bytes, at most %d", conformance.MaxBigSize)},
	{"DropMe(delayMs)", "completes, then drops the caller's WebSocket without a Close after delayMs milliseconds"},
	{"Reattaches()", "returns how many WebSockets reattached to the caller's connection with stateful reconnect"},
}

// Bounds of the shutdown of serve.
const (
	shutdownHTTPTimeout  = 5 * time.Second // for HTTP requests in progress, such as negotiate
	shutdownCloseTimeout = 2 * time.Second // for clients to end their connection after Close
)

// minPushInterval is the shortest --push-interval and --drop-every.
// time.NewTicker panics on an interval that is not positive.
const minPushInterval = time.Millisecond

// runServe implements "hubprobe serve".
func runServe(env *environment, args []string) error {
	cmd := lookupCommand("serve")
	fs := newFlagSet(env, cmd, serveDescription)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`: a loopback host and a port, such as 127.0.0.1:5000 or [::1]:5000; port 0 picks a free port")
	push := fs.String("push", "", "invoke the client method `TARGET` on every connected client at each --push-interval")
	pushInterval := fs.Duration("push-interval", time.Second, "`interval` between two invocations of --push TARGET")
	recordDir := fs.String("record-dir", "", "write the capture of every session to a file in `DIR` when it ends, readable by 'hubprobe replay'")
	stateful := fs.Bool("stateful-reconnect", false, "offer stateful reconnect to clients that request it in negotiate")
	dropEvery := fs.Duration("drop-every", 0, "close the TCP connection of every client's WebSocket at each `interval`, without a Close message, so that clients reconnect; 0 means never")
	verbose := fs.Bool("v", false, "log at debug level too: handshakes, failed invocations, write errors and every push")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cmd.name, "unexpected argument %q; serve takes only flags", fs.Arg(0))
	}
	listenAddr, err := loopbackAddr(cmd, *addr)
	if err != nil {
		return err
	}
	if err := checkPushFlags(cmd, fs, *push, *pushInterval); err != nil {
		return err
	}
	if *dropEvery != 0 && *dropEvery < minPushInterval {
		return usagef(cmd.name, "--drop-every %v: must be 0 or at least %v", *dropEvery, minPushInterval)
	}
	if *recordDir != "" {
		if info, err := os.Stat(*recordDir); err != nil {
			return fmt.Errorf("--record-dir: %w", err)
		} else if !info.IsDir() {
			return fmt.Errorf("--record-dir %s: not a directory", *recordDir)
		}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))

	// Signals are caught before the URL is printed, so that a script may
	// stop serve as soon as it has read the URL.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listenAddr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("listening on %s gave the non-loopback address %s; serve listens only on loopback addresses", listenAddr, ln.Addr())
	}

	h := &hubServer{logger: logger, push: *push, pushInterval: *pushInterval, stateful: *stateful, dropEvery: *dropEvery}
	h.srv = conformance.NewServer(conformance.Options{
		Protocols:         []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}},
		Logger:            logger,
		RecordDir:         *recordDir,
		OnConnected:       h.connected,
		StatefulReconnect: *stateful,
	})
	hubURL := "http://" + ln.Addr().String() + conformance.DefaultPath
	fmt.Fprintf(env.stdout, "%s\n", hubURL)
	printServeIntro(env, hubURL, h)

	return h.serve(signals, ln)
}

// checkPushFlags validates --push and --push-interval.
func checkPushFlags(cmd *command, fs *flag.FlagSet, push string, interval time.Duration) error {
	pushSet, intervalSet := false, false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "push":
			pushSet = true
		case "push-interval":
			intervalSet = true
		}
	})
	if pushSet && strings.TrimSpace(push) == "" {
		return usagef(cmd.name, "--push: the TARGET is empty; give a client method name such as Tick")
	}
	if intervalSet && push == "" {
		return usagef(cmd.name, "--push-interval needs --push TARGET")
	}
	if interval < minPushInterval {
		return usagef(cmd.name, "--push-interval %v: must be at least %v", interval, minPushInterval)
	}
	return nil
}

// loopbackAddr returns the host:port to listen on for --addr, or a usage
// error when the host is not a loopback address. The host localhost
// becomes 127.0.0.1, so that no name resolution can pick another address.
func loopbackAddr(cmd *command, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef(cmd.name, "--addr %q: give a loopback host and a port, such as 127.0.0.1:5000 or [::1]:5000", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", usagef(cmd.name, "--addr %q: the port must be a number from 0 to 65535", addr)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() || ip.Zone() != "" {
		return "", usagef(cmd.name, "--addr %q: serve listens only on a loopback address (127.0.0.1, [::1] or localhost), because the reference hub is a test tool without authentication that must not be reachable from other machines", addr)
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}

// printServeIntro prints the hub's methods and example commands to
// stderr.
func printServeIntro(env *environment, hubURL string, h *hubServer) {
	var b strings.Builder
	fmt.Fprintf(&b, "hubprobe serve: serving the reference test hub at %s with the JSON and MessagePack hub protocols; Ctrl-C stops it.\n", hubURL)
	fmt.Fprintf(&b, "Hub methods:\n")
	for _, m := range serveMethods {
		fmt.Fprintf(&b, "  %-32s %s\n", m.signature, m.description)
	}
	fmt.Fprintf(&b, "Try, in another terminal:\n")
	fmt.Fprintf(&b, "  hubprobe call %s Add 2 3\n", hubURL)
	fmt.Fprintf(&b, "  hubprobe call --protocol messagepack %s Echo '{\"a\":[1,2.5]}'\n", hubURL)
	fmt.Fprintf(&b, "  hubprobe call --stream %s Counter 5 100\n", hubURL)
	listenFlags := ""
	switch {
	case h.stateful:
		listenFlags = "--stateful-reconnect "
	case h.dropEvery > 0:
		listenFlags = "--reconnect "
	}
	if h.push != "" {
		fmt.Fprintf(&b, "  hubprobe listen %s%s %s\n", listenFlags, hubURL, h.push)
	} else {
		fmt.Fprintf(&b, "  (restart with --push Tick, then: hubprobe listen %s Tick)\n", hubURL)
	}
	env.stderr.Write([]byte(b.String()))
}

// A hubServer runs the reference hub for serve and pushes invocations to
// its clients.
type hubServer struct {
	srv          *conformance.Server
	logger       *slog.Logger
	push         string
	pushInterval time.Duration
	stateful     bool          // --stateful-reconnect
	dropEvery    time.Duration // 0 without --drop-every

	// clients counts the goroutines started by connected, one per
	// connection, which return when their connection ends.
	clients sync.WaitGroup
}

// serve serves HTTP on ln until a signal arrives on signals and then shuts
// down. It stops the relay of signals first, so that a second Ctrl-C ends
// the process during the shutdown.
func (h *hubServer) serve(signals chan os.Signal, ln net.Listener) error {
	httpServer := &http.Server{
		Handler:           h.srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(h.logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	attrs := []any{"url", "http://" + ln.Addr().String() + conformance.DefaultPath}
	if h.push != "" {
		attrs = append(attrs, "push", h.push, "pushInterval", h.pushInterval)
	}
	if h.stateful {
		attrs = append(attrs, "statefulReconnect", true)
	}
	if h.dropEvery > 0 {
		attrs = append(attrs, "dropEvery", h.dropEvery)
	}
	h.logger.Info("hub started", attrs...)

	dropCtx, stopDrops := context.WithCancel(context.Background())
	var drops sync.WaitGroup
	if h.dropEvery > 0 {
		drops.Go(func() { h.dropPeriodically(dropCtx) })
	}

	var serveErr error
	select {
	case sig := <-signals:
		h.logger.Info("stopping", "signal", sig.String())
	case serveErr = <-served:
		h.logger.Error("HTTP server failed", "error", serveErr)
	}
	signal.Stop(signals)
	stopDrops()
	drops.Wait()
	h.shutdown(httpServer)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", serveErr)
	}
	h.logger.Info("hub stopped")
	return nil
}

// shutdown closes the listener, sends Close to every client, waits a
// bounded time for the clients to end their connections, and then ends the
// remaining ones.
func (h *hubServer) shutdown(httpServer *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownHTTPTimeout)
	defer cancel()
	// Shutdown closes the listener and waits for plain HTTP requests. The
	// WebSockets are hijacked connections, which it does not track.
	if err := httpServer.Shutdown(ctx); err != nil {
		h.logger.Warn("HTTP requests did not finish in time", "timeout", shutdownHTTPTimeout, "error", err)
	}

	conns := h.srv.Conns()
	for _, c := range conns {
		c.Close("", false)
	}
	deadline := time.Now().Add(shutdownCloseTimeout)
	for len(h.srv.Conns()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h.srv.Conns()); n > 0 {
		h.logger.Warn("ending connections whose clients did not close them in time", "connections", n, "timeout", shutdownCloseTimeout)
	}
	h.srv.Close()
	h.clients.Wait()
}

// connected is the OnConnected callback of the server. It must not block,
// so it starts a goroutine that pushes to the client, if --push is set,
// and logs the end of the connection.
func (h *hubServer) connected(c *conformance.Conn) {
	h.logger.Info("client connected", "connectionId", c.ID(), "protocol", c.Protocol().Name())
	h.clients.Add(1)
	go func() {
		defer h.clients.Done()
		if h.push != "" {
			h.pushTo(c)
		}
		<-c.Context().Done()
		h.logger.Info("client disconnected", "connectionId", c.ID())
	}()
}

// pushTo invokes the --push target on c at each interval until the
// connection ends.
func (h *hubServer) pushTo(c *conformance.Conn) {
	ctx := c.Context()
	ticker := time.NewTicker(h.pushInterval)
	defer ticker.Stop()
	for n := 1; ; n++ {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-ticker.C:
		}
		stamp := now.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if err := c.Send(ctx, h.push, n, stamp); err != nil {
			h.logger.Debug("push failed", "connectionId", c.ID(), "target", h.push, "error", err)
			return
		}
		h.logger.Debug("pushed", "connectionId", c.ID(), "target", h.push, "counter", n)
	}
}

// dropPeriodically drops the WebSocket of every connection at each
// --drop-every interval until ctx is done. A stateful connection that has
// no WebSocket at that moment is skipped.
func (h *hubServer) dropPeriodically(ctx context.Context) {
	ticker := time.NewTicker(h.dropEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		var dropped []string
		for _, c := range h.srv.Conns() {
			if state, ok := c.SequenceState(); ok && !state.Attached {
				continue
			}
			c.Drop()
			dropped = append(dropped, c.ID())
		}
		if len(dropped) > 0 {
			h.logger.Info("dropped WebSockets", "connections", len(dropped), "connectionIds", dropped)
		}
	}
}
