// Package resonitetest provides a fake of the Resonite cloud API for tests
// and examples: the REST endpoints that sign in and out, GET /users/{userId}
// and the SignalR hub, served on a loopback port.
//
// The fake responds with the status codes and bodies that clients of the
// real API have observed. It returns 403 with the body "TOTP" when a TOTP
// code is missing or wrong, 400 for invalid credentials, 403 for an expired
// or revoked token, and 429 with Retry-After when a test requests it.
// Behavior that no client has observed, such as the checks of the UID and
// Content-Type headers, is the fake's own choice, and its documentation
// marks it as such.
package resonitetest

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultTokenLifetime      = 24 * time.Hour
	DefaultRememberMeLifetime = 30 * 24 * time.Hour
)

// maxRequestBody is the largest request body the fake reads.
const maxRequestBody = 64 << 10

// hubHandler is the hub that hub.go provides, served at /hub.
type hubHandler interface {
	http.Handler

	// Close ends the hub's connections and waits for their goroutines.
	Close() error
}

// Options configures a [Server].
type Options struct {
	// Users are the accounts of the server.
	Users []User

	// TokenLifetime is how long a token lasts after a login without
	// rememberMe and after each extension of such a session. Zero means
	// DefaultTokenLifetime.
	TokenLifetime time.Duration

	// RememberMeLifetime is how long a token lasts after a login with
	// rememberMe and after each extension of such a session. Zero means
	// DefaultRememberMeLifetime.
	RememberMeLifetime time.Duration

	// Now is the server's clock, which decides when tokens expire. The
	// default is time.Now.
	Now func() time.Time

	// Logger receives a debug record for every request. The default
	// discards everything. Passwords, tokens, TOTP codes and Authorization
	// values are never logged.
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

	mu        sync.Mutex // guards following
	users     []*User
	tokens    map[string]*token // by token
	requests  []Request
	failures  []failure // responses forced on the next REST requests
	logins    int
	extends   int
	closeOnce sync.Once
}

// A token is a live session of the fake.
type token struct {
	userID     string
	expire     time.Time
	rememberMe bool
}

// A failure is a response forced by RateLimit or FailNext.
type failure struct {
	status int
	header http.Header
	body   string
}

// A Request is a REST request the server received, recorded for tests. It
// contains the request's secrets.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// NewServer starts a server on a free port of 127.0.0.1. It panics when it
// cannot listen, as httptest.NewServer does. Call Close when done.
func NewServer(opts Options) *Server {
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.RememberMeLifetime <= 0 {
		opts.RememberMeLifetime = DefaultRememberMeLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, tokens: make(map[string]*token)}
	for _, u := range opts.Users {
		s.AddUser(u)
	}
	s.hub = s.newHub()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("resonitetest: failed to listen on 127.0.0.1: " + err.Error())
	}
	s.URL = "http://" + ln.Addr().String()
	s.httpServer = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go s.httpServer.Serve(ln)
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hub", s.hub)
	mux.Handle("/hub/", s.hub)
	mux.HandleFunc("POST /userSessions", s.rest(s.handleLogin))
	mux.HandleFunc("PATCH /userSessions", s.rest(s.handleExtend))
	mux.HandleFunc("DELETE /userSessions/{userId}/{token}", s.rest(s.handleLogout))
	mux.HandleFunc("GET /users/{userId}", s.rest(s.handleUser))
	return mux
}

// HubURL returns the URL of the hub: URL + "/hub".
func (s *Server) HubURL() string { return s.URL + "/hub" }

// Close stops the server and ends the hub's connections. It may be called
// more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.httpServer.Close()
		s.hub.Close()
	})
}

// Authenticate checks an Authorization header value of the form
// "res <userId>:<token>" and returns the user ID when the token is live:
// issued to that user, not revoked and not expired by the server's clock.
func (s *Server) Authenticate(authorization string) (userID string, ok bool) {
	userID, tok, ok := parseAuthorization(authorization)
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveToken(tok)
	if t == nil || t.userID != userID {
		return "", false
	}
	return userID, true
}

func parseAuthorization(authorization string) (userID, tok string, ok bool) {
	rest, found := strings.CutPrefix(authorization, "res ")
	if !found {
		return "", "", false
	}
	userID, tok, found = strings.Cut(rest, ":")
	if !found || userID == "" || tok == "" {
		return "", "", false
	}
	return userID, tok, true
}

// liveToken returns the token tok when it exists and has not expired.
// s.mu must be held.
func (s *Server) liveToken(tok string) *token {
	t := s.tokens[tok]
	if t == nil || !s.opts.Now().Before(t.expire) {
		return nil
	}
	return t
}

// RateLimit makes the server respond to the next n REST requests with 429
// Too Many Requests and, when retryAfter is positive, a Retry-After header
// of that many whole seconds, rounded up.
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	header := http.Header{}
	if retryAfter > 0 {
		seconds := (retryAfter + time.Second - 1) / time.Second
		header.Set("Retry-After", strconv.FormatInt(int64(seconds), 10))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: http.StatusTooManyRequests, header: header, body: "Too Many Requests"})
	}
}

// FailNext makes the server respond to the next REST request with status
// and body instead of handling it.
func (s *Server) FailNext(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{status: status, body: body})
}

// Revoke ends the session of token tok, as a logout or a server-side
// reset does. It reports whether the token existed.
func (s *Server) Revoke(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[tok]
	delete(s.tokens, tok)
	return ok
}

// RevokeAll ends every session, as the server-side token resets after
// Resonite updates did.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// TokenExpire returns the expiry of token tok, and false when the token
// does not exist or was revoked. An expired token keeps its entry.
func (s *Server) TokenExpire(tok string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil {
		return time.Time{}, false
	}
	return t.expire, true
}

// Requests returns the REST requests received so far, oldest first,
// including the rejected ones. Hub requests are not recorded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Counts returns the number of successful logins and extensions so far.
func (s *Server) Counts() (logins, extends int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.extends
}

// newToken returns a random token.
func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b[:])
}
