package resonitetest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// sendTimeout bounds each event the fake hub sends to a connection.
const sendTimeout = 5 * time.Second

// A fakeHub is the fake of the Resonite SignalR hub, served at /hub on the
// conformance server. It speaks only the JSON hub protocol, like every
// known client of the service, and accepts only requests whose
// Authorization header [Server.Authenticate] accepts.
//
// Tests make users contacts with [Server.AddContact]. Between the users
// connected to it, the fake implements SendMessage,
// MarkMessagesRead, BroadcastStatus, ListenOnContact, ListenOnKey,
// RequestStatus, InitializeStatus and UpdateContact, and it records
// BroadcastSession and BroadcastSessionEnded. Where the behavior of the
// service is not known, the fake documents the behavior it chose.
type fakeHub struct {
	srv    *Server
	server *conformance.Server

	mu sync.Mutex // guards the fields below

	// conns keeps connections after they ended, so that the invocations
	// still running can find their caller. Ended connections receive nothing.
	conns    map[*conformance.Conn]*connState
	contacts map[string]map[string]bool // user ID to the IDs of its contacts
	statuses map[string]resonite.UserStatus
	messages []resonite.Message
	calls    []HubCall
}

// connState is the state the fake hub keeps for one connection.
type connState struct {
	userID string

	// contacts are the users whose statuses the connection receives:
	// those named in ListenOnContact, and every contact once the
	// connection called InitializeStatus.
	contacts    map[string]bool
	allContacts bool
	keys        map[string]bool // broadcast keys named in ListenOnKey
}

// A HubCall is one hub method invocation that the fake hub received.
type HubCall struct {
	UserID       string
	ConnectionID string
	Method       string

	// Arguments are the arguments in JSON, as the client sent them.
	Arguments []json.RawMessage
}

// newHub returns the handler of the hub at /hub.
func (s *Server) newHub() hubHandler {
	h := &fakeHub{
		srv:      s,
		conns:    make(map[*conformance.Conn]*connState),
		contacts: make(map[string]map[string]bool),
		statuses: make(map[string]resonite.UserStatus),
	}
	methods := conformance.NewHub()
	methods.HandleVoid("SendMessage", h.sendMessage)
	methods.HandleVoid("MarkMessagesRead", h.markMessagesRead)
	methods.HandleVoid("BroadcastStatus", h.broadcastStatus)
	methods.Handle("UpdateContact", h.updateContact)
	methods.HandleVoid("ListenOnContact", h.listenOnContact)
	methods.HandleVoid("ListenOnKey", h.listenOnKey)
	methods.HandleVoid("RequestStatus", h.requestStatus)
	methods.Handle("InitializeStatus", h.initializeStatus)
	methods.HandleVoid("BroadcastSession", func(*conformance.Call) error { return nil })
	methods.HandleVoid("BroadcastSessionEnded", func(*conformance.Call) error { return nil })

	h.server = conformance.NewServer(conformance.Options{
		Path:      "/hub",
		Hub:       methods,
		Protocols: []protocol.HubProtocol{protocol.JSON{}},
		Authorize: func(r *http.Request) bool {
			_, ok := s.Authenticate(r.Header.Get("Authorization"))
			return ok
		},
		OnConnected: h.connected,
		OnMessage:   h.record,
		// The conformance server enqueues the handshake response before it
		// calls OnConnected, so a client could send before the fake has
		// registered its connection. Coalescing delays the response until
		// OnConnected has returned. It adds a Ping to the response's
		// WebSocket message, which clients must accept.
		Misbehave: conformance.Misbehavior{CoalesceHandshake: true},
		Logger:    s.opts.Logger,
	})
	return h
}

// fakeHub returns the hub that newHub made.
func (s *Server) fakeHub() *fakeHub { return s.hub.(*fakeHub) }

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.server.ServeHTTP(w, r) }

// Close ends every connection and waits for their goroutines.
func (h *fakeHub) Close() error { return h.server.Close() }

// connected registers a connection under the user of its Authorization
// header, which Authorize accepted at the upgrade.
func (h *fakeHub) connected(c *conformance.Conn) {
	userID, ok := h.srv.Authenticate(c.Header().Get("Authorization"))
	if !ok {
		// The token expired between the upgrade and the handshake.
		c.Close("Unauthorized", false)
		return
	}
	h.mu.Lock()
	h.conns[c] = &connState{userID: userID, contacts: make(map[string]bool), keys: make(map[string]bool)}
	h.mu.Unlock()
}

// record keeps every invocation a client sends, for [Server.HubCalls].
func (h *fakeHub) record(c *conformance.Conn, m *protocol.Message) {
	if m.Type != protocol.TypeInvocation {
		return
	}
	// m and its strings are valid only during the call.
	call := HubCall{ConnectionID: c.ID(), Method: strings.Clone(m.Target), Arguments: []json.RawMessage{}}
	for _, arg := range m.Arguments {
		call.Arguments = append(call.Arguments, json.RawMessage(append([]byte(nil), arg...)))
	}
	h.mu.Lock()
	if st := h.conns[c]; st != nil {
		call.UserID = st.userID
	}
	h.calls = append(h.calls, call)
	h.mu.Unlock()
}

// userOf returns the user of the calling connection.
func (h *fakeHub) userOf(c *conformance.Conn) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.conns[c]
	if st == nil {
		return "", false
	}
	return st.userID, true
}

// connsOf returns the open connections of userID. h.mu must be held.
func (h *fakeHub) connsOf(userID string) []*conformance.Conn {
	var conns []*conformance.Conn
	for c, st := range h.conns {
		if st.userID == userID && c.Context().Err() == nil {
			conns = append(conns, c)
		}
	}
	return conns
}

// send invokes target on each of conns without waiting for a result, and
// returns how many sends succeeded. A connection that ends meanwhile is
// skipped.
func (h *fakeHub) send(conns []*conformance.Conn, target string, args ...any) int {
	sent := 0
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(c.Context(), sendTimeout)
		err := c.Send(ctx, target, args...)
		cancel()
		if err != nil {
			h.srv.opts.Logger.Debug("resonitetest: sending a hub event failed", "target", target, "connectionId", c.ID(), "error", err)
			continue
		}
		sent++
	}
	return sent
}
