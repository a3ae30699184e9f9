package resonite

import (
	"context"
	"sync"
)

// subscriptions are the hub calls that do not carry over to a new
// connection, in the order they were first made, so that a reconnect
// replays them in that order.
type subscriptions struct {
	mu          sync.Mutex
	contacts    orderedSet
	keys        orderedSet
	requests    orderedSet      // user IDs of RequestStatus, "" for all contacts
	invisible   map[string]bool // the latest invisible argument per request
	initialized bool            // InitializeStatus was called
}

// An orderedSet is a set of strings that keeps their insertion order.
type orderedSet struct {
	index map[string]struct{}
	items []string
}

func (s *orderedSet) add(v string) {
	if _, ok := s.index[v]; ok {
		return
	}
	if s.index == nil {
		s.index = make(map[string]struct{})
	}
	s.index[v] = struct{}{}
	s.items = append(s.items, v)
}

func (s *orderedSet) list() []string { return append([]string(nil), s.items...) }

func (s *subscriptions) addContact(userID string) {
	s.mu.Lock()
	s.contacts.add(userID)
	s.mu.Unlock()
}

func (s *subscriptions) addKey(key string) {
	s.mu.Lock()
	s.keys.add(key)
	s.mu.Unlock()
}

func (s *subscriptions) addStatusRequest(userID string, invisible bool) {
	s.mu.Lock()
	s.requests.add(userID)
	if s.invisible == nil {
		s.invisible = make(map[string]bool)
	}
	s.invisible[userID] = invisible
	s.mu.Unlock()
}

func (s *subscriptions) setInitialized() {
	s.mu.Lock()
	s.initialized = true
	s.mu.Unlock()
}

// A statusRequest is one RequestStatus call to replay.
type statusRequest struct {
	userID    string
	invisible bool
}

// snapshot returns copies of the subscriptions to replay.
func (s *subscriptions) snapshot() (initialize bool, requests []statusRequest, contacts, keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.requests.items {
		requests = append(requests, statusRequest{userID: id, invisible: s.invisible[id]})
	}
	return s.initialized, requests, s.contacts.list(), s.keys.list()
}

// resubscribe runs as the SignalR client's OnReconnected callback, on the
// client's event goroutine. It replays the subscriptions and the status on
// the new connection, then calls the OnReconnected handlers and the
// OnReconnected of HubOptions.Config.
func (h *Hub) resubscribe(connectionID string) {
	runCtx := h.currentRunContext()
	if runCtx.Err() != nil {
		return // Stop has begun
	}
	ctx, cancel := context.WithTimeout(runCtx, h.replayTimeout)
	defer cancel()
	initial := h.replaySubscriptions(ctx, connectionID, "a reconnect")

	for _, f := range h.events.reconnectedHandlers() {
		f(ctx, initial)
	}
	if h.onReconnected != nil {
		h.onReconnected(connectionID)
	}
}

// replaySubscriptions sends the stored subscriptions again and broadcasts
// the stored status, after a reconnect or a Start. after names the event
// for the log.
func (h *Hub) replaySubscriptions(ctx context.Context, connectionID, after string) *InitialStatus {
	initialize, requests, contacts, keys := h.subs.snapshot()
	failures := 0
	var initial *InitialStatus
	if initialize {
		var err error
		initial, err = h.initializeStatus(ctx)
		if err != nil {
			failures++
			h.logger.Warn("resonite: repeating InitializeStatus failed", "after", after, "error", err)
		}
	}
	for _, r := range requests {
		if err := h.sendRequestStatus(ctx, r.userID, r.invisible); err != nil {
			failures++
			h.logger.Warn("resonite: repeating RequestStatus failed", "after", after, "userId", r.userID, "error", err)
		}
	}
	for _, id := range contacts {
		if err := h.client.Send(ctx, methodListenOnContact, id); err != nil {
			failures++
			h.logger.Warn("resonite: repeating ListenOnContact failed", "after", after, "userId", id, "error", err)
		}
	}
	for _, key := range keys {
		// Broadcast keys grant access to session updates, so they are
		// not logged.
		if err := h.client.Send(ctx, methodListenOnKey, key); err != nil {
			failures++
			h.logger.Warn("resonite: repeating ListenOnKey failed", "after", after, "error", err)
		}
	}
	if err := h.broadcastCurrent(ctx); err != nil {
		failures++
		h.logger.Warn("resonite: broadcasting the status failed", "after", after, "error", err)
	}
	if initialize || len(requests)+len(contacts)+len(keys) > 0 {
		h.logger.Info("resonite: replayed the hub subscriptions",
			"after", after, "connectionId", connectionID, "initializeStatus", initialize, "statusRequests", len(requests),
			"contacts", len(contacts), "keys", len(keys), "failures", failures)
	}
	return initial
}
