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
	attached bool   // a WebSocket serves it
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
// may be closing.
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
// path, and responds with 404 Not Found to everything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.opts.Path + "/negotiate":
		s.serveNegotiate(w, r)
	case s.opts.Path:
		s.serveWebSocket(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	return s.opts.Authorize == nil || s.opts.Authorize(r)
}

// serveWebSocket checks the connection id, upgrades the request and runs
// the connection until it ends.
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
	var connID string
	if token == "" {
		// Skip negotiation: the connection is created here.
		connID = newConnectionID()
	} else {
		var status int
		connID, status = s.attach(token)
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
	}

	netConn, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		// The upgrader has written the error response.
		s.opts.Logger.Debug("WebSocket upgrade failed", "connectionId", connID, "error", err)
		s.forget(token)
		return
	}

	c := newConn(s, connID, netConn, rw.Reader, r)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		netConn.Close()
		return
	}
	s.conns[c] = struct{}{}
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
	c.serve()
}

// attach marks the negotiated connection with the token as served by a
// WebSocket and returns its id. The status is 404 for an unknown token and
// 409 when another WebSocket already serves it.
func (s *Server) attach(token string) (connID string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.negotiated[token]
	switch {
	case !ok:
		return "", http.StatusNotFound
	case n.attached:
		return "", http.StatusConflict
	}
	n.attached = true
	return n.id, 0
}

// forget removes a negotiated connection once its WebSocket has ended, so
// that the token is unknown from then on.
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
