// Package resonitetest provides a fake of the Resonite cloud API for tests:
// the REST endpoints that sign in and out and the SignalR hub, served on a
// loopback port.
package resonitetest

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// hubHandler is the hub that hub.go provides, served at /hub.
type hubHandler interface {
	http.Handler

	// Close ends the hub's connections and waits for their goroutines.
	Close() error
}

// Options configures a [Server].
type Options struct {
	// Users are the accounts the server knows.
	Users []User

	// Now is the server's clock, which decides when tokens expire. The
	// default is time.Now.
	Now func() time.Time

	// Logger receives the server's requests and errors. The default
	// discards everything. Passwords, tokens and TOTP codes are never
	// logged.
	Logger *slog.Logger
}

// A Server is a fake of the Resonite cloud API on 127.0.0.1. All methods
// are safe for concurrent use.
type Server struct {
	// URL is the base URL of the REST API, such as
	// "http://127.0.0.1:41234", without a trailing slash.
	URL string

	opts       Options
	httpServer *http.Server
	hub        hubHandler

	mu     sync.Mutex // guards following
	tokens map[string]*token
}

// A token is a live session of the fake.
type token struct {
	userID string
	expire time.Time
}

// NewServer starts a server on a free port of 127.0.0.1. It panics when it
// cannot listen, as httptest.NewServer does.
func NewServer(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, tokens: make(map[string]*token)}
	s.hub = s.newHub()

	mux := http.NewServeMux()
	mux.Handle("/hub", s.hub)
	mux.Handle("/hub/", s.hub)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("resonitetest: failed to listen on 127.0.0.1: " + err.Error())
	}
	s.URL = "http://" + ln.Addr().String()
	s.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.httpServer.Serve(ln)
	return s
}

// HubURL returns the URL of the hub: URL + "/hub".
func (s *Server) HubURL() string { return s.URL + "/hub" }

// Close stops the server and ends the hub's connections.
func (s *Server) Close() {
	s.httpServer.Close()
	s.hub.Close()
}

// Authenticate checks an Authorization header value of the form
// "res <userId>:<token>" and returns the user ID when the token is live.
func (s *Server) Authenticate(authorization string) (userID string, ok bool) {
	rest, found := strings.CutPrefix(authorization, "res ")
	if !found {
		return "", false
	}
	userID, tok, found := strings.Cut(rest, ":")
	if !found {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil || t.userID != userID || !s.opts.Now().Before(t.expire) {
		return "", false
	}
	return userID, true
}
