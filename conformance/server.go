package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// ErrServerClosed is returned by [Server.Listen] after [Server.Close], and
// is the cause of the connections that Close ends.
var ErrServerClosed = errors.New("conformance: server closed")

// A Server is a SignalR hub server for tests. It serves negotiate at
// Path + "/negotiate" and the WebSocket transport at Path, as the ASP.NET
// Core server does. Other transports are not offered.
//
// A Server is an [http.Handler]. [Server.Listen] also runs it on a loopback
// port. All methods are safe for concurrent use.
type Server struct {
	opts      Options
	protocols map[string]protocol.HubProtocol

	paused atomic.Bool // set between Pause and Resume

	mu          sync.Mutex // guards following
	negotiated  map[string]*negotiation
	conns       map[*Conn]struct{}
	closed      bool
	sessions    int // numbers unnamed captures
	httpServer  *http.Server
	baseURL     string
	connWaiters sync.WaitGroup // WebSocket sessions and the HTTP serve loop
}

// A negotiation is a connection created by negotiate and not yet ended.
type negotiation struct {
	id       string // connectionId
	stateful bool   // negotiate accepted stateful reconnect
	attached bool   // a WebSocket has taken the token
	conn     *Conn  // set once that WebSocket is upgraded
}

// NewServer returns a server configured by opts. It does not listen: use it
// as an [http.Handler] or call [Server.Listen].
func NewServer(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:       opts,
		protocols:  make(map[string]protocol.HubProtocol, len(opts.Protocols)),
		negotiated: make(map[string]*negotiation),
		conns:      make(map[*Conn]struct{}),
	}
	for _, p := range opts.Protocols {
		s.protocols[p.Name()] = p
	}
	return s
}

// Listen starts serving on a new listener at 127.0.0.1 on a free port and
// returns the base URL, such as "http://127.0.0.1:41234". The hub is at
// [Server.HubURL]. Listen fails when the server already listens or is
// closed.
func (s *Server) Listen() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	httpServer := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}

	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		ln.Close()
		return "", ErrServerClosed
	case s.httpServer != nil:
		s.mu.Unlock()
		ln.Close()
		return "", errors.New("conformance: server is already listening at " + s.baseURL)
	}
	s.httpServer = httpServer
	s.baseURL = "http://" + ln.Addr().String()
	s.connWaiters.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.connWaiters.Done()
		httpServer.Serve(ln)
	}()
	return s.baseURL, nil
}

// URL returns the base URL [Server.Listen] returned, or "" before Listen.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// HubURL returns the URL of the hub: the base URL followed by the hub path.
// It is "" before Listen.
func (s *Server) HubURL() string {
	base := s.URL()
	if base == "" {
		return ""
	}
	return base + s.opts.Path
}

// Close stops the listener, ends every connection without a Close message,
// and waits until their goroutines have returned. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	httpServer := s.httpServer
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var err error
	if httpServer != nil {
		err = httpServer.Close()
	}
	for _, c := range conns {
		c.abort()
	}
	s.connWaiters.Wait()
	return err
}

// Conns returns the connections whose handshake succeeded, in no particular
// order. A connection is listed until its goroutines have returned, so it
// may be closing, or waiting for a stateful reconnect.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		if c.handshaken.Load() {
			conns = append(conns, c)
		}
	}
	return conns
}

// ServeHTTP serves negotiate requests and WebSocket upgrades on the hub
// path, and responds with 404 Not Found to everything else. Between
// [Server.Pause] and [Server.Resume] both get 503 Service Unavailable.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.opts.Path + "/negotiate":
		if s.rejectPaused(w) {
			return
		}
		s.serveNegotiate(w, r)
	case s.opts.Path:
		if s.rejectPaused(w) {
			return
		}
		s.serveWebSocket(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Pause makes the server respond to negotiate and WebSocket requests with
// 503 Service Unavailable until [Server.Resume], as a server that is
// restarting would. Connections that are open stay open, but a stateful
// connection whose WebSocket is lost cannot reattach meanwhile.
func (s *Server) Pause() { s.paused.Store(true) }

// Resume ends a [Server.Pause].
func (s *Server) Resume() { s.paused.Store(false) }

func (s *Server) rejectPaused(w http.ResponseWriter) bool {
	if !s.paused.Load() {
		return false
	}
	http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	return true
}

// DropAll calls [Conn.Drop] on every connection.
func (s *Server) DropAll() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Drop()
	}
}

func (s *Server) authorized(r *http.Request) bool {
	return s.opts.Authorize == nil || s.opts.Authorize(r)
}

// serveWebSocket checks the connection id, upgrades the request and runs
// the connection until it ends. A request for a stateful connection that
// already has a WebSocket reattaches instead.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "This hub serves only WebSocket requests.", http.StatusBadRequest)
		return
	}

	token := r.URL.Query().Get("id")
	var n *negotiation
	if token == "" {
		// Skip negotiation: the connection is created here.
		n = &negotiation{id: newConnectionID()}
	} else {
		var existing *Conn
		var status int
		n, existing, status = s.attach(token)
		if existing != nil {
			s.reattach(w, r, existing)
			return
		}
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
	}

	netConn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		// The upgrader has written the error response.
		s.opts.Logger.Debug("WebSocket upgrade failed", "connectionId", n.id, "error", err)
		s.forget(token)
		return
	}

	c := newConn(s, n.id, n.stateful, r)
	t := newTransport(c, netConn, rw.Reader)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		netConn.Close()
		return
	}
	s.conns[c] = struct{}{}
	n.conn = c
	s.connWaiters.Add(1)
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if token != "" {
			delete(s.negotiated, token)
		}
		s.mu.Unlock()
		s.connWaiters.Done()
	}()
	c.serve(t)
}

// attach marks the negotiated connection with the token as taken by a
// WebSocket and returns it. For a token whose connection uses stateful
// reconnect it returns that connection instead. The status is 404 for an
// unknown token and 409 when another WebSocket already serves it.
func (s *Server) attach(token string) (n *negotiation, existing *Conn, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.negotiated[token]
	switch {
	case !ok:
		return nil, nil, http.StatusNotFound
	case n.conn != nil && n.conn.seq.Load() != nil:
		return n, n.conn, 0
	case n.attached:
		return nil, nil, http.StatusConflict
	}
	n.attached = true
	return n, nil, 0
}

// reattach upgrades a WebSocket request for c, a stateful connection, and
// hands the WebSocket to it. The request gets 404 Not Found when c has
// ended.
func (s *Server) reattach(w http.ResponseWriter, r *http.Request, c *Conn) {
	if !c.isOpen() {
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	netConn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		c.logger.Debug("WebSocket upgrade for a reattach failed", "error", err)
		return
	}
	t := newTransport(c, netConn, rw.Reader)
	if !c.offer(t) {
		c.logger.Debug("connection ended before the WebSocket could reattach")
		t.close()
	}
}

// forget removes a negotiated connection once its WebSocket has ended,
// so that the token is unknown from then on.
func (s *Server) forget(token string) {
	if token == "" {
		return
	}
	s.mu.Lock()
	delete(s.negotiated, token)
	s.mu.Unlock()
}

// nextSessionNumber returns 1, 2, ... for naming captures without a
// scenario.
func (s *Server) nextSessionNumber() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	return s.sessions
}

// newConnectionID returns 16 random bytes in unpadded base64url, the form of
// the ids of the .NET server.
func newConnectionID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
