package resonitetest

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// These methods let tests arrange and inspect the state of the fake hub.

// AddContact makes the users a and b accepted contacts of each other on
// the hub, so that InitializeStatus lists the other. A connection receives
// a contact's status broadcasts only after it called InitializeStatus or
// ListenOnContact for that contact, and a contact who is Invisible appears
// Offline. The fake assumes this of the real service, which does not
// document it.
func (s *Server) AddContact(a, b string) {
	h := s.fakeHub()
	h.mu.Lock()
	h.setContact(a, b, true)
	h.mu.Unlock()
}

// DropUser drops the WebSockets of every hub connection of userID without a
// Close message, as a network failure would, waits up to 5 s for each
// connection to end, and returns how many it dropped. A client with
// automatic reconnect then connects again.
func (s *Server) DropUser(userID string) int {
	h := s.fakeHub()
	h.mu.Lock()
	conns := h.connsOf(userID)
	h.mu.Unlock()
	for _, c := range conns {
		c.Drop()
	}
	timeout := time.After(sendTimeout)
	for _, c := range conns {
		select {
		case <-c.Context().Done():
		case <-timeout:
			s.opts.Logger.Warn("resonitetest: a dropped hub connection did not end in time", "connectionId", c.ID())
		}
	}
	return len(conns)
}

// HubConnections returns the number of open hub connections of userID.
func (s *Server) HubConnections(userID string) int {
	h := s.fakeHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for c, st := range h.conns {
		if st.userID == userID && c.Context().Err() == nil {
			n++
		}
	}
	return n
}

// HubCalls returns the hub method invocations received so far, in the
// order they arrived, including those that failed.
func (s *Server) HubCalls() []HubCall {
	h := s.fakeHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	calls := make([]HubCall, len(h.calls))
	for i, c := range h.calls {
		c.Arguments = slices.Clone(c.Arguments)
		calls[i] = c
	}
	return calls
}

// Messages returns the messages that SendMessage accepted, in the order
// they arrived, with ReadTime set once MarkMessagesRead marked them.
func (s *Server) Messages() []resonite.Message {
	h := s.fakeHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.messages)
}

// UserStatus returns the latest status that userID broadcast, as the user
// sent it, and false when there is none.
func (s *Server) UserStatus(userID string) (resonite.UserStatus, bool) {
	h := s.fakeHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	status, ok := h.statuses[userID]
	return status, ok
}

// SetUserStatus stores status as the status of status.UserID and sends it to
// the listening contacts, as if the user had broadcast it to all contacts
// from another client. It returns the number of connections reached.
func (s *Server) SetUserStatus(status resonite.UserStatus) int {
	return s.fakeHub().setStatus(status, resonite.BroadcastToContacts)
}

// SendSessionUpdate sends session as ReceiveSessionUpdate to every
// connection that called ListenOnKey with key, and returns how many it
// reached.
func (s *Server) SendSessionUpdate(key string, session resonite.SessionInfo) int {
	h := s.fakeHub()
	return h.send(h.listenersOfKey(key), "ReceiveSessionUpdate", session)
}

// SendRemoveSession sends RemoveSession with sessionID and at to every
// connection that called ListenOnKey with key, and returns how many it
// reached.
func (s *Server) SendRemoveSession(key, sessionID string, at time.Time) int {
	h := s.fakeHub()
	return h.send(h.listenersOfKey(key), "RemoveSession", sessionID, resonite.NewTime(at))
}

// SendEvent invokes target with args on every hub connection of userID,
// without an invocation ID, and returns how many it reached. A
// json.RawMessage argument is sent as it is, so tests can send payloads of
// any shape. It must be valid JSON, because the client ends the connection
// on invalid JSON.
func (s *Server) SendEvent(userID, target string, args ...any) int {
	h := s.fakeHub()
	h.mu.Lock()
	conns := h.connsOf(userID)
	h.mu.Unlock()
	for i, arg := range args {
		if raw, ok := arg.(json.RawMessage); ok {
			args[i] = protocol.RawValue(raw)
		}
	}
	return h.send(conns, target, args...)
}

// listenersOfKey returns the connections that listen on key.
func (h *fakeHub) listenersOfKey(key string) []*conformance.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var conns []*conformance.Conn
	for c, st := range h.conns {
		if st.keys[key] && c.Context().Err() == nil {
			conns = append(conns, c)
		}
	}
	return conns
}
